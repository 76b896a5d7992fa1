package identity

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var ffSource = netip.MustParseAddr("198.51.100.9")

// passwordStep runs SignInPassword for user with pw and binding, wanting
// a FirstFactor.
func (e *env) passwordStep(t *testing.T, user, binding string) FirstFactor {
	t.Helper()
	p, ff, err := e.SignInPassword(t.Context(), Login{User: user, Password: pw, Source: ffSource}, binding)
	if !errors.Is(err, ErrMFARequired) || p.User() != "" || ff.User() != user || ff.id == "" {
		t.Fatalf("SignInPassword(%s) = %+v, %+v, %v; want a FirstFactor and ErrMFARequired", user, p, ff, err)
	}
	return ff
}

// TestTwoStepSignIn: the password step of an account without TOTP signs
// in; with TOTP it gives a FirstFactor (counting nothing), and the code
// step turns it into a password+TOTP Proof once.
func TestTwoStepSignIn(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	e.user(t, "bob")
	seed := e.withTOTP(t, "bob")
	e.take()

	p, ff, err := e.SignInPassword(t.Context(), Login{User: "alice", Password: pw, Source: ffSource}, "b1")
	if err != nil || p.User() != "alice" || !slices.Equal(p.Methods(), []string{"pwd"}) || ff.id != "" {
		t.Fatalf("SignInPassword(alice) = %+v, %+v, %v; want her password Proof and no FirstFactor", p, ff, err)
	}
	if k := e.kinds(); !hasKinds(k, LoginSucceeded) {
		t.Errorf("events = %v, want LoginSucceeded", k)
	}

	pwAt := e.clock.Now()
	ff = e.passwordStep(t, "bob", "b2")
	if k := e.kinds(); len(k) != 0 {
		t.Errorf("events after the password step = %v, want none (not a sign-in yet)", k)
	}
	if !ff.ExpiresAt().Equal(pwAt.Add(DefaultFirstFactorTTL)) {
		t.Errorf("FirstFactor expires at %v, want %v", ff.ExpiresAt(), pwAt.Add(DefaultFirstFactorTTL))
	}
	e.clock.Advance(totpPeriod * time.Second)
	p, err = e.CompleteTOTP(t.Context(), ff, "b2", code(t, seed, e.clock.Now()), ffSource)
	if err != nil || p.User() != "bob" || !slices.Equal(p.Methods(), []string{"pwd", "otp"}) || !p.MFA() ||
		!p.authAt.Equal(pwAt) || !p.mfaAt.Equal(e.clock.Now()) {
		t.Fatalf("CompleteTOTP = %+v, %v; want bob's pwd+otp Proof, auth at the password, MFA now", p, err)
	}
	if k := e.kinds(); !hasKinds(k, LoginSucceeded) {
		t.Errorf("events = %v, want LoginSucceeded", k)
	}
	// Single use: the next step's valid code does not make a second Proof.
	e.clock.Advance(totpPeriod * time.Second)
	if p, err := e.CompleteTOTP(t.Context(), ff, "b2", code(t, seed, e.clock.Now()), ffSource); !errors.Is(err, ErrFirstFactorSpent) || p.User() != "" {
		t.Errorf("CompleteTOTP(spent FirstFactor) = %+v, %v; want ErrFirstFactorSpent", p, err)
	}
}

// TestFirstFactorNeedsValidCode: a FirstFactor becomes a Proof only with
// a valid, unspent code of its user, with its binding, in time.
// Red: CompleteTOTP without its code check (checkCode skipped) makes
// Proofs from the wrong, empty, replayed and foreign codes.
func TestFirstFactorNeedsValidCode(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "bob")
	e.user(t, "carol")
	seed := e.withTOTP(t, "bob")
	carolSeed := e.withTOTP(t, "carol")
	spent := code(t, seed, e.clock.Now()) // the enrolment used this step
	e.clock.Advance(totpPeriod * time.Second)
	good := code(t, seed, e.clock.Now())
	wrong := "000000"
	if wrong == good {
		wrong = "111111"
	}
	tests := []struct {
		name    string
		binding string
		code    string
		edit    func(*FirstFactor)
		before  func(t *testing.T)
		wantErr error
	}{
		{name: "wrong code", binding: "b", code: wrong, wantErr: ErrBadCredentials},
		{name: "no code", binding: "b", code: "", wantErr: ErrBadCredentials},
		{name: "replayed code (step spent)", binding: "b", code: spent, wantErr: ErrBadCredentials},
		{name: "another account's code", binding: "b", code: code(t, carolSeed, e.clock.Now()), wantErr: ErrBadCredentials},
		{name: "another sign-in's binding", binding: "other", code: good, wantErr: ErrFirstFactorSpent},
		{name: "forged FirstFactor", binding: "b", code: good, edit: func(f *FirstFactor) { *f = FirstFactor{user: "bob"} }, wantErr: ErrFirstFactorSpent},
		{name: "expired", binding: "b", code: good, before: func(*testing.T) { e.clock.Advance(DefaultFirstFactorTTL) }, wantErr: ErrFirstFactorSpent},
		{name: "password changed in between", binding: "b", code: good, before: func(t *testing.T) {
			if err := e.SetPassword(t.Context(), "bob", pw+" new"); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrFirstFactorSpent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.SetPassword(t.Context(), "bob", pw); err != nil {
				t.Fatal(err)
			}
			e.throttle.Unlock("bob")
			ff := e.passwordStep(t, "bob", "b")
			if tt.before != nil {
				tt.before(t)
			}
			if tt.edit != nil {
				tt.edit(&ff)
			}
			p, err := e.CompleteTOTP(t.Context(), ff, tt.binding, tt.code, ffSource)
			if !errors.Is(err, tt.wantErr) || p.User() != "" || p.MFA() {
				t.Errorf("CompleteTOTP(%s) = %+v, %v; want no Proof and %v", tt.name, p, err, tt.wantErr)
			}
			e.clock.Advance(-e.clock.Now().Sub(start.Add(totpPeriod * time.Second))) // back to good's step
		})
	}

	// A wrong code leaves the FirstFactor for another try, maxCodeTries in all.
	if err := e.SetPassword(t.Context(), "bob", pw); err != nil {
		t.Fatal(err)
	}
	e.throttle.Unlock("bob")
	ff := e.passwordStep(t, "bob", "b")
	for range maxCodeTries - 1 {
		if _, err := e.CompleteTOTP(t.Context(), ff, "b", wrong, ffSource); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("CompleteTOTP(wrong) = %v, want ErrBadCredentials", err)
		}
	}
	if p, err := e.CompleteTOTP(t.Context(), ff, "b", good, ffSource); err != nil || !p.MFA() {
		t.Fatalf("CompleteTOTP(good, after %d wrong) = %+v, %v; want the Proof", maxCodeTries-1, p, err)
	}
	e.clock.Advance(totpPeriod * time.Second)
	e.throttle.Unlock("bob")
	ff = e.passwordStep(t, "bob", "b")
	for range maxCodeTries {
		e.CompleteTOTP(t.Context(), ff, "b", wrong, ffSource)
	}
	e.throttle.Unlock("bob")
	if p, err := e.CompleteTOTP(t.Context(), ff, "b", code(t, seed, e.clock.Now()), ffSource); !errors.Is(err, ErrFirstFactorSpent) || p.User() != "" {
		t.Errorf("CompleteTOTP(good, after %d wrong) = %+v, %v; want ErrFirstFactorSpent", maxCodeTries, p, err)
	}
}

// TestFirstFactorThrottled: wrong codes count on the account's backoff
// like wrong passwords; a throttled code step checks nothing and keeps
// the FirstFactor; after the wait the right code works.
func TestFirstFactorThrottled(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "bob")
	seed := e.withTOTP(t, "bob")
	e.clock.Advance(totpPeriod * time.Second)
	free := DefaultThrottle.Account.Free
	ff := e.passwordStep(t, "bob", "b")
	for range maxCodeTries {
		e.CompleteTOTP(t.Context(), ff, "b", "000000", ffSource)
	}
	ff = e.passwordStep(t, "bob", "b") // 5 failures: still free
	for i := maxCodeTries; i <= free; i++ {
		if _, err := e.CompleteTOTP(t.Context(), ff, "b", "000000", ffSource); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("wrong code %d = %v, want ErrBadCredentials", i+1, err)
		}
	}
	_, err := e.CompleteTOTP(t.Context(), ff, "b", code(t, seed, e.clock.Now()), ffSource)
	if te, ok := errors.AsType[*ThrottledError](err); !ok || te.RetryAfter <= 0 {
		t.Fatalf("code step after %d failures = %v, want a ThrottledError", free+1, err)
	}
	e.clock.Advance(DefaultThrottle.Account.Base)
	if p, err := e.CompleteTOTP(t.Context(), ff, "b", code(t, seed, e.clock.Now()), ffSource); err != nil || !p.MFA() {
		t.Errorf("code step after the wait = %+v, %v; want the Proof (the throttled try kept the FirstFactor)", p, err)
	}
}
