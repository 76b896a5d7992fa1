package grants

import (
	"context"
	"time"
)

// Time edges: a decision can change with the time alone (a policy's
// condition over request.time, a sign-in's age). Config.NextEdge says
// when; the Manager keeps each live grant's next edge and one timer, on
// its Clock, at the earliest, and decides the grants due again then, so
// a time window closes at its edge rather than at the next renewal. (It
// opens when the agent next asks: a denied agent asks again on its
// user's next connection.)

// edgeTimeout bounds the gateway calls of one round of edge re-decisions.
const edgeTimeout = 30 * time.Second

// setEdge records when g's decision may next change, from now.
func (m *Manager) setEdge(g *grant, now time.Time) {
	if m.cfg.NextEdge == nil {
		return
	}
	edge := m.cfg.NextEdge(g.user, g.device, g.app, now)
	m.mu.Lock()
	g.edge = edge
	m.mu.Unlock()
}

// scheduleEdges sets the edge timer to the earliest edge of a live grant
// (or stops it when there is none).
func (m *Manager) scheduleEdges() {
	if m.cfg.NextEdge == nil {
		return
	}
	var next time.Time
	m.mu.Lock()
	for _, g := range m.grants {
		if !g.edge.IsZero() && (next.IsZero() || g.edge.Before(next)) {
			next = g.edge
		}
	}
	m.mu.Unlock()
	m.edgeMu.Lock()
	defer m.edgeMu.Unlock()
	if m.edgeTimer != nil && m.edgeAt.Equal(next) {
		return
	}
	if m.edgeTimer != nil {
		m.edgeTimer.Stop()
		m.edgeTimer = nil
	}
	if next.IsZero() || m.edgesStopped {
		return
	}
	m.edgeAt = next
	m.edgeTimer = m.clock.AfterFunc(next.Sub(m.clock.Now()), m.atEdge)
}

// atEdge decides again every grant whose edge has come, then sets the
// timer for the next edge.
func (m *Manager) atEdge() {
	m.edgeMu.Lock()
	m.edgeTimer = nil
	stopped := m.edgesStopped
	m.edgeMu.Unlock()
	if stopped {
		return
	}
	now := m.clock.Now()
	var due []*grant
	m.mu.Lock()
	for _, g := range m.grants {
		if !g.edge.IsZero() && !g.edge.After(now) {
			due = append(due, g)
		}
	}
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), edgeTimeout)
	defer cancel()
	m.redecide(ctx, due) // schedules the next edge
}

// Stop ends the Manager's own timer of time edges; call it when the
// Manager's owner stops. Grants are left as they are.
func (m *Manager) Stop() {
	m.edgeMu.Lock()
	defer m.edgeMu.Unlock()
	m.edgesStopped = true
	if m.edgeTimer != nil {
		m.edgeTimer.Stop()
		m.edgeTimer = nil
	}
}
