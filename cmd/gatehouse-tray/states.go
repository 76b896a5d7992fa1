package main

import (
	"context"
	"log"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
)

// Pauses between watches while the agent is away: short at first (an
// agent restarting is back within a second or two), longer while it stays
// away, so a stopped agent costs the tray one attempt every few seconds
// and a running one none (the stream pushes every change).
const (
	firstRetry = 500 * time.Millisecond
	lastRetry  = 5 * time.Second
)

// states is the stream of States run shows: the agent's watch stream, each
// snapshot made a State, and the agent-not-running State{} whenever the
// stream breaks, until a new watch gives the whole state again. It never
// closes before ctx ends. Only the latest State waits: the tray shows
// now, not history.
func states(ctx context.Context, agent *localapi.Client) <-chan gui.State {
	ch := make(chan gui.State, 1)
	go func() {
		retry := firstRetry
		for ctx.Err() == nil {
			for u, err := range agent.Watch(ctx) {
				if err != nil {
					if ctx.Err() == nil {
						log.Printf("gatehouse-tray: %v", err)
					}
					break
				}
				retry = firstRetry
				offer(ch, fromUpdate(u))
			}
			offer(ch, gui.State{})
			select {
			case <-ctx.Done():
			case <-time.After(retry):
			}
			retry = min(2*retry, lastRetry)
		}
	}()
	return ch
}

// offer puts s in ch (capacity 1), replacing a State not taken yet.
func offer(ch chan gui.State, s gui.State) {
	for {
		select {
		case ch <- s:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// fromUpdate is the State of one snapshot from the watch stream.
func fromUpdate(u localapi.Update) gui.State {
	var (
		status  localapi.Status
		posture localapi.Posture
		login   localapi.Login
	)
	if u.Status != nil {
		status = *u.Status
	}
	if u.Posture != nil {
		posture = *u.Posture
	}
	if u.Login != nil {
		login = *u.Login
	}
	return gui.FromAgent(status, u.Apps, posture, login, true)
}
