package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controlclient"
	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// The signed-in session on the agent's side (docs/identity.md "Wiring"):
// its tokens live in the keystore next to the device key; the access
// token is presented after the device proof at each connection; at 80 %
// of its life the agent sends a refresh and stores the rotated tokens
// before it uses them; a signed_out message (or a logout) forgets them.

// signInFix ends every message that asks the user to sign in again.
const signInFix = "sign in again: gatehouse login"

// session is the agent's signed-in session. Its mu is never held while
// sending to the controller, touching the agent's mu, or tearing
// tunnels down.
type session struct {
	mu sync.Mutex // guards the fields below
	// tokens are the stored tokens; nil: not signed in.
	tokens *keystore.Tokens
	// link is what the controller said of the session at the current
	// connection's welcome; nil: the link carries none.
	link *api.SessionInfo
	// refreshing: a refresh is out and its answer not yet in.
	refreshing bool
	// recovering: the last connection had no session, so the agent
	// refreshed and dialed again; a second connection without one ends
	// the session instead of looping.
	recovering bool
	timer      Timer       // the next refresh; nil when none is due
	ended      *api.Reason // why the last session ended; nil if none did
	problem    string      // trouble with the live session, for status
	login      loginFlow   // the last sign-in started through the local API
}

// loadSession reads the stored tokens at start.
func (a *Agent) loadSession() {
	t, err := keystore.LoadTokens(a.cfg.Secrets)
	switch {
	case errors.Is(err, keystore.ErrNotFound):
	case err != nil:
		a.log.Warn("could not read the session's tokens; not signed in", "err", err)
		a.sess.ended = &api.Reason{Code: api.CodeSignInRequired, Message: err.Error(), Remediation: signInFix}
	default:
		a.sess.tokens = &t
	}
}

// accessToken is what the next connection presents: the stored access
// token while it is alive by the agent's clock, else none (the agent then
// refreshes on the connection).
func (a *Agent) accessToken() string {
	s := &a.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil || !a.clock.Now().Before(s.tokens.ExpiresAt) {
		return ""
	}
	return s.tokens.AccessToken
}

// sessionConnected takes the welcome's word on the session: a live one
// gets its refresh timed; tokens the link does not carry are refreshed
// once (an access token that ran out while the agent was away), then
// given up.
func (a *Agent) sessionConnected(ctx context.Context, first controlclient.Sender, welcome api.WelcomeMsg) error {
	defer a.stateChanged() // the welcome may name the user and methods
	s := &a.sess
	s.mu.Lock()
	s.link, s.refreshing = welcome.Session, false
	if s.tokens == nil {
		s.mu.Unlock()
		return nil
	}
	if welcome.Session != nil {
		s.recovering = false
		if welcome.Session.User != "" {
			s.tokens.User = welcome.Session.User
		}
		s.tokens.Methods = welcome.Session.Methods
		refreshNow := !a.clock.Now().Before(s.tokens.RefreshDue())
		if !refreshNow {
			a.scheduleRefreshLocked()
		}
		s.mu.Unlock()
		if refreshNow {
			return a.sendRefresh(ctx, first)
		}
		return nil
	}
	if s.recovering {
		s.mu.Unlock()
		a.endSession(ctx, api.SignedOutMsg{Code: api.CodeSessionRevoked,
			Message: "the controller did not accept this device's session; " + signInFix})
		return nil
	}
	s.mu.Unlock()
	return a.sendRefresh(ctx, first)
}

// scheduleRefreshLocked times the next refresh at 80 % of the access
// token's life; s.mu is held.
func (a *Agent) scheduleRefreshLocked() {
	s := &a.sess
	if s.timer != nil {
		s.timer.Stop()
	}
	wait := s.tokens.RefreshDue().Sub(a.clock.Now())
	s.timer = a.clock.AfterFunc(max(wait, 0), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.sendRefresh(ctx, a.control); err != nil {
			// Not connected: the next connection refreshes.
			a.log.Warn("could not refresh the session now; retrying on the next connection", "err", err)
		}
	})
}

// sendRefresh sends the refresh token through to, unless a refresh is
// already out.
func (a *Agent) sendRefresh(ctx context.Context, to controlclient.Sender) error {
	s := &a.sess
	s.mu.Lock()
	if s.tokens == nil || s.refreshing {
		s.mu.Unlock()
		return nil
	}
	s.refreshing = true
	refresh := s.tokens.RefreshToken
	s.mu.Unlock()
	if err := to.Refresh(ctx, api.RefreshMsg{RefreshToken: refresh}); err != nil {
		s.mu.Lock()
		s.refreshing = false
		s.mu.Unlock()
		return fmt.Errorf("refresh the session: %w", err)
	}
	return nil
}

// rotated takes a refresh's answer. The new tokens are stored before
// they are used: the controller has spent the old refresh token, so a
// crash that lost the new pair would cost a sign-in.
func (a *Agent) rotated(m api.TokensMsg) {
	s := &a.sess
	s.mu.Lock()
	if s.tokens == nil {
		s.mu.Unlock()
		a.log.Warn("new session tokens arrived after the session ended; ignored")
		return
	}
	t := keystore.NewTokens(m.AccessToken, m.RefreshToken, m.ExpiresIn, a.clock.Now())
	t.User, t.Methods = s.tokens.User, s.tokens.Methods
	if err := keystore.SaveTokens(a.cfg.Secrets, t); err != nil {
		// The pair is the only valid one now: keep it in memory, and say
		// that a restart will ask for a sign-in.
		s.problem = "the session's new tokens could not be saved (" + err.Error() + "): a restart will need a sign-in"
		a.log.Error("could not save the session's new tokens", "err", err)
	} else {
		s.problem = ""
	}
	s.tokens, s.refreshing = &t, false
	redial := s.link == nil
	if redial {
		// The link carries no session: present the new access token.
		s.recovering = true
	} else {
		a.scheduleRefreshLocked()
	}
	s.mu.Unlock()
	a.stateChanged() // a problem saving may have come or gone
	a.log.Info("session refreshed", "session", t)
	if redial {
		a.control.Reconnect()
	}
}

// endSession forgets the session's tokens and takes its tunnels down:
// the controller ended the session (m), or the user signed out.
func (a *Agent) endSession(ctx context.Context, m api.SignedOutMsg) {
	s := &a.sess
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	had := s.tokens != nil
	s.tokens, s.link, s.refreshing, s.recovering, s.problem = nil, nil, false, false, ""
	reason := api.Reason{Code: m.Code, Message: m.Message, Remediation: signInFix}
	if reason.Code == "" {
		reason.Code = api.CodeSessionRevoked
	}
	if reason.Message == "" {
		reason.Message = "the session ended at the controller"
	}
	s.ended = &reason
	if err := keystore.ForgetTokens(a.cfg.Secrets); err != nil {
		s.problem = err.Error()
		a.log.Error("could not forget the session's tokens", "err", err)
	}
	s.mu.Unlock()
	a.stateChanged()
	if had {
		a.log.Info("signed out", "code", reason.Code, "why", reason.Message)
	}
	a.dropAllTunnels([]api.Reason{reason})
}

// dropAllTunnels tears every tunnel down for reasons.
func (a *Agent) dropAllTunnels(reasons []api.Reason) {
	a.mu.Lock()
	tunnels := make([]*appTunnel, 0, len(a.tunnels))
	for _, t := range a.tunnels {
		tunnels = append(tunnels, t)
	}
	a.mu.Unlock()
	for _, t := range tunnels {
		a.teardown(t, reasons)
	}
}

// ErrNotSignedIn is Logout with no session.
var ErrNotSignedIn = errors.New("not signed in")

// Logout ends the signed-in session: it tells the controller (which
// revokes the session and the grants that needed it), forgets the tokens
// and takes the tunnels down. The controller unreachable, the device
// still forgets and says so in warning.
func (a *Agent) Logout(ctx context.Context) (warning string, err error) {
	a.sess.mu.Lock()
	signedIn := a.sess.tokens != nil
	a.sess.mu.Unlock()
	if !signedIn {
		return "", ErrNotSignedIn
	}
	if err := a.sendLogout(ctx); err != nil {
		warning = fmt.Sprintf("signed out on this device, but the controller was not told (%v): "+
			"the session ends there when its access token runs out", err)
	}
	a.endSession(ctx, api.SignedOutMsg{Code: api.CodeSessionRevoked, Message: "you signed out"})
	a.sess.mu.Lock()
	problem := a.sess.problem
	a.sess.mu.Unlock()
	if problem != "" {
		return warning, errors.New(problem)
	}
	return warning, nil
}

// logoutWait is how long a logout waits for a link that is coming back
// (just after a sign-in, say) before it gives up telling the controller.
const logoutWait = 5 * time.Second

// sendLogout sends the logout, waiting up to logoutWait for a link.
func (a *Agent) sendLogout(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, logoutWait)
	defer cancel()
	for {
		err := a.control.Logout(ctx)
		if !errors.Is(err, controlclient.ErrNotConnected) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sessionStatus is the session for `gatehouse status`.
func (a *Agent) sessionStatus() localapi.Session {
	s := &a.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	v := localapi.Session{Problem: s.problem}
	if s.tokens == nil {
		v.Ended = s.ended
		return v
	}
	v.SignedIn, v.User, v.Methods, v.ExpiresAt = true, s.tokens.User, s.tokens.Methods, s.tokens.ExpiresAt
	return v
}
