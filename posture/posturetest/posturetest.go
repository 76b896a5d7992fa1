// Package posturetest is an in-memory posture source for tests of the parts
// around posture (agent, end-to-end harness): a test sets the facts and the
// code under test collects them through the real posture.Source contract.
//
// Imported only by tests and test harnesses.
package posturetest

import (
	"context"
	"maps"
	"sync"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/posture"
)

// Source is a posture.Source that reports what the test set.
type Source struct {
	mu sync.Mutex
	r  api.PostureReport
}

var _ posture.Source = (*Source)(nil)

// New returns a Source that reports r until Set changes it.
func New(r api.PostureReport) *Source {
	r.Processes = maps.Clone(r.Processes)
	r.Forbidden = maps.Clone(r.Forbidden)
	r.Files = maps.Clone(r.Files)
	return &Source{r: r}
}

// Set changes the report under the Source's lock; f may edit any field,
// including the Processes, Forbidden and Files maps (which it may also
// replace).
func (s *Source) Set(f func(*api.PostureReport)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.r)
}

// Collect implements posture.Source: a copy of the current report whose
// Processes, Forbidden and Files hold exactly the asked specs, unknown
// where the test set nothing.
func (s *Source) Collect(ctx context.Context, q api.PostureQuery) api.PostureReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.r
	r.Processes = asked(s.r.Processes, q.Processes)
	r.Forbidden = asked(s.r.Forbidden, q.Forbidden)
	r.Files = asked(s.r.Files, q.Files)
	return r
}

// asked copies the facts of the asked specs, nil when none are asked.
func asked(set map[string]api.BoolFact, specs []string) map[string]api.BoolFact {
	if len(specs) == 0 {
		return nil
	}
	out := make(map[string]api.BoolFact, len(specs))
	for _, spec := range specs {
		out[spec] = set[spec] // zero value: unknown
	}
	return out
}
