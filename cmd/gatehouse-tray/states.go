package main

import (
	"context"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/gui"
)

// states is the stream of States run shows.
//
// SEAM: the agent's watch endpoint (issue 10, being built beside this)
// feeds this channel: each snapshot or event becomes gui.FromAgent(...),
// and a broken stream becomes State{} (agent not running) until it is
// back. Until it is wired, the tray shows the agent as it was at start:
// it does not poll.
func states(ctx context.Context, agent *localapi.Client) <-chan gui.State {
	ch := make(chan gui.State, 1)
	ch <- snapshot(ctx, agent)
	return ch
}

// snapshot reads the agent's state once; an agent that does not answer is
// the State of an agent not running.
func snapshot(ctx context.Context, agent *localapi.Client) gui.State {
	status, apps, posture, login, err := read(ctx, agent)
	return gui.FromAgent(status, apps, posture, login, err == nil)
}

func read(ctx context.Context, agent *localapi.Client) (status localapi.Status, apps []localapi.App, posture localapi.Posture, login localapi.Login, err error) {
	if status, err = agent.Status(ctx); err != nil {
		return
	}
	if apps, err = agent.Apps(ctx); err != nil {
		return
	}
	if posture, err = agent.Posture(ctx); err != nil {
		return
	}
	login, err = agent.LoginState(ctx)
	return
}
