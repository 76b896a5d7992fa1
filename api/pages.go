package api

import (
	"encoding/json"
	"fmt"
)

// MaxDecisionPages bounds how many pages one decisions set may span
// (64 MiB at MaxMessageBytes a page); an agent refuses a set announcing
// more.
const MaxDecisionPages = 1024

// SplitDecisions cuts m into pages whose envelopes are each at most limit
// bytes (MaxMessageBytes on the wire). A set that fits in one message comes
// back whole, as page 0 of 1. Query and Domain travel on the first page; apps,
// decisions and checks fill pages in order.
//
// An element that alone would not fit in a page cannot be sent: it is
// left out and described in tooBig, for the caller to log.
func SplitDecisions(m DecisionsMsg, limit int) (pages []DecisionsMsg, tooBig []string) {
	m.Page, m.Pages = 0, 1
	if envelopeSize(m) <= limit {
		return []DecisionsMsg{m}, nil
	}
	newPage := func() DecisionsMsg {
		return DecisionsMsg{Apps: []AppInfo{}, Decisions: []Decision{}, Checks: []CheckResult{}}
	}
	// The page numbers are not known yet: count them at their widest.
	widest := newPage()
	widest.Page, widest.Pages = MaxDecisionPages, MaxDecisionPages
	base := envelopeSize(widest)
	widest.Query, widest.Domain = m.Query, m.Domain

	cur, size := newPage(), envelopeSize(widest)
	cur.Query, cur.Domain = m.Query, m.Domain
	// add puts one element of n bytes on the current page, or on a new
	// one when it would overflow; each element may cost a comma too.
	add := func(what string, v any, put func(*DecisionsMsg)) {
		b, err := json.Marshal(v)
		if err != nil {
			tooBig = append(tooBig, fmt.Sprintf("%s: %v", what, err))
			return
		}
		n := len(b) + 1
		if base+n > limit {
			tooBig = append(tooBig, fmt.Sprintf("%s (%d bytes; a page holds %d)", what, n, limit-base))
			return
		}
		if size+n > limit {
			pages = append(pages, cur)
			cur, size = newPage(), base
		}
		put(&cur)
		size += n
	}
	for _, a := range m.Apps {
		add(fmt.Sprintf("app %q", a.Name), a, func(p *DecisionsMsg) { p.Apps = append(p.Apps, a) })
	}
	for _, d := range m.Decisions {
		add(fmt.Sprintf("decision for app %q", d.App), d, func(p *DecisionsMsg) { p.Decisions = append(p.Decisions, d) })
	}
	for _, c := range m.Checks {
		add(fmt.Sprintf("check %s/%s", c.Profile, c.Check), c, func(p *DecisionsMsg) { p.Checks = append(p.Checks, c) })
	}
	pages = append(pages, cur)
	if len(pages) > MaxDecisionPages {
		tooBig = append(tooBig, fmt.Sprintf("pages %d to %d of the set (at most %d pages)", MaxDecisionPages, len(pages)-1, MaxDecisionPages))
		pages = pages[:MaxDecisionPages]
	}
	for i := range pages {
		pages[i].Page, pages[i].Pages = i, len(pages)
	}
	return pages, tooBig
}

// envelopeSize is how many bytes m takes on the wire.
func envelopeSize(m DecisionsMsg) int {
	env, err := NewEnvelope(TypeDecisions, m)
	if err != nil {
		return 1 << 62
	}
	b, err := json.Marshal(env)
	if err != nil {
		return 1 << 62
	}
	return len(b)
}

// DecisionPages puts a paged decisions set back together. The zero value
// is ready; it is not safe for concurrent use (one per link's read
// loop).
type DecisionPages struct {
	set  DecisionsMsg // the pages so far
	next int          // the page expected next; 0 while no set is open
}

// Add takes the next decisions message. It returns the whole set and true
// when m completes one. A page that does not follow the pages before it is
// an error and drops the open set: the controller sends a whole set after
// every change, so the next one puts the view right.
func (p *DecisionPages) Add(m DecisionsMsg) (DecisionsMsg, bool, error) {
	if m.Pages <= 1 {
		p.next = 0
		if m.Page != 0 {
			return DecisionsMsg{}, false, fmt.Errorf("decisions page %d of a one-page set", m.Page)
		}
		return m, true, nil
	}
	if m.Pages > MaxDecisionPages {
		p.next = 0
		return DecisionsMsg{}, false, fmt.Errorf("decisions set of %d pages, more than the %d allowed", m.Pages, MaxDecisionPages)
	}
	switch {
	case m.Page == 0:
		p.set, p.next = m, 1
	case p.next == 0 || m.Page != p.next || m.Pages != p.set.Pages:
		want := fmt.Sprintf("page %d of %d", p.next, p.set.Pages)
		if p.next == 0 {
			want = "page 0"
		}
		p.next = 0
		return DecisionsMsg{}, false, fmt.Errorf("decisions page %d of %d out of order (expected %s); waiting for the next whole set", m.Page, m.Pages, want)
	default:
		p.set.Apps = append(p.set.Apps, m.Apps...)
		p.set.Decisions = append(p.set.Decisions, m.Decisions...)
		p.set.Checks = append(p.set.Checks, m.Checks...)
		p.next++
	}
	if p.next < p.set.Pages {
		return DecisionsMsg{}, false, nil
	}
	set := p.set
	p.set, p.next = DecisionsMsg{}, 0
	return set, true, nil
}
