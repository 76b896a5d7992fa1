package identity

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/webauthntest"
)

const (
	testRPID   = "gatehouse.test"
	testOrigin = "https://gatehouse.test:8443"
)

var pkSource = netip.MustParseAddr("192.0.2.7")

// pkEnv is an env with passkeys on and alice (password and TOTP); it
// returns alice's fresh password-and-code Proof.
func pkEnv(t *testing.T, cfg PasskeyConfig) (*env, Proof) {
	t.Helper()
	cfg.RPID, cfg.Origins = testRPID, []string{testOrigin}
	e := newEnv(t, Config{Passkeys: cfg})
	e.user(t, "alice")
	seed := e.withTOTP(t, "alice")
	e.clock.Advance(30 * time.Second) // the enrolment spent this step's code
	p, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: pw, Code: code(t, seed, e.clock.Now()), Source: pkSource})
	if err != nil {
		t.Fatalf("CheckPassword(alice, code) = %v", err)
	}
	e.take()
	return e, p
}

// register adds a passkey named name with auth and returns it.
func register(t *testing.T, e *env, auth *webauthntest.Authenticator, p Proof, name string) PasskeyInfo {
	t.Helper()
	ch, err := e.BeginPasskeyRegistration(t.Context(), p, name)
	if err != nil {
		t.Fatalf("BeginPasskeyRegistration(%q) = %v", name, err)
	}
	resp, err := auth.Create(ch.Options)
	if err != nil {
		t.Fatalf("authenticator Create = %v", err)
	}
	info, err := e.FinishPasskeyRegistration(t.Context(), p, ch.ID, resp)
	if err != nil {
		t.Fatalf("FinishPasskeyRegistration(%q) = %v", name, err)
	}
	return info
}

// signIn runs a passkey sign-in for user ("" = discoverable) with auth.
func signIn(t *testing.T, e *env, auth *webauthntest.Authenticator, user string) (Proof, error) {
	t.Helper()
	ch, err := e.BeginPasskeyLogin(t.Context(), user)
	if err != nil {
		t.Fatalf("BeginPasskeyLogin(%q) = %v", user, err)
	}
	resp, err := auth.Get(ch.Options)
	if err != nil {
		t.Fatalf("authenticator Get = %v", err)
	}
	return e.FinishPasskeyLogin(t.Context(), ch.ID, resp, pkSource)
}

func TestPasskeyRegisterAndSignIn(t *testing.T) {
	e, p := pkEnv(t, PasskeyConfig{})
	auth := webauthntest.New(testOrigin)
	info := register(t, e, auth, p, "laptop")
	if got := e.kinds(); !slices.Equal(got, []Kind{PasskeyAdded}) {
		t.Errorf("events after registration = %v, want [passkey_added]", got)
	}
	for _, user := range []string{"", "alice"} {
		e.clock.Advance(time.Minute)
		proof, err := signIn(t, e, auth, user)
		if err != nil {
			t.Fatalf("passkey sign-in (user %q) = %v", user, err)
		}
		if proof.User() != "alice" || !slices.Equal(proof.Methods(), []string{"webauthn"}) || !proof.MFA() || !proof.mfaAt.Equal(e.clock.Now()) {
			t.Errorf("passkey sign-in (user %q) = %s %v MFA %v at %v, want alice [webauthn] with MFA now", user, proof.User(), proof.Methods(), proof.MFA(), proof.mfaAt)
		}
		sess, _, err := e.StartSession(t.Context(), proof, "dev-1")
		if err != nil || !slices.Equal(sess.Methods, []string{"webauthn"}) || sess.MFAAt.IsZero() {
			t.Errorf("StartSession(passkey proof) = %+v, %v; want methods [webauthn] with MFA", sess, err)
		}
	}
	keys, err := e.Passkeys(t.Context(), "alice")
	if err != nil || len(keys) != 1 || keys[0].Name != "laptop" || keys[0].ID != info.ID || !keys[0].LastUsedAt.Equal(e.clock.Now()) {
		t.Errorf("Passkeys(alice) = %+v, %v; want laptop used now", keys, err)
	}
}

func TestPasskeyRegistrationNeedsPasswordAndCode(t *testing.T) {
	e, p := pkEnv(t, PasskeyConfig{})
	auth := webauthntest.New(testOrigin)
	register(t, e, auth, p, "laptop")
	bob := "bob"
	e.user(t, bob)
	pwdOnly, err := e.CheckPassword(t.Context(), Login{User: bob, Password: pw, Source: pkSource})
	if err != nil {
		t.Fatal(err)
	}
	byPasskey, err := signIn(t, e, auth, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.BeginPasskeyRegistration(t.Context(), pwdOnly, "x"); !errors.Is(err, ErrMFARequired) {
		t.Errorf("BeginPasskeyRegistration(password only) = %v, want ErrMFARequired", err)
	}
	if _, err := e.BeginPasskeyRegistration(t.Context(), byPasskey, "x"); !errors.Is(err, ErrMFARequired) {
		t.Errorf("BeginPasskeyRegistration(passkey sign-in) = %v, want ErrMFARequired", err)
	}
	if _, err := e.BeginPasskeyRegistration(t.Context(), p, "laptop"); !errors.Is(err, ErrPasskeyInvalid) {
		t.Errorf("BeginPasskeyRegistration(name taken) = %v, want ErrPasskeyInvalid", err)
	}
	if _, err := e.BeginPasskeyRegistration(t.Context(), p, ""); !errors.Is(err, ErrPasskeyInvalid) {
		t.Errorf("BeginPasskeyRegistration(no name) = %v, want ErrPasskeyInvalid", err)
	}
	e.clock.Advance(11 * time.Minute)
	if _, err := e.BeginPasskeyRegistration(t.Context(), p, "y"); !errors.Is(err, ErrMFATooOld) {
		t.Errorf("BeginPasskeyRegistration(sign-in 11 min old) = %v, want ErrMFATooOld", err)
	}
}

func TestPasskeyRegistrationRefused(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(a *webauthntest.Authenticator)
		twice  bool
	}{
		{name: "wrong origin", break_: func(a *webauthntest.Authenticator) { a.Origin = "https://gatehouse.evil:8443" }},
		{name: "wrong RP ID", break_: func(a *webauthntest.Authenticator) { a.RPID = "gatehouse.evil" }},
		{name: "no user verification", break_: func(a *webauthntest.Authenticator) { a.NoUserVerification = true }},
		{name: "assertion type", break_: func(a *webauthntest.Authenticator) { a.Type = "webauthn.get" }},
		{name: "ceremony replayed", break_: func(*webauthntest.Authenticator) {}, twice: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, p := pkEnv(t, PasskeyConfig{})
			auth := webauthntest.New(testOrigin)
			ch, err := e.BeginPasskeyRegistration(t.Context(), p, "laptop")
			if err != nil {
				t.Fatal(err)
			}
			if tt.twice {
				resp, _ := auth.Create(ch.Options)
				if _, err := e.FinishPasskeyRegistration(t.Context(), p, ch.ID, resp); err != nil {
					t.Fatalf("first FinishPasskeyRegistration = %v", err)
				}
			}
			tt.break_(auth)
			resp, err := auth.Create(ch.Options)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.FinishPasskeyRegistration(t.Context(), p, ch.ID, resp)
			if !errors.Is(err, ErrPasskeyInvalid) && !errors.Is(err, ErrCeremony) {
				t.Errorf("FinishPasskeyRegistration(%s) = %v, want ErrPasskeyInvalid or ErrCeremony", tt.name, err)
			}
			want := 0
			if tt.twice {
				want = 1
			}
			if keys, _ := e.Passkeys(t.Context(), "alice"); len(keys) != want {
				t.Errorf("after a refused registration alice has %d passkeys, want %d", len(keys), want)
			}
		})
	}
}

func TestPasskeySignInRefused(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		break_ func(t *testing.T, e *env, a *webauthntest.Authenticator)
		want   error
		reason string
	}{
		{name: "wrong origin", break_: func(_ *testing.T, _ *env, a *webauthntest.Authenticator) { a.Origin = "https://gatehouse.evil:8443" },
			want: ErrPasskeyInvalid, reason: failBadPasskey},
		{name: "wrong RP ID", break_: func(_ *testing.T, _ *env, a *webauthntest.Authenticator) { a.RPID = "gatehouse.evil" },
			want: ErrPasskeyInvalid, reason: failBadPasskey},
		{name: "no user verification", user: "alice", break_: func(_ *testing.T, _ *env, a *webauthntest.Authenticator) { a.NoUserVerification = true },
			want: ErrPasskeyInvalid, reason: failBadPasskey},
		{name: "sign count backwards", break_: func(_ *testing.T, _ *env, a *webauthntest.Authenticator) { a.Credentials()[0].SignCount = 0 },
			want: ErrPasskeyInvalid, reason: failSignCount},
		{name: "ceremony expired", break_: func(_ *testing.T, e *env, _ *webauthntest.Authenticator) {
			e.clock.Advance(5*time.Minute + time.Second)
		},
			want: ErrCeremony, reason: failCeremony},
		{name: "passkey deleted", break_: func(t *testing.T, e *env, a *webauthntest.Authenticator) {
			keys, _ := e.Passkeys(t.Context(), "alice")
			if err := e.DeletePasskey(t.Context(), "alice", keys[0].ID); err != nil {
				t.Fatal(err)
			}
		}, want: ErrPasskeyInvalid, reason: failBadPasskey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, p := pkEnv(t, PasskeyConfig{})
			auth := webauthntest.New(testOrigin)
			register(t, e, auth, p, "laptop")
			if _, err := signIn(t, e, auth, ""); err != nil { // the counter is 1 now
				t.Fatal(err)
			}
			before, _ := e.st.Passkeys(t.Context(), "alice")
			ch, err := e.BeginPasskeyLogin(t.Context(), tt.user)
			if err != nil {
				t.Fatal(err)
			}
			tt.break_(t, e, auth)
			resp, err := auth.Get(ch.Options)
			if err != nil {
				t.Fatal(err)
			}
			e.take()
			_, err = e.FinishPasskeyLogin(t.Context(), ch.ID, resp, pkSource)
			if !errors.Is(err, tt.want) {
				t.Errorf("FinishPasskeyLogin(%s) = %v, want %v", tt.name, err, tt.want)
			}
			evs := e.take()
			if i := slices.IndexFunc(evs, func(ev Event) bool { return ev.Kind == LoginFailed }); i < 0 || evs[i].Reason != tt.reason {
				t.Errorf("events after %s = %+v, want LoginFailed %s", tt.name, evs, tt.reason)
			}
			if after, _ := e.st.Passkeys(t.Context(), "alice"); len(after) == 1 && (after[0].SignCount != before[0].SignCount || !after[0].LastUsedAt.Equal(before[0].LastUsedAt)) {
				t.Errorf("a refused sign-in changed the passkey: counter %d → %d, last used %v → %v",
					before[0].SignCount, after[0].SignCount, before[0].LastUsedAt, after[0].LastUsedAt)
			}
		})
	}
}

// TestPasskeyChallengeSingleUse: a response, even a valid one, answers
// its ceremony once.
func TestPasskeyChallengeSingleUse(t *testing.T) {
	e, p := pkEnv(t, PasskeyConfig{})
	auth := webauthntest.New(testOrigin)
	register(t, e, auth, p, "laptop")
	ch, err := e.BeginPasskeyLogin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := auth.Get(ch.Options)
	if _, err := e.FinishPasskeyLogin(t.Context(), ch.ID, resp, pkSource); err != nil {
		t.Fatalf("first FinishPasskeyLogin = %v", err)
	}
	again, _ := auth.Get(ch.Options) // a fresh signature, counter moved on: only the challenge is old
	if _, err := e.FinishPasskeyLogin(t.Context(), ch.ID, again, pkSource); !errors.Is(err, ErrCeremony) {
		t.Errorf("FinishPasskeyLogin(same ceremony again) = %v, want ErrCeremony", err)
	}
	other, _ := e.BeginPasskeyLogin(t.Context(), "")
	if _, err := e.FinishPasskeyLogin(t.Context(), other.ID, again, pkSource); !errors.Is(err, ErrPasskeyInvalid) {
		t.Errorf("FinishPasskeyLogin(old challenge's response on a new ceremony) = %v, want ErrPasskeyInvalid", err)
	}
}

// TestPasskeyCeremoniesBounded: past MaxCeremonies the oldest goes.
func TestPasskeyCeremoniesBounded(t *testing.T) {
	e, _ := pkEnv(t, PasskeyConfig{MaxCeremonies: 3})
	var ids []string
	for range 4 {
		ch, err := e.BeginPasskeyLogin(t.Context(), "")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID)
		e.clock.Advance(time.Second)
	}
	if n := len(e.pk.ceremonies.m); n != 3 {
		t.Errorf("ceremonies held = %d, want 3", n)
	}
	if _, ok := e.pk.ceremonies.m[ids[0]]; ok {
		t.Errorf("the oldest ceremony is still held past the cap")
	}
}

// TestPasskeyFailuresShareThePasswordThrottle: failed passkey sign-ins
// slow the account's password sign-ins too (one backoff).
func TestPasskeyFailuresShareThePasswordThrottle(t *testing.T) {
	e, p := pkEnv(t, PasskeyConfig{})
	auth := webauthntest.New(testOrigin)
	register(t, e, auth, p, "laptop")
	auth.Origin = "https://gatehouse.evil:8443"
	other := netip.MustParseAddr("198.51.100.9") // not a source alice signed in from
	for range DefaultThrottle.Account.Free + 1 {
		ch, _ := e.BeginPasskeyLogin(t.Context(), "alice")
		resp, _ := auth.Get(ch.Options)
		if _, err := e.FinishPasskeyLogin(t.Context(), ch.ID, resp, other); errors.Is(err, ErrThrottled) {
			break
		}
	}
	if _, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: pw, Source: other}); !errors.Is(err, ErrThrottled) {
		t.Errorf("CheckPassword after %d failed passkey sign-ins = %v, want ErrThrottled", DefaultThrottle.Account.Free+1, err)
	}
}

func TestPasskeyDisabledUserRefused(t *testing.T) {
	e, p := pkEnv(t, PasskeyConfig{})
	auth := webauthntest.New(testOrigin)
	register(t, e, auth, p, "laptop")
	if _, err := e.store.DisableUser(t.Context(), "alice", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(t, e, auth, ""); !errors.Is(err, ErrUserDisabled) {
		t.Errorf("passkey sign-in of a disabled user = %v, want ErrUserDisabled", err)
	}
}

func TestPasskeysOff(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.BeginPasskeyLogin(t.Context(), ""); !errors.Is(err, ErrPasskeysOff) {
		t.Errorf("BeginPasskeyLogin without an RP ID = %v, want ErrPasskeysOff", err)
	}
}

// BenchmarkPasskeySignIn: begin and finish of a discoverable passkey
// sign-in (the authenticator's signature included), SQLite in a temp dir.
func BenchmarkPasskeySignIn(b *testing.B) {
	e := newEnv(b, Config{Passkeys: PasskeyConfig{RPID: testRPID, Origins: []string{testOrigin}}})
	if err := e.st.CreateUser(b.Context(), api.User{Name: "alice"}); err != nil {
		b.Fatal(err)
	}
	auth := webauthntest.New(testOrigin)
	p := Proof{user: "alice", methods: []string{MethodPassword, MethodTOTP}, authAt: e.clock.Now(), mfaAt: e.clock.Now()}
	ch, _ := e.BeginPasskeyRegistration(b.Context(), p, "laptop")
	resp, _ := auth.Create(ch.Options)
	if _, err := e.FinishPasskeyRegistration(b.Context(), p, ch.ID, resp); err != nil {
		b.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.1")
	for b.Loop() {
		ch, _ := e.BeginPasskeyLogin(b.Context(), "")
		resp, _ := auth.Get(ch.Options)
		if _, err := e.FinishPasskeyLogin(b.Context(), ch.ID, resp, src); err != nil {
			b.Fatal(err)
		}
	}
}
