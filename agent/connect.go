package agent

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
)

// Connect brings app's tunnel up, asking the controller for a grant when
// there is none, without opening a connection through it: what a user
// asking for an app by name does. A refusal is a *DeniedError; the
// reasons are also what Apps shows for app from then on, even for an app
// outside the user's entitlement (which has no local port).
func (a *Agent) Connect(ctx context.Context, app string) error {
	_, err := a.tunnelFor(ctx, app)
	return err
}

// serveConnect is the local API's POST /v1/connect?app=NAME.
func (a *Agent) serveConnect(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("app")
	if name == "" {
		http.Error(w, "name the app: POST "+localapi.PathConnect+"?app=NAME", http.StatusBadRequest)
		return
	}
	var denied *DeniedError
	if err := a.Connect(r.Context(), name); err != nil && !errors.As(err, &denied) {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for _, app := range a.Apps() {
		if app.Name == name {
			reply(w, app)
			return
		}
	}
	// Denied but not recorded: the answer raced a new decision set.
	v := localapi.App{Name: name, LocalAddrs: []string{}}
	if denied != nil {
		v.Reasons = denied.Reasons
	}
	reply(w, v)
}
