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
	return &Source{r: r}
}

// Set changes the report under the Source's lock; f may edit any field,
// including the Processes map (which it may also replace).
func (s *Source) Set(f func(*api.PostureReport)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.r)
}

// Collect implements posture.Source: a copy of the current report whose
// Processes holds exactly the asked names, unknown where the test set
// nothing.
func (s *Source) Collect(ctx context.Context, q api.PostureQuery) api.PostureReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.r
	r.Processes = nil
	if len(q.Processes) > 0 {
		r.Processes = make(map[string]api.BoolFact, len(q.Processes))
		for _, name := range q.Processes {
			r.Processes[name] = s.r.Processes[name] // zero value: unknown
		}
	}
	return r
}
