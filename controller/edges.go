package controller

import (
	"sync"
	"time"
)

// Decision sets at time edges: the grant manager cuts a live grant at its
// edge (controller/grants/edges.go); this keeps the agents' view current
// too, so an app whose time window opened shows as allowed (and one that
// closed without a grant shows as denied) at the edge, not at the next
// posture report. Each link's next edge is noted when its decision set is
// computed; one timer fires at the earliest and sends the due links a
// fresh set, which notes their next edge.

// decisionEdges holds, by device, when its decision set may next change
// with the time alone.
type decisionEdges struct {
	mu      sync.Mutex // guards at, timer, timerAt and stopped
	at      map[string]time.Time
	timer   *time.Timer
	timerAt time.Time
	stopped bool
}

// noteDecisionEdge records device's next edge (zero: none) and moves the
// timer if it is now the earliest.
func (c *Controller) noteDecisionEdge(device string, edge time.Time) {
	e := &c.edges
	e.mu.Lock()
	defer e.mu.Unlock()
	if edge.IsZero() {
		delete(e.at, device)
		return
	}
	if e.at == nil {
		e.at = map[string]time.Time{}
	}
	e.at[device] = edge
	if e.timer == nil || edge.Before(e.timerAt) {
		e.scheduleLocked(c, edge)
	}
}

// scheduleLocked sets the timer for at. Called with e.mu held.
func (e *decisionEdges) scheduleLocked(c *Controller, at time.Time) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if e.stopped || at.IsZero() {
		return
	}
	e.timerAt = at
	e.timer = time.AfterFunc(time.Until(at), c.atDecisionEdge)
}

// atDecisionEdge sends a fresh decision set to every linked device whose
// edge has come, and sets the timer for the next edge.
func (c *Controller) atDecisionEdge() {
	e := &c.edges
	now := time.Now()
	var due []string
	var next time.Time
	e.mu.Lock()
	e.timer = nil
	for dev, at := range e.at {
		if !at.After(now) {
			due = append(due, dev)
			delete(e.at, dev)
		} else if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	e.scheduleLocked(c, next)
	e.mu.Unlock()
	for _, dev := range due {
		if s := c.link(dev); s != nil {
			c.sendDecisions(s) // notes its next edge
		}
	}
}

// stopDecisionEdges stops the timer for good (Close).
func (c *Controller) stopDecisionEdges() {
	e := &c.edges
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stopped = true
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
}
