package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/controltest"
	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
	"github.com/gatehouse-ztna/gatehouse/posture/posturetest"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// nextDue is how long until the earliest live timer, and whether there
// is one.
func (c *fakeClock) nextDue() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for _, t := range c.timers {
		if t.live && (next.IsZero() || t.due.Before(next)) {
			next = t.due
		}
	}
	return next.Sub(c.now), !next.IsZero()
}

// awaitTimer waits until a timer is armed, and returns how long until it
// is due.
func (c *fakeClock) awaitTimer(t *testing.T) time.Duration {
	t.Helper()
	var d time.Duration
	eventually(t, "a timer armed", func() bool {
		var ok bool
		d, ok = c.nextDue()
		return ok
	})
	return d
}

// device is an enrolled device's state dir and keystore, for agents that
// start (and restart) on it.
type device struct {
	dir     string
	secrets keystore.Store
	fake    *controltest.Controller
	clock   *fakeClock
	logs    *syncBuffer
}

// syncBuffer is a log sink the agent and the test share.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newDevice enrolls dev-1 with a fake controller; secrets nil keeps them
// in files under the state dir.
func newDevice(t *testing.T, secrets keystore.Store) *device {
	t.Helper()
	fake := controltest.New(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	fake.AddDevice("dev-1", pub)
	dir := t.TempDir()
	if secrets == nil {
		secrets = keystore.Files{Dir: dir}
	}
	if err := secrets.Set(deviceKeyName, priv); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "controller-ca.pem")
	if err := os.WriteFile(caFile, fake.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveState(dir, State{Controller: fake.URL, CAFile: caFile, DeviceID: "dev-1", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	return &device{dir: dir, secrets: secrets, fake: fake, clock: newFakeClock(), logs: &syncBuffer{}}
}

// signedIn stores a session the fake issued, as a past sign-in left it.
func (d *device) signedIn(t *testing.T) api.TokenResponse {
	t.Helper()
	tr := d.fake.StartSession("dev-1", "alice", "pwd", "otp")
	tok := keystore.NewTokens(tr.AccessToken, tr.RefreshToken, tr.ExpiresIn, d.clock.Now())
	tok.User = tr.User
	if err := keystore.SaveTokens(d.secrets, tok); err != nil {
		t.Fatal(err)
	}
	return tr
}

// start runs an agent on the device until stop is called or the test
// ends; it logs at debug level into d.logs.
func (d *device) start(t *testing.T) (a *Agent, stop func()) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(Config{StateDir: d.dir, Secrets: d.secrets, Posture: posturetest.New(api.PostureReport{}),
		Clock: d.clock, Logger: logger})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// awaitLink waits until the agent's link is up, so a timer that fires
// can send on it.
func awaitLink(t *testing.T, a *Agent) {
	t.Helper()
	eventually(t, "agent connected", func() bool { return a.control.Connected() })
}

func last[T any](s []T) T { return s[len(s)-1] }

// login signs the running agent in through the fake's device flow.
func login(t *testing.T, a *Agent, d *device, n int) api.TokenResponse {
	t.Helper()
	view, err := a.Login(context.Background())
	if err != nil {
		t.Fatalf("Login() = %v", err)
	}
	si := d.fake.AwaitSignIn(t, n)
	if view.State != localapi.LoginPending || view.UserCode != si.UserCode || view.VerificationURI != d.fake.URL+api.PathDevicePage {
		t.Fatalf("Login() = %+v, want pending with code %s at %s", view, si.UserCode, d.fake.URL+api.PathDevicePage)
	}
	si.Approve("alice", "pwd", "otp")
	d.clock.Advance(d.clock.awaitTimer(t))
	eventually(t, "signed in", func() bool { return a.LoginState().State != localapi.LoginPending })
	if got := a.LoginState(); got.State != localapi.LoginSignedIn || got.User != "alice" {
		t.Fatalf("LoginState() = %+v, want signed in as alice", got)
	}
	return *si.Answer()
}

// TestLoginStoresTokensAndReconnectsWithThem: gatehouse login through the
// agent: the device flow (its interval and slow_down honoured), the
// tokens stored, the link dialed again presenting the access token.
func TestLoginStoresTokensAndReconnectsWithThem(t *testing.T) {
	d := newDevice(t, nil)
	a, _ := d.start(t)
	d.fake.AwaitConnected(t, 1)
	if s := a.Status().Session; s.SignedIn || last(d.fake.Presented()) != "" {
		t.Fatalf("before login: Status().Session = %+v, presented %q; want not signed in, no token", s, last(d.fake.Presented()))
	}
	if _, err := a.Login(context.Background()); err != nil {
		t.Fatalf("Login() = %v", err)
	}
	si := d.fake.AwaitSignIn(t, 1)
	if wait := d.clock.awaitTimer(t); wait != 5*time.Second {
		t.Errorf("first poll after %v, want the 5 s interval", wait)
	}
	si.SlowDown(1)
	d.clock.Advance(5 * time.Second)
	eventually(t, "first poll", func() bool { return si.Polls() == 1 })
	if wait := d.clock.awaitTimer(t); wait != 10*time.Second {
		t.Errorf("poll after slow_down in %v, want 10 s (5 s more)", wait)
	}
	d.clock.Advance(10 * time.Second)
	eventually(t, "second poll", func() bool { return si.Polls() == 2 })
	if got := a.LoginState().State; got != localapi.LoginPending {
		t.Fatalf("LoginState() while the user has not finished = %q, want pending", got)
	}
	si.Approve("alice", "pwd", "otp")
	d.clock.Advance(d.clock.awaitTimer(t))
	eventually(t, "signed in", func() bool { return a.LoginState().State == localapi.LoginSignedIn })
	tr := *si.Answer()

	stored, err := keystore.LoadTokens(d.secrets)
	if err != nil || stored.AccessToken != tr.AccessToken || stored.RefreshToken != tr.RefreshToken {
		t.Fatalf("stored tokens = %v, %v; want the sign-in's", stored, err)
	}
	d.fake.AwaitConnected(t, 2)
	if got := last(d.fake.Presented()); got != tr.AccessToken {
		t.Errorf("the link after sign-in presented %q, want the new access token", got)
	}
	eventually(t, "session in status", func() bool { return a.Status().Session.SignedIn && len(a.Status().Session.Methods) == 2 })
	if s := a.Status().Session; s.User != "alice" || !slices.Equal(s.Methods, []string{"pwd", "otp"}) {
		t.Errorf("Status().Session = %+v, want alice with pwd, otp", s)
	}
	info, err := os.Stat(filepath.Join(d.dir, "secrets", "session-tokens"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("tokens file: %v, %v; want mode 0600", info, err)
	}
}

// TestWaitForTokens: the polling schedule of RFC 8628 §3.5 (run by
// wire.PollTokenWith) on the agent's fake clock, against a controller
// that answers the polls in order.
func TestWaitForTokens(t *testing.T) {
	oauth := func(code string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(api.OAuthError{Error: code})
		}
	}
	broken := func(w http.ResponseWriter) { panic(http.ErrAbortHandler) } // the connection drops
	tests := []struct {
		name      string
		answers   []func(http.ResponseWriter) // the polls' answers in order; past the end: tokens
		expiresIn int
		wantGaps  []time.Duration // between the start and each poll
		wantErr   string
	}{
		{name: "pending then tokens", answers: []func(http.ResponseWriter){oauth(api.OAuthAuthorizationPending), oauth(api.OAuthAuthorizationPending)},
			expiresIn: 600, wantGaps: []time.Duration{5, 5, 5}},
		{name: "slow_down adds 5 s each time", answers: []func(http.ResponseWriter){oauth(api.OAuthSlowDown), oauth(api.OAuthSlowDown), oauth(api.OAuthAuthorizationPending)},
			expiresIn: 600, wantGaps: []time.Duration{5, 10, 15, 15}},
		{name: "network errors are tried again", answers: []func(http.ResponseWriter){broken},
			expiresIn: 600, wantGaps: []time.Duration{5, 5}},
		{name: "denied", answers: []func(http.ResponseWriter){oauth(api.OAuthAccessDenied)}, expiresIn: 600,
			wantGaps: []time.Duration{5}, wantErr: "refused in the browser"},
		{name: "expired_token", answers: []func(http.ResponseWriter){oauth(api.OAuthExpiredToken)}, expiresIn: 600,
			wantGaps: []time.Duration{5}, wantErr: "expired"},
		{name: "the code's life ends the wait", answers: []func(http.ResponseWriter){oauth(api.OAuthAuthorizationPending), oauth(api.OAuthAuthorizationPending),
			oauth(api.OAuthAuthorizationPending)}, expiresIn: 12, wantGaps: []time.Duration{5, 5}, wantErr: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			start := clock.Now()
			var mu sync.Mutex // guards at
			var at []time.Duration
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				at = append(at, clock.Now().Sub(start))
				n := len(at)
				mu.Unlock()
				if n <= len(tt.answers) {
					tt.answers[n-1](w)
					return
				}
				json.NewEncoder(w).Encode(api.TokenResponse{AccessToken: "a", RefreshToken: "r", DeviceID: "d"})
			}))
			defer srv.Close()
			done := make(chan error, 1)
			go func() {
				_, err := waitForTokens(context.Background(), clock, api.DeviceAuthorization{Interval: 5, ExpiresIn: tt.expiresIn},
					func(ctx context.Context, sleep wire.Sleep) (api.TokenResponse, error) {
						return wire.PollTokenWith(ctx, srv.Client(), srv.URL, "dc", 5, sleep)
					})
				done <- err
			}()
			var err error
		loop:
			for {
				select {
				case err = <-done:
					break loop
				case <-time.After(time.Millisecond):
					if d, ok := clock.nextDue(); ok {
						clock.Advance(d)
					}
				}
			}
			var want []time.Duration
			var sum time.Duration
			for _, g := range tt.wantGaps {
				sum += g * time.Second
				want = append(want, sum)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(at, want) {
				t.Errorf("polls at %v, want %v", at, want)
			}
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("waitForTokens() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestRefreshRotatesAndPersists: at 80 % of the access token's life the
// agent refreshes on the link, and the rotated pair is stored.
func TestRefreshRotatesAndPersists(t *testing.T) {
	d := newDevice(t, nil)
	first := d.signedIn(t)
	a, _ := d.start(t)
	awaitLink(t, a)
	if got := last(d.fake.Presented()); got != first.AccessToken {
		t.Fatalf("presented %q at connect, want the stored access token", got)
	}
	eventually(t, "signed in", func() bool { return a.Status().Session.SignedIn })
	prev := first.RefreshToken
	for i := 1; i <= 2; i++ {
		if wait := d.clock.awaitTimer(t); wait != 8*time.Minute {
			t.Fatalf("refresh #%d due in %v, want 8m (80%% of the 10m access token)", i, wait)
		}
		d.clock.Advance(8 * time.Minute)
		eventually(t, fmt.Sprintf("refresh #%d", i), func() bool { return d.fake.Refreshes() == i })
		access, refresh, _, _ := d.fake.Session("dev-1")
		eventually(t, fmt.Sprintf("rotated pair #%d stored", i), func() bool {
			got, err := keystore.LoadTokens(d.secrets)
			return err == nil && got.AccessToken == access && got.RefreshToken == refresh
		})
		if refresh == prev {
			t.Fatalf("refresh #%d kept the refresh token", i)
		}
		prev = refresh
	}
	if n := d.fake.Connects(); n != 1 {
		t.Errorf("connections = %d, want 1 (a refresh on a live link needs no new one)", n)
	}
	if s := a.Status().Session; !s.SignedIn || s.Problem != "" {
		t.Errorf("Status().Session = %+v, want signed in, no problem", s)
	}
}

// TestSignedOutForgetsTokensAndTunnels: the controller ending the session
// takes the tokens and tunnels; status says why and what to do.
func TestSignedOutForgetsTokensAndTunnels(t *testing.T) {
	d := newDevice(t, nil)
	d.signedIn(t)
	a, _ := d.start(t)
	awaitLink(t, a)
	connect(t, a, d.fake, "grafana", time.Minute)
	d.fake.EndSession(t, "dev-1", api.CodeSessionRevoked, "an admin ended your session")
	eventually(t, "signed out", func() bool { return !a.Status().Session.SignedIn })
	if _, err := keystore.LoadTokens(d.secrets); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("LoadTokens after signed_out = %v, want ErrNotFound", err)
	}
	st := a.Status()
	if len(st.Tunnels) != 0 {
		t.Errorf("tunnels after signed_out = %+v, want none", st.Tunnels)
	}
	if e := st.Session.Ended; e == nil || e.Code != api.CodeSessionRevoked || !strings.Contains(e.Remediation, "gatehouse login") {
		t.Errorf("Status().Session.Ended = %+v, want session.revoked with the fix", e)
	}
	apps := a.Apps()
	if len(apps) != 1 || apps[0].Allowed || apps[0].Reasons[0].Code != api.CodeSessionRevoked {
		t.Errorf("Apps() = %+v, want grafana denied with session.revoked", apps)
	}
	// The next connection presents nothing.
	d.fake.Drop()
	d.fake.AwaitConnected(t, 2)
	if got := last(d.fake.Presented()); got != "" {
		t.Errorf("after signed_out the link presented %q, want no token", got)
	}
}

// TestLogout: logout tells the controller, forgets the tokens and takes
// the tunnels down.
func TestLogout(t *testing.T) {
	d := newDevice(t, nil)
	d.signedIn(t)
	a, stopA := d.start(t)
	awaitLink(t, a)
	connect(t, a, d.fake, "grafana", time.Minute)
	warning, err := a.Logout(context.Background())
	if err != nil || warning != "" {
		t.Fatalf("Logout() = %q, %v; want no warning, no error", warning, err)
	}
	eventually(t, "logout at the controller", func() bool { return d.fake.Logouts() == 1 })
	if _, _, ended, _ := d.fake.Session("dev-1"); !ended {
		t.Error("the controller's session did not end")
	}
	if _, err := keystore.LoadTokens(d.secrets); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("LoadTokens after logout = %v, want ErrNotFound", err)
	}
	if st := a.Status(); st.Session.SignedIn || len(st.Tunnels) != 0 {
		t.Errorf("Status() after logout = %+v, want signed out without tunnels", st)
	}
	if _, err := a.Logout(context.Background()); !errors.Is(err, ErrNotSignedIn) {
		t.Errorf("second Logout() = %v, want ErrNotSignedIn", err)
	}
	// Offline: the device still forgets, and says the controller was not told.
	stopA()
	d.signedIn(t)
	b, stop := d.start(t)
	d.fake.AwaitConnected(t, 2)
	eventually(t, "signed in again", func() bool { return b.Status().Session.SignedIn })
	d.fake.Refuse(t, "controller away")
	d.fake.Drop()
	eventually(t, "disconnected", func() bool { return !b.Status().Connected })
	warning, err = b.Logout(context.Background())
	if err != nil || !strings.Contains(warning, "not told") {
		t.Errorf("offline Logout() = %q, %v; want a warning that the controller was not told", warning, err)
	}
	if _, err := keystore.LoadTokens(d.secrets); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("LoadTokens after offline logout = %v, want ErrNotFound", err)
	}
	stop()
}

// TestCrashAroundRefresh: an agent that dies after the controller rotated
// the tokens but before it stored the answer comes back asking for a
// sign-in (the spent refresh token ends the session); one that dies right
// after storing comes back signed in.
func TestCrashAroundRefresh(t *testing.T) {
	t.Run("before store", func(t *testing.T) {
		d := newDevice(t, nil)
		d.signedIn(t)
		first, stop := d.start(t)
		awaitLink(t, first)
		d.fake.LoseNextRefreshAnswer("dev-1")
		d.clock.Advance(d.clock.awaitTimer(t))
		eventually(t, "refresh at the controller", func() bool { return d.fake.Refreshes() == 1 })
		stop() // the answer never arrives: the agent died first

		b, _ := d.start(t)
		eventually(t, "session ended", func() bool { return b.Status().Session.Ended != nil })
		s := b.Status().Session
		if s.SignedIn || !strings.Contains(s.Ended.Message+s.Ended.Remediation, "gatehouse login") {
			t.Errorf("Status().Session after the crash = %+v, want not signed in, told to sign in again", s)
		}
		if _, err := keystore.LoadTokens(d.secrets); !errors.Is(err, keystore.ErrNotFound) {
			t.Errorf("LoadTokens = %v, want ErrNotFound (the spent tokens forgotten)", err)
		}
		n := d.fake.Connects()
		d.fake.Drop()
		d.fake.AwaitConnected(t, n+1)
		if got := last(d.fake.Presented()); got != "" {
			t.Errorf("after the session ended the link presented %q, want none", got)
		}
	})
	t.Run("after store", func(t *testing.T) {
		d := newDevice(t, nil)
		d.signedIn(t)
		crash := &crashAfterSave{Store: d.secrets, saved: make(chan struct{}), release: make(chan struct{})}
		d.secrets = crash
		first, stop := d.start(t)
		var release sync.Once
		t.Cleanup(func() { release.Do(func() { close(crash.release) }) })
		awaitLink(t, first)
		d.clock.Advance(d.clock.awaitTimer(t))
		select {
		case <-crash.saved: // stored; the agent "dies" before using the pair
		case <-time.After(controltest.Wait):
			t.Fatal("the agent did not store the rotated tokens")
		}
		d.secrets = crash.Store
		b, _ := d.start(t)
		access, _, _, _ := d.fake.Session("dev-1")
		eventually(t, "the new agent presents the rotated token", func() bool { return last(d.fake.Presented()) == access })
		eventually(t, "signed in", func() bool { return b.Status().Session.SignedIn })
		release.Do(func() { close(crash.release) })
		stop()
	})
}

// crashAfterSave stops the agent that saves tokens right after the save,
// as if it died there.
type crashAfterSave struct {
	keystore.Store
	once    sync.Once
	saved   chan struct{}
	release chan struct{}
}

func (c *crashAfterSave) Set(name string, secret []byte) error {
	err := c.Store.Set(name, secret)
	if name == "session-tokens" {
		c.once.Do(func() {
			close(c.saved)
			<-c.release
		})
	}
	return err
}

// TestSessionInRealKeyring: the agent stores its device key and its
// session in the OS keyring and reloads them at the next start. Skips
// without a keyring; fails in CI (GATEHOUSE_TEST_STRICT).
func TestSessionInRealKeyring(t *testing.T) {
	k := keystore.Keyring{Service: fmt.Sprintf("gatehouse-agent-test-%d", os.Getpid())}
	if err := k.Probe(); err != nil {
		testenv.SkipOrFail(t, "no OS keyring (start a Secret Service: see .ci/run): "+err.Error())
	}
	t.Cleanup(func() {
		keystore.ForgetTokens(k)
		k.Delete(deviceKeyName)
	})
	d := newDevice(t, k)
	a, stop := d.start(t)
	d.fake.AwaitConnected(t, 1)
	tr := login(t, a, d, 1)
	d.fake.AwaitConnected(t, 2)
	stop()
	if _, err := os.Stat(filepath.Join(d.dir, "secrets")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secrets dir exists (%v): with a keyring, nothing goes to files", err)
	}
	b, _ := d.start(t)
	d.fake.AwaitConnected(t, 3)
	if got := last(d.fake.Presented()); got != tr.AccessToken {
		t.Errorf("after restart the link presented %q, want the token kept in the keyring", got)
	}
	eventually(t, "signed in after restart", func() bool { return b.Status().Session.SignedIn })
	if w := b.Status().SecretsIn; !strings.HasPrefix(w, "OS keyring") {
		t.Errorf("Status().SecretsIn = %q, want the OS keyring", w)
	}
}

// TestTokensNeverLogged: sign-in, refresh and sign-out at debug level
// leave no token in the agent's log.
func TestTokensNeverLogged(t *testing.T) {
	d := newDevice(t, nil)
	a, _ := d.start(t)
	d.fake.AwaitConnected(t, 1)
	tr := login(t, a, d, 1)
	d.fake.AwaitConnected(t, 2)
	awaitLink(t, a)
	d.clock.Advance(d.clock.awaitTimer(t))
	eventually(t, "refreshed", func() bool { return d.fake.Refreshes() == 1 })
	access, refresh, _, _ := d.fake.Session("dev-1")
	eventually(t, "rotated pair stored", func() bool {
		got, err := keystore.LoadTokens(d.secrets)
		return err == nil && got.RefreshToken == refresh
	})
	d.fake.EndSession(t, "dev-1", api.CodeSessionRevoked, "ended")
	eventually(t, "signed out", func() bool { return !a.Status().Session.SignedIn })
	logs := d.logs.String()
	if !strings.Contains(logs, "signed in") || !strings.Contains(logs, "session refreshed") {
		t.Fatalf("the log misses the sign-in or the refresh (is it captured?):\n%s", logs)
	}
	for _, tok := range []string{tr.AccessToken, tr.RefreshToken, access, refresh} {
		if strings.Contains(logs, tok) || strings.Contains(logs, tok[4:]) {
			t.Errorf("the agent's log holds a token:\n%s", logs)
		}
	}
}

// TestEnrollBySignIn: gatehouse-agent login on a device not enrolled:
// the device key and hostname go with the device authorization, the
// answer names the new device, and the agent that starts then presents
// the session's token.
func TestEnrollBySignIn(t *testing.T) {
	fake := controltest.New(t)
	dir := t.TempDir()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, fake.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &device{dir: dir, secrets: keystore.Files{Dir: dir}, fake: fake, clock: newFakeClock(), logs: &syncBuffer{}}
	var shown api.DeviceAuthorization
	opts := SignInEnrollOptions{StateDir: dir, Controller: fake.URL, CAFile: caFile, Hostname: "alice-laptop",
		Secrets: d.secrets, Clock: d.clock, Show: func(da api.DeviceAuthorization) error { shown = da; return nil }}
	type result struct {
		st  State
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, _, err := EnrollBySignIn(context.Background(), opts)
		done <- result{st, err}
	}()
	si := fake.AwaitSignIn(t, 1)
	if si.Hostname != "alice-laptop" || len(si.Key) != ed25519.PublicKeySize {
		t.Fatalf("device authorization carried hostname %q and a %d-byte key, want alice-laptop and an Ed25519 key", si.Hostname, len(si.Key))
	}
	si.Approve("alice", "pwd", "otp")
	d.clock.Advance(d.clock.awaitTimer(t))
	r := <-done
	if r.err != nil {
		t.Fatalf("EnrollBySignIn() = %v", r.err)
	}
	if shown.UserCode != si.UserCode {
		t.Errorf("Show got code %q, want %q", shown.UserCode, si.UserCode)
	}
	tr := si.Answer()
	if r.st.DeviceID != tr.DeviceID || r.st.User != "alice" {
		t.Errorf("state = %+v, want device %s of alice", r.st, tr.DeviceID)
	}
	key, err := d.secrets.Get(deviceKeyName)
	if err != nil || !ed25519.PrivateKey(key).Public().(ed25519.PublicKey).Equal(si.Key) {
		t.Fatalf("stored device key: %v; want the one sent", err)
	}
	a, _ := d.start(t)
	fake.AwaitConnected(t, 1)
	if got := last(fake.Presented()); got != tr.AccessToken {
		t.Errorf("the agent presented %q, want the sign-in's access token", got)
	}
	eventually(t, "signed in", func() bool { return a.Status().Session.SignedIn })

	// Enrolled now: a second sign-in enrollment is refused.
	if _, _, err := EnrollBySignIn(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "gatehouse login") {
		t.Errorf("EnrollBySignIn() on an enrolled device = %v, want a refusal naming gatehouse login", err)
	}
}

// TestLoginThroughLocalAPI: the CLI's path: POST /v1/login, GET until
// signed in, status shows the session, POST /v1/logout.
func TestLoginThroughLocalAPI(t *testing.T) {
	d := newDevice(t, nil)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	logger := slog.New(slog.NewTextHandler(d.logs, nil))
	a, err := New(Config{StateDir: d.dir, Secrets: d.secrets, Posture: posturetest.New(api.PostureReport{}),
		Clock: d.clock, Logger: logger, Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	awaitLink(t, a)
	c := localapi.NewClient(sock)
	if _, err := c.Logout(context.Background()); err == nil || !strings.Contains(err.Error(), "not signed in") {
		t.Errorf("Logout() before any sign-in = %v, want 'not signed in'", err)
	}
	l, err := c.Login(context.Background())
	if err != nil || l.State != localapi.LoginPending || l.UserCode == "" {
		t.Fatalf("Login() = %+v, %v; want pending with a code", l, err)
	}
	d.fake.AwaitSignIn(t, 1).Approve("alice", "pwd")
	d.clock.Advance(d.clock.awaitTimer(t))
	eventually(t, "signed in", func() bool {
		st, err := c.LoginState(context.Background())
		return err == nil && st.State == localapi.LoginSignedIn && st.User == "alice" && st.UserCode == l.UserCode
	})
	d.fake.AwaitConnected(t, 2)
	eventually(t, "session in status", func() bool {
		st, err := c.Status(context.Background())
		return err == nil && st.Session.SignedIn && st.Session.User == "alice"
	})
	if l, err := c.Logout(context.Background()); err != nil || l.Warning != "" {
		t.Fatalf("Logout() = %+v, %v; want no warning", l, err)
	}
	st, err := c.Status(context.Background())
	if err != nil || st.Session.SignedIn || st.Session.Ended == nil {
		t.Errorf("Status().Session after logout = %+v, %v; want signed out, with why", st.Session, err)
	}
	eventually(t, "logout at the controller", func() bool { return d.fake.Logouts() == 1 })
}

// TestSessionNotAcceptedEnds: a controller that welcomes the device's
// token without a session gets one refresh and one new connection; then
// the agent gives the session up instead of looping.
func TestSessionNotAcceptedEnds(t *testing.T) {
	d := newDevice(t, nil)
	d.signedIn(t)
	d.fake.IgnoreAccessTokens()
	a, _ := d.start(t)
	eventually(t, "session given up", func() bool { return a.Status().Session.Ended != nil })
	if e := a.Status().Session.Ended; !strings.Contains(e.Message, "did not accept") {
		t.Errorf("Status().Session.Ended = %+v, want the controller did not accept the session", e)
	}
	awaitLink(t, a)
	settle(t, d.fake)
	if n, r := d.fake.Connects(), d.fake.Refreshes(); n != 2 || r != 1 {
		t.Errorf("connections = %d, refreshes = %d; want 2 and 1 (no loop)", n, r)
	}
}
