package main

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
)

// TestStates: the stream is the agent's watch made States, and the
// agent-not-running State while there is no agent.
func TestStates(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := func(ch <-chan gui.State) gui.State {
		t.Helper()
		select {
		case s := <-ch:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no State within 10 s")
			return gui.State{}
		}
	}
	if got := next(states(ctx, localapi.NewClient(filepath.Join(t.TempDir(), "none.sock")))); !reflect.DeepEqual(got, gui.State{}) {
		t.Errorf("states(no agent) = %+v, want the agent-not-running State{}", got)
	}
	got := next(states(ctx, localapi.NewClient(fakeAgent(t, t.TempDir()))))
	if !got.AgentUp || got.SignIn.User != "alice" || len(got.Apps) != 2 || len(got.Posture) != 1 || got.Look() != gui.LookBlocked {
		t.Errorf("states(alice's agent) = %+v, want alice signed in, two apps, one check, blocked", got)
	}
}

// TestOfferKeepsTheLatest: a State not taken yet is replaced, never
// queued behind.
func TestOfferKeepsTheLatest(t *testing.T) {
	ch := make(chan gui.State, 1)
	offer(ch, gui.State{Problem: "old"})
	offer(ch, gui.State{Problem: "new"})
	if s := <-ch; s.Problem != "new" {
		t.Errorf("after two offers the channel holds %q, want the latest", s.Problem)
	}
}
