package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// PathWatch (GET) follows the agent's state as a stream instead of by
// polling: newline-delimited JSON, one Update per line. The first line is
// a whole snapshot; another follows each time something the user sees
// changes (docs/decisions.md "watch"). While nothing changes the agent
// sends a keep-alive line every KeepAliveMS of the first update, so
// a client notices a hung agent; an agent that stopped closes the socket.
// Over the cap of watchers per caller the answer is 429.
const PathWatch = "/v1/watch"

// Update types.
const (
	UpdateSnapshot  = "snapshot"  // the whole state, with the events since the last one
	UpdateKeepAlive = "keepalive" // nothing changed; the agent is alive
)

// Event kinds: an app's access changing, each suited to one desktop
// notification.
const (
	// EventRevoked: the app was allowed and is blocked now; Reasons
	// say why and how to fix it.
	EventRevoked = "revoked"
	// EventRestored: the app was blocked and is allowed again (or, for
	// just-in-time access, allowed now).
	EventRestored = "restored"
)

// Update is one line of the watch stream.
type Update struct {
	Type string `json:"type"` // UpdateSnapshot or UpdateKeepAlive
	// KeepAliveMS is how often, in milliseconds, the agent sends a line
	// while nothing changes (first update only). A client hearing nothing
	// for three times as long takes the agent for hung.
	KeepAliveMS int64 `json:"keepalive_ms,omitempty"`
	// The snapshot: the same shapes GET /v1/status, /v1/apps,
	// /v1/posture and /v1/login answer.
	Status  *Status  `json:"status,omitempty"`
	Apps    []App    `json:"apps,omitempty"`
	Posture *Posture `json:"posture,omitempty"`
	Login   *Login   `json:"login,omitempty"`
	// Events are the access changes since the previous snapshot on this
	// stream (none in the first): at most one per change of an app.
	Events []Event `json:"events,omitempty"`
}

// Event is a change of an app's access, as a notification shows it.
type Event struct {
	Kind    string       `json:"kind"` // EventRevoked or EventRestored
	App     string       `json:"app"`
	Reasons []api.Reason `json:"reasons,omitempty"`
}

// Text is the event in one sentence: "access to grafana revoked: disk
// encryption is off (Turn on disk encryption)".
func (e Event) Text() string {
	switch e.Kind {
	case EventRevoked:
		s := "access to " + e.App + " revoked"
		if len(e.Reasons) > 0 {
			s += ": " + api.ReasonsText(e.Reasons)
			var fixes []string
			for _, r := range e.Reasons {
				if r.Remediation != "" {
					fixes = append(fixes, r.Remediation)
				}
			}
			if len(fixes) > 0 {
				s += " (" + strings.Join(fixes, "; ") + ")"
			}
		}
		return s
	case EventRestored:
		return "access to " + e.App + " restored"
	}
	return e.Kind + " " + e.App
}

// Just-in-time access states of an app (App.AccessState).
const (
	AccessNotNeeded = ""         // the app needs no approved request
	AccessRequired  = "required" // ask with gatehouse request
	AccessPending   = "pending"  // a request waits for an approver
	AccessApproved  = "approved" // allowed until AccessUntil
	AccessDenied    = "denied"   // an approver denied it, or ended it early
	AccessExpired   = "expired"  // the approved time ran out
)

// AccessState is the app's just-in-time access state, read from its
// decision: approved (until AccessUntil), or why not (the reason codes
// api.CodeAccess*). An app whose access is approved but ends within
// soon is "expiring" to a tray; AccessUntil says when.
func (a App) AccessState() string {
	if a.Allowed && !a.AccessUntil.IsZero() {
		return AccessApproved
	}
	for _, r := range a.Reasons {
		switch r.Code {
		case api.CodeAccessPending:
			return AccessPending
		case api.CodeAccessDenied:
			return AccessDenied
		case api.CodeAccessExpired:
			return AccessExpired
		case api.CodeAccessRequired:
			return AccessRequired
		}
	}
	return AccessNotNeeded
}

// maxWatchLine bounds one line of the stream (a snapshot with its posture
// report and every app); a longer one ends the watch.
const maxWatchLine = 4 << 20

// Watch follows the agent's state: it yields the first snapshot, then one
// per change (keep-alives are not yielded), until ctx ends or the stream
// does. The stream ends with one error: the agent refused the caller or
// the watch (its message says why), stopped, or sent nothing for three
// keep-alive intervals. Watch does not reconnect: a caller that wants to
// keep following (a tray) calls it again after a pause, and takes the
// next first snapshot as the whole truth.
func (c *Client) Watch(ctx context.Context) iter.Seq2[Update, error] {
	return func(yield func(Update, error) bool) {
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent"+PathWatch, nil)
		if err != nil {
			yield(Update{}, err)
			return
		}
		// The stream lives long: the client's overall timeout is for
		// single answers, so the watch has a client of its own on the
		// same transport (however it dials).
		resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
		if err != nil {
			yield(Update{}, fmt.Errorf("agent is not answering (is gatehouse-agent running?): %w", err))
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			yield(Update{}, fmt.Errorf("agent refused the watch (%s): %s", resp.Status, strings.TrimSpace(string(msg))))
			return
		}
		// Silence for three keep-alive intervals ends the watch. Until
		// the first line says the interval, the default one counts.
		deadAfter := 3 * DefaultWatchKeepAlive
		dead := time.AfterFunc(deadAfter, func() { cancel(errAgentSilent) })
		defer dead.Stop()
		r := bufio.NewReaderSize(resp.Body, 64<<10)
		first := true
		for {
			line, err := readLine(r)
			if err != nil {
				if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
					if errors.Is(cause, errAgentSilent) {
						err = fmt.Errorf("%w for %s", errAgentSilent, deadAfter)
					} else {
						err = cause
					}
				} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = errors.New("the agent ended the watch (it stopped or restarted): watch again")
				}
				yield(Update{}, err)
				return
			}
			var u Update
			if err := json.Unmarshal(line, &u); err != nil {
				yield(Update{}, fmt.Errorf("agent sent a malformed watch line: %w", err))
				return
			}
			if first && u.KeepAliveMS > 0 {
				deadAfter = 3 * time.Duration(u.KeepAliveMS) * time.Millisecond
			}
			first = false
			dead.Reset(deadAfter)
			if u.Type == UpdateKeepAlive {
				continue
			}
			if !yield(u, nil) {
				return
			}
		}
	}
}

// DefaultWatchKeepAlive is how often the agent sends a keep-alive line on
// an idle watch stream.
const DefaultWatchKeepAlive = 20 * time.Second

var errAgentSilent = errors.New("the agent sent nothing on the watch (is gatehouse-agent hung?)")

// readLine reads one line of at most maxWatchLine bytes, without its
// newline.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > maxWatchLine {
			return nil, fmt.Errorf("a watch line is longer than %d bytes", maxWatchLine)
		}
		if !isPrefix {
			return line, nil
		}
	}
}
