package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// accessWait is how long `gatehouse request` waits for the controller.
const accessWait = 10 * time.Second

// accessRequests are the just-in-time access requests sent on the control
// connection and waiting for their answer, by Seq.
type accessRequests struct {
	mu      sync.Mutex // guards seq and waiting
	seq     uint64
	waiting map[uint64]chan api.AccessResultMsg
}

// deliver hands the controller's answer to whoever waits for it.
func (r *accessRequests) deliver(m api.AccessResultMsg) {
	r.mu.Lock()
	ch := r.waiting[m.Seq]
	delete(r.waiting, m.Seq)
	r.mu.Unlock()
	if ch != nil {
		ch <- m // buffered: never blocks the control connection
	}
}

// RequestAccess asks the controller, on the device's control connection
// (its key proof and signed-in session), for just-in-time access.
func (a *Agent) RequestAccess(ctx context.Context, in api.AccessRequestInput) (api.AccessRequest, error) {
	r := &a.requests
	r.mu.Lock()
	r.seq++
	seq := r.seq
	ch := make(chan api.AccessResultMsg, 1)
	if r.waiting == nil {
		r.waiting = map[uint64]chan api.AccessResultMsg{}
	}
	r.waiting[seq] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiting, seq)
		r.mu.Unlock()
	}()
	if err := a.control.RequestAccess(ctx, api.AccessRequestMsg{Seq: seq, AccessRequestInput: in}); err != nil {
		return api.AccessRequest{}, fmt.Errorf("ask the controller for access to %s: %w (see gatehouse status)", in.App, err)
	}
	select {
	case m := <-ch:
		if m.Error != "" || m.Request == nil {
			return api.AccessRequest{}, errors.New(m.Error)
		}
		return *m.Request, nil
	case <-ctx.Done():
		return api.AccessRequest{}, ctx.Err()
	case <-time.After(accessWait):
		return api.AccessRequest{}, fmt.Errorf("no answer from the controller within %s: try again (see gatehouse status)", accessWait)
	}
}

func (a *Agent) serveRequest(w http.ResponseWriter, r *http.Request) {
	var in api.AccessRequestInput
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&in); err != nil {
		http.Error(w, "malformed request: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, err := a.RequestAccess(r.Context(), in)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply(w, req)
}
