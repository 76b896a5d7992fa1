package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// loginFlow is the last sign-in started through the local API; guarded
// by session.mu.
type loginFlow struct {
	view   localapi.Login
	cancel context.CancelFunc // stops its polling; nil when none runs
	seq    int                // which flow view belongs to
}

// Login starts a sign-in for this enrolled device: it asks the
// controller for a user code, answers with the page to open and the code,
// and polls in the background until the user finishes, the code expires
// or the agent stops. A sign-in already running is replaced.
func (a *Agent) Login(ctx context.Context) (localapi.Login, error) {
	a.mu.Lock()
	runCtx, base, deviceID := a.runCtx, a.st.Controller, a.st.DeviceID
	a.mu.Unlock()
	if runCtx == nil || runCtx.Err() != nil {
		return localapi.Login{}, errors.New("the agent is not running")
	}
	da, err := wire.StartDeviceAuthorization(ctx, a.hc, base, wire.DeviceAuthorizationForm{DeviceID: deviceID})
	if err != nil {
		return localapi.Login{}, err
	}
	view := localapi.Login{State: localapi.LoginPending, VerificationURI: da.VerificationURI,
		VerificationURIComplete: da.VerificationURIComplete, UserCode: da.UserCode,
		ExpiresAt: time.Now().Add(time.Duration(da.ExpiresIn) * time.Second)}
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return localapi.Login{}, errors.New("the agent is stopping")
	}
	a.bg.Add(1) // under mu, before shutdown marks stopped: Run's bg.Wait comes after
	a.mu.Unlock()
	flowCtx, cancel := context.WithCancel(runCtx)
	s := &a.sess
	s.mu.Lock()
	if s.login.cancel != nil {
		s.login.cancel()
	}
	s.login.seq++
	seq := s.login.seq
	s.login.view, s.login.cancel = view, cancel
	s.mu.Unlock()
	a.stateChanged()
	go func() {
		defer a.bg.Done()
		defer cancel()
		a.finishLogin(flowCtx, seq, da, base)
	}()
	return view, nil
}

// LoginState is the last sign-in as it stands.
func (a *Agent) LoginState() localapi.Login {
	a.sess.mu.Lock()
	defer a.sess.mu.Unlock()
	return a.sess.login.view
}

// finishLogin polls for the tokens of flow seq, stores them and dials
// again presenting the access token.
func (a *Agent) finishLogin(ctx context.Context, seq int, da api.DeviceAuthorization, base string) {
	tr, err := waitForTokens(ctx, a.clock, da, func(ctx context.Context, sleep wire.Sleep) (api.TokenResponse, error) {
		return wire.PollTokenWith(ctx, a.hc, base, da.DeviceCode, da.Interval, sleep)
	})
	if err == nil && tr.DeviceID != a.st.DeviceID {
		err = fmt.Errorf("the controller signed in device %q, not this device (%q): sign in again", tr.DeviceID, a.st.DeviceID)
	}
	if err == nil {
		err = a.adoptTokens(tr)
	}
	s := &a.sess
	s.mu.Lock()
	if s.login.seq == seq {
		if err != nil {
			s.login.view.State, s.login.view.Error = localapi.LoginFailed, err.Error()
		} else {
			s.login.view.State, s.login.view.User = localapi.LoginSignedIn, tr.User
		}
		s.login.cancel = nil
	}
	s.mu.Unlock()
	a.stateChanged()
	if err != nil {
		a.log.Warn("sign-in failed", "err", err)
		return
	}
	a.log.Info("signed in", "user", tr.User)
	a.control.Reconnect()
}

// adoptTokens stores a sign-in's tokens, then makes them the session's.
func (a *Agent) adoptTokens(tr api.TokenResponse) error {
	t := keystore.NewTokens(tr.AccessToken, tr.RefreshToken, tr.ExpiresIn, a.clock.Now())
	t.User = tr.User
	if err := keystore.SaveTokens(a.cfg.Secrets, t); err != nil {
		return err
	}
	s := &a.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.tokens, s.ended, s.problem, s.refreshing, s.recovering = &t, nil, "", false, false
	a.stateChanged()
	return nil
}

// errCodeLifeOver: the code's lifetime passed on the agent's clock.
var errCodeLifeOver = errors.New("the sign-in code's lifetime is over")

// waitForTokens polls through wire.PollTokenWith (RFC 8628 §3.4–3.5:
// every interval, 5 s more after each slow_down; network trouble is
// tried again) on the agent's clock, until the user finishes or the
// code's lifetime passes, and says what to do next when it fails.
func waitForTokens(ctx context.Context, clock Clock, da api.DeviceAuthorization,
	poll func(context.Context, wire.Sleep) (api.TokenResponse, error)) (api.TokenResponse, error) {
	deadline := clock.Now().Add(time.Duration(da.ExpiresIn) * time.Second)
	tr, err := poll(ctx, func(ctx context.Context, d time.Duration) error {
		if err := sleep(ctx, clock, d); err != nil {
			return fmt.Errorf("sign-in stopped: %w", err)
		}
		if !clock.Now().Before(deadline) {
			return errCodeLifeOver
		}
		return nil
	})
	switch {
	case err == nil:
		return tr, nil
	case errors.Is(err, wire.ErrAccessDenied):
		return api.TokenResponse{}, fmt.Errorf("sign-in was refused in the browser (%w); run gatehouse login to try again", err)
	case errors.Is(err, wire.ErrCodeExpired), errors.Is(err, errCodeLifeOver):
		return api.TokenResponse{}, fmt.Errorf("the code expired before the sign-in was finished; run gatehouse login again (%w)", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return api.TokenResponse{}, err
	default:
		return api.TokenResponse{}, fmt.Errorf("sign-in failed (%w); run gatehouse login to try again", err)
	}
}

// sleep waits d on clock, or until ctx ends.
func sleep(ctx context.Context, clock Clock, d time.Duration) error {
	done := make(chan struct{})
	t := clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		return ctx.Err()
	}
}

// serveLogin is the local API's POST /v1/login.
func (a *Agent) serveLogin(w http.ResponseWriter, r *http.Request) {
	l, err := a.Login(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	reply(w, l)
}

// serveLogout is the local API's POST /v1/logout.
func (a *Agent) serveLogout(w http.ResponseWriter, r *http.Request) {
	warning, err := a.Logout(r.Context())
	if errors.Is(err, ErrNotSignedIn) {
		http.Error(w, "not signed in on this device (gatehouse status shows the session)", http.StatusConflict)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	reply(w, localapi.Logout{Warning: warning})
}
