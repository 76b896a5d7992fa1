package main

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
)

func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	if got := snapshot(ctx, localapi.NewClient(filepath.Join(t.TempDir(), "none.sock"))); !reflect.DeepEqual(got, gui.State{}) {
		t.Errorf("snapshot(no agent) = %+v, want the agent-not-running State{}", got)
	}
	got := snapshot(ctx, localapi.NewClient(fakeAgent(t, t.TempDir())))
	if !got.AgentUp || got.SignIn.User != "alice" || len(got.Apps) != 2 || len(got.Posture) != 1 || got.Look() != gui.LookBlocked {
		t.Errorf("snapshot(alice's agent) = %+v, want alice signed in, two apps, one check, blocked", got)
	}
}
