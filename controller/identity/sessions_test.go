package identity

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSessionTokens(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	seed := e.withTOTP(t, "alice")
	e.clock.Advance(totpPeriod * time.Second) // past the step the enrolment spent
	e.take()
	sess, tok := e.signIn(t, "alice", seed, "laptop")
	if got := e.kinds(); !hasKinds(got, LoginSucceeded, SessionCreated) {
		t.Errorf("events of a sign-in = %v, want [%v %v]", got, LoginSucceeded, SessionCreated)
	}
	now := e.clock.Now()
	switch {
	case !strings.HasPrefix(tok.Access, accessPrefix) || !strings.HasPrefix(tok.Refresh, refreshPrefix) || len(tok.Access) != tokenLen || len(tok.Refresh) != tokenLen:
		t.Errorf("tokens = %q, %q, want %s… and %s… of %d characters", tok.Access, tok.Refresh, accessPrefix, refreshPrefix, tokenLen)
	case !tok.AccessExpiresAt.Equal(now.Add(10*time.Minute)) || !tok.RefreshExpiresAt.Equal(now.Add(7*24*time.Hour)):
		t.Errorf("token lifetimes end %v and %v, want 10 minutes and 7 days from now", tok.AccessExpiresAt, tok.RefreshExpiresAt)
	case !sess.AuthAt.Equal(now) || !sess.MFAAt.Equal(now) || !sess.ExpiresAt.Equal(now.Add(30*24*time.Hour)) || sess.Device != "laptop":
		t.Errorf("session = %+v, want auth and MFA now, bound to laptop, ending in 30 days", sess)
	}
	got, err := e.Authenticate(t.Context(), tok.Access, "laptop")
	if err != nil || got.ID != sess.ID || got.User != "alice" {
		t.Fatalf("Authenticate(access, laptop) = %+v, %v, want session %s", got, err, sess.ID)
	}
	// Only hashes are stored: neither token is anywhere in the database.
	e.st.Close()
	files, _ := filepath.Glob(e.path + "*") // with the WAL
	if len(files) == 0 {
		t.Fatalf("no database files at %s", e.path)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(tok.Access)) || bytes.Contains(b, []byte(tok.Refresh)) {
			t.Errorf("%s holds a token in the clear", f)
		}
	}
}

// TestDeviceBinding: a token works only from the device it was issued to;
// presented by another, it is refused and its session revoked.
func TestDeviceBinding(t *testing.T) {
	tests := []struct {
		name string
		use  func(e *env, tok Tokens) error
	}{
		{name: "access token", use: func(e *env, tok Tokens) error {
			_, err := e.Authenticate(t.Context(), tok.Access, "thief")
			return err
		}},
		{name: "refresh token", use: func(e *env, tok Tokens) error {
			_, _, err := e.Refresh(t.Context(), tok.Refresh, "thief")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, Config{})
			e.user(t, "alice")
			sess, tok := e.signIn(t, "alice", "", "laptop")
			e.take()
			if err := tt.use(e, tok); !errors.Is(err, ErrWrongDevice) {
				t.Fatalf("%s from another device = %v, want %v", tt.name, err, ErrWrongDevice)
			}
			evs := e.take()
			if len(evs) != 2 || evs[0].Kind != WrongDevice || evs[0].Detail != "thief" || evs[1].Kind != SessionRevoked || evs[1].Reason != "wrong_device" || evs[1].Session != sess.ID {
				t.Errorf("events = %+v, want %v (presented by thief) then %v for wrong_device", evs, WrongDevice, SessionRevoked)
			}
			// The session is over for its own device too.
			if _, err := e.Authenticate(t.Context(), tok.Access, "laptop"); !errors.Is(err, ErrSessionRevoked) {
				t.Errorf("Authenticate from the right device afterwards = %v, want %v", err, ErrSessionRevoked)
			}
			if _, _, err := e.Refresh(t.Context(), tok.Refresh, "laptop"); !errors.Is(err, ErrSessionRevoked) {
				t.Errorf("Refresh from the right device afterwards = %v, want %v", err, ErrSessionRevoked)
			}
		})
	}
}

// TestRefreshReuse: refresh rotates both tokens; the spent refresh token
// coming back ends the session.
func TestRefreshReuse(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	sess, first := e.signIn(t, "alice", "", "laptop")
	e.clock.Advance(5 * time.Minute)
	e.take()
	_, second, err := e.Refresh(t.Context(), first.Refresh, "laptop")
	if err != nil {
		t.Fatalf("Refresh = %v", err)
	}
	if got := e.kinds(); !hasKinds(got, SessionRefreshed) {
		t.Errorf("events = %v, want [%v]", got, SessionRefreshed)
	}
	if second.Access == first.Access || second.Refresh == first.Refresh {
		t.Fatalf("Refresh returned the same tokens")
	}
	if _, err := e.Authenticate(t.Context(), first.Access, "laptop"); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("Authenticate(old access token) = %v, want %v", err, ErrTokenInvalid)
	}
	if _, err := e.Authenticate(t.Context(), second.Access, "laptop"); err != nil {
		t.Errorf("Authenticate(new access token) = %v", err)
	}
	// The old refresh token again: someone else has it.
	if _, _, err := e.Refresh(t.Context(), first.Refresh, "laptop"); !errors.Is(err, ErrRefreshReused) {
		t.Fatalf("Refresh(spent token) = %v, want %v", err, ErrRefreshReused)
	}
	evs := e.take()
	if len(evs) != 2 || evs[0].Kind != RefreshReused || evs[1].Kind != SessionRevoked || evs[1].Reason != "refresh_reused" || evs[1].Session != sess.ID {
		t.Errorf("events = %+v, want %v then %v for refresh_reused", evs, RefreshReused, SessionRevoked)
	}
	for name, f := range map[string]func() error{
		"Authenticate(new access)": func() error { _, err := e.Authenticate(t.Context(), second.Access, "laptop"); return err },
		"Refresh(new refresh)":     func() error { _, _, err := e.Refresh(t.Context(), second.Refresh, "laptop"); return err },
	} {
		if err := f(); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("%s after reuse = %v, want %v", name, err, ErrSessionRevoked)
		}
	}
}

// TestConcurrentRefresh: two refreshes with one token race; one wins, the
// other is reuse and the session ends.
func TestConcurrentRefresh(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	_, tok := e.signIn(t, "alice", "", "laptop")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, _, errs[i] = e.Refresh(t.Context(), tok.Refresh, "laptop") })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !(errors.Is(errs[0], ErrRefreshReused) || errors.Is(errs[1], ErrRefreshReused)) {
		t.Errorf("two concurrent refreshes = %v, %v, want one nil and one %v", errs[0], errs[1], ErrRefreshReused)
	}
	ss, _ := e.Sessions(t.Context(), "alice")
	if len(ss) != 1 || ss[0].RevokeReason != "refresh_reused" {
		t.Errorf("sessions after the race = %+v, want the one revoked for refresh_reused", ss)
	}
}

func TestLifetimes(t *testing.T) {
	e := newEnv(t, Config{AccessTTL: 10 * time.Minute, RefreshTTL: 24 * time.Hour, SessionMax: 36 * time.Hour})
	e.user(t, "alice")
	_, tok := e.signIn(t, "alice", "", "laptop")
	e.clock.Advance(10 * time.Minute)
	if _, err := e.Authenticate(t.Context(), tok.Access, "laptop"); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("Authenticate after the access lifetime = %v, want %v", err, ErrSessionExpired)
	}
	_, tok, err := e.Refresh(t.Context(), tok.Refresh, "laptop")
	if err != nil {
		t.Fatalf("Refresh after the access lifetime = %v", err)
	}
	// Refreshing near the session's end: the tokens end with the session.
	e.clock.Advance(23 * time.Hour)
	_, tok, err = e.Refresh(t.Context(), tok.Refresh, "laptop")
	if err != nil {
		t.Fatalf("Refresh at 23h10m = %v", err)
	}
	end := start.Add(36 * time.Hour)
	if !tok.RefreshExpiresAt.Equal(end) {
		t.Errorf("refresh token at 23h10m ends %v, want the session's end %v", tok.RefreshExpiresAt, end)
	}
	e.clock.Advance(13 * time.Hour) // past the session's end
	if _, _, err := e.Refresh(t.Context(), tok.Refresh, "laptop"); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("Refresh past the session's end = %v, want %v", err, ErrSessionExpired)
	}
	// An unused refresh token dies after RefreshTTL.
	_, tok2 := e.signIn(t, "alice", "", "laptop")
	e.clock.Advance(24 * time.Hour)
	if _, _, err := e.Refresh(t.Context(), tok2.Refresh, "laptop"); !errors.Is(err, ErrSessionExpired) {
		t.Errorf("Refresh after the refresh lifetime = %v, want %v", err, ErrSessionExpired)
	}
}

func TestBadTokens(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	_, tok := e.signIn(t, "alice", "", "laptop")
	fresh, _, _ := newToken(accessPrefix)
	for _, in := range []string{"", "gha_", tok.Refresh, tok.Access + "x", tok.Access[:len(tok.Access)-1] + "!", fresh, strings.ToUpper(tok.Access)} {
		if _, err := e.Authenticate(t.Context(), in, "laptop"); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("Authenticate(%q) = %v, want %v", in, err, ErrTokenInvalid)
		}
	}
	for _, in := range []string{"", tok.Access, "ghr_short"} {
		if _, _, err := e.Refresh(t.Context(), in, "laptop"); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("Refresh(%q) = %v, want %v", in, err, ErrTokenInvalid)
		}
	}
	if _, err := e.Authenticate(t.Context(), tok.Access, "laptop"); err != nil {
		t.Errorf("bad tokens harmed the session: Authenticate = %v", err)
	}
}

func TestLogoutAndRevoke(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	e.user(t, "bob")
	_, a1 := e.signIn(t, "alice", "", "laptop")
	a2sess, a2 := e.signIn(t, "alice", "", "phone")
	_, a3 := e.signIn(t, "alice", "", "tablet")
	_, b1 := e.signIn(t, "bob", "", "bobs")
	e.take()
	if err := e.Logout(t.Context(), a1.Access, "laptop"); err != nil {
		t.Fatalf("Logout = %v", err)
	}
	if evs := e.take(); len(evs) != 1 || evs[0].Kind != SessionRevoked || evs[0].Reason != ReasonLogout || evs[0].By != "user:alice" {
		t.Errorf("events of logout = %+v, want one %v for logout by user:alice", evs, SessionRevoked)
	}
	if _, err := e.Authenticate(t.Context(), a1.Access, "laptop"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate after logout = %v, want %v", err, ErrSessionRevoked)
	}
	helpdesk := Principal{Kind: PrincipalUser, Name: "hd", Role: Helpdesk}
	auditor := Principal{Kind: PrincipalToken, Name: "ro", Role: Auditor}
	if err := e.RevokeSession(t.Context(), auditor, a2sess.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("RevokeSession by an auditor = %v, want %v", err, ErrForbidden)
	}
	if err := e.RevokeSession(t.Context(), helpdesk, a2sess.ID); err != nil {
		t.Fatalf("RevokeSession by helpdesk = %v", err)
	}
	if _, err := e.Authenticate(t.Context(), a2.Access, "phone"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate after RevokeSession = %v, want %v", err, ErrSessionRevoked)
	}
	e.take()
	if n, err := e.RevokeUserSessions(t.Context(), helpdesk, "alice"); err != nil || n != 1 {
		t.Errorf("RevokeUserSessions(alice) = %d, %v, want 1 (the tablet's)", n, err)
	}
	if evs := e.take(); len(evs) != 1 || evs[0].Device != "tablet" || evs[0].By != "user:hd" {
		t.Errorf("events = %+v, want the tablet's session revoked by user:hd", evs)
	}
	if _, err := e.Authenticate(t.Context(), a3.Access, "tablet"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate after RevokeUserSessions = %v, want %v", err, ErrSessionRevoked)
	}
	if _, err := e.Authenticate(t.Context(), b1.Access, "bobs"); err != nil {
		t.Errorf("bob's session after alice's were revoked: %v", err)
	}
}

func TestDisableUser(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	_, tok := e.signIn(t, "alice", "", "laptop")
	p, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: pw}) // a sign-in under way
	if err != nil {
		t.Fatal(err)
	}
	e.take()
	if err := e.DisableUser(t.Context(), Principal{Kind: PrincipalUser, Name: "hd", Role: Helpdesk}, "alice"); !errors.Is(err, ErrForbidden) {
		t.Errorf("DisableUser by helpdesk = %v, want %v", err, ErrForbidden)
	}
	if err := e.DisableUser(t.Context(), owner, "alice"); err != nil {
		t.Fatal(err)
	}
	if got := e.kinds(); !hasKinds(got, UserDisabled, SessionRevoked) {
		t.Errorf("events = %v, want [%v %v]", got, UserDisabled, SessionRevoked)
	}
	if _, err := e.Authenticate(t.Context(), tok.Access, "laptop"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate of a disabled user = %v, want %v", err, ErrSessionRevoked)
	}
	if _, _, err := e.StartSession(t.Context(), p, "laptop"); !errors.Is(err, ErrUserDisabled) {
		t.Errorf("StartSession with a proof from before the disable = %v, want %v", err, ErrUserDisabled)
	}
	if err := e.EnableUser(t.Context(), owner, "alice"); err != nil {
		t.Fatal(err)
	}
	e.signIn(t, "alice", "", "laptop")
	if err := e.DisableUser(t.Context(), owner, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DisableUser(nobody) = %v, want %v", err, ErrNotFound)
	}
}

func TestStartSessionNeedsProof(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	if _, _, err := e.StartSession(t.Context(), Proof{}, "laptop"); err == nil {
		t.Errorf("StartSession(zero Proof) = nil, want an error")
	}
	p, _ := e.CheckPassword(t.Context(), Login{User: "alice", Password: pw})
	if _, _, err := e.StartSession(t.Context(), p, ""); err == nil {
		t.Errorf("StartSession without a device = nil, want an error")
	}
}

func TestFreshness(t *testing.T) {
	now := start.Add(48 * time.Hour)
	sess := func(authAgo, mfaAgo time.Duration) Session {
		s := Session{AuthAt: now.Add(-authAgo)}
		if mfaAgo >= 0 {
			s.MFAAt = now.Add(-mfaAgo)
		}
		return s
	}
	tests := []struct {
		name    string
		f       Freshness
		s       Session
		wantErr error
	}{
		{name: "no requirements", s: sess(40*time.Hour, -1)},
		{name: "MFA required, none", f: Freshness{RequireMFA: true}, s: sess(time.Hour, -1), wantErr: ErrMFARequired},
		{name: "MFA required, done", f: Freshness{RequireMFA: true}, s: sess(time.Hour, time.Hour)},
		{name: "MFA max age, none", f: Freshness{MFAMaxAge: 12 * time.Hour}, s: sess(time.Hour, -1), wantErr: ErrMFARequired},
		{name: "MFA within max age", f: Freshness{MFAMaxAge: 12 * time.Hour}, s: sess(12*time.Hour, 12*time.Hour)},
		{name: "MFA too old", f: Freshness{MFAMaxAge: 12 * time.Hour}, s: sess(13*time.Hour, 13*time.Hour), wantErr: ErrMFATooOld},
		{name: "session within max", f: Freshness{SessionMax: 24 * time.Hour}, s: sess(24*time.Hour, -1)},
		{name: "session too old", f: Freshness{SessionMax: 24 * time.Hour}, s: sess(25*time.Hour, 0), wantErr: ErrSessionTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.f.Check(tt.s, now)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("%+v.Check(%+v) = %v, want %v", tt.f, tt.s, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "gatehouse login") {
				t.Errorf("Check error %q does not say how to fix it", err)
			}
		})
	}
}
