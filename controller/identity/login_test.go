package identity

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCheckPassword(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	e.user(t, "bob")
	seed := e.withTOTP(t, "bob")
	e.user(t, "carol")
	if err := e.DisableUser(t.Context(), owner, "carol"); err != nil {
		t.Fatal(err)
	}
	e.take()
	bobCode := code(t, seed, e.clock.Now().Add(totpPeriod*time.Second)) // next step: not spent by the enrolment
	tests := []struct {
		name        string
		in          Login
		wantErr     error
		wantMethods []string
		wantEvent   Kind   // 0: none
		wantReason  string // of a LoginFailed event
	}{
		{name: "unknown user", in: Login{User: "nobody", Password: pw}, wantErr: ErrBadCredentials, wantEvent: LoginFailed, wantReason: failUnknownUser},
		{name: "wrong password", in: Login{User: "alice", Password: "wrong password"}, wantErr: ErrBadCredentials, wantEvent: LoginFailed, wantReason: failBadPassword},
		{name: "password only", in: Login{User: "alice", Password: pw}, wantMethods: []string{"pwd"}, wantEvent: LoginSucceeded},
		{name: "TOTP account without code", in: Login{User: "bob", Password: pw}, wantErr: ErrMFARequired},
		{name: "TOTP account, wrong password, no code", in: Login{User: "bob", Password: "wrong"}, wantErr: ErrBadCredentials, wantEvent: LoginFailed, wantReason: failBadPassword},
		{name: "TOTP account, wrong code", in: Login{User: "bob", Password: pw, Code: "99999"}, wantErr: ErrBadCredentials, wantEvent: LoginFailed, wantReason: failBadCode},
		{name: "TOTP account with code", in: Login{User: "bob", Password: pw, Code: bobCode}, wantMethods: []string{"pwd", "otp"}, wantEvent: LoginSucceeded},
		{name: "the same code again", in: Login{User: "bob", Password: pw, Code: bobCode}, wantErr: ErrBadCredentials, wantEvent: LoginFailed, wantReason: failCodeReplayed},
		{name: "disabled user, right password", in: Login{User: "carol", Password: pw}, wantErr: ErrUserDisabled, wantEvent: LoginFailed, wantReason: failDisabled},
		{name: "disabled user, wrong password", in: Login{User: "carol", Password: "wrong"}, wantErr: ErrBadCredentials, wantEvent: LoginFailed, wantReason: failBadPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Source = netip.MustParseAddr("198.51.100.7")
			p, err := e.CheckPassword(t.Context(), tt.in)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("CheckPassword(%+v) = %v, want %v", tt.in, err, tt.wantErr)
			}
			if err == nil && (p.User() != tt.in.User || !slices.Equal(p.Methods(), tt.wantMethods) || p.MFA() != (len(tt.wantMethods) == 2) || !p.authAt.Equal(e.clock.Now())) {
				t.Errorf("CheckPassword(%+v) = %+v, want user %s with methods %v at now", tt.in, p, tt.in.User, tt.wantMethods)
			}
			evs := e.take()
			switch {
			case tt.wantEvent == 0 && len(evs) != 0:
				t.Errorf("events = %+v, want none", evs)
			case tt.wantEvent != 0 && (len(evs) != 1 || evs[0].Kind != tt.wantEvent || evs[0].Reason != tt.wantReason || evs[0].Source != tt.in.Source):
				t.Errorf("events = %+v, want one %v with reason %q from %v", evs, tt.wantEvent, tt.wantReason, tt.in.Source)
			}
		})
	}
}

// TestErrorsDoNotTellWhy: a client cannot tell an unknown user from a
// wrong password.
func TestErrorsDoNotTellWhy(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	_, unknown := e.CheckPassword(t.Context(), Login{User: "nobody", Password: pw})
	_, wrong := e.CheckPassword(t.Context(), Login{User: "alice", Password: "wrong password"})
	if unknown == nil || wrong == nil || unknown.Error() != wrong.Error() || strings.Contains(wrong.Error(), "alice") {
		t.Errorf("errors for an unknown user %q and a wrong password %q differ or name the user", unknown, wrong)
	}
}

func TestRehashOnSignIn(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice") // hashed with fastPasswords
	stronger := fastPasswords
	stronger.Memory = 128
	e2 := New(e.st, e.clock, Config{Password: stronger}, e.log)
	if _, err := e2.CheckPassword(t.Context(), Login{User: "alice", Password: "wrong password"}); err == nil {
		t.Fatal("CheckPassword with a wrong password = nil")
	}
	before, _ := e.st.Account(t.Context(), "alice")
	if !strings.Contains(before.PasswordHash, "m=64,") {
		t.Fatalf("a failed sign-in changed the hash to %q", before.PasswordHash)
	}
	if _, err := e2.CheckPassword(t.Context(), Login{User: "alice", Password: pw}); err != nil {
		t.Fatalf("CheckPassword = %v", err)
	}
	after, _ := e.st.Account(t.Context(), "alice")
	if !strings.Contains(after.PasswordHash, "m=128,") {
		t.Errorf("hash after sign-in with new parameters = %q, want m=128", after.PasswordHash)
	}
	if _, err := e2.CheckPassword(t.Context(), Login{User: "alice", Password: pw}); err != nil {
		t.Errorf("CheckPassword after the rehash = %v", err)
	}
}

func TestSetPassword(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	if err := e.SetPassword(t.Context(), "alice", "short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("SetPassword(short) = %v, want %v", err, ErrWeakPassword)
	}
	if err := e.SetPassword(t.Context(), "nobody", pw); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(nobody) = %v, want %v", err, ErrNotFound)
	}
	if err := e.SetPassword(t.Context(), "alice", "a new passphrase"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: pw}); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("CheckPassword(old password) = %v, want %v", err, ErrBadCredentials)
	}
	if _, err := e.CheckPassword(t.Context(), Login{User: "alice", Password: "a new passphrase"}); err != nil {
		t.Errorf("CheckPassword(new password) = %v", err)
	}
}

// TestConcurrentCodeSpend: two sign-ins with one TOTP code at once — one
// gets in.
func TestConcurrentCodeSpend(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "bob")
	seed := e.withTOTP(t, "bob")
	c := code(t, seed, e.clock.Now().Add(totpPeriod*time.Second))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.CheckPassword(t.Context(), Login{User: "bob", Password: pw, Code: c, Source: netip.MustParseAddr("192.0.2.1")})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrBadCredentials) {
			t.Errorf("CheckPassword = %v, want nil or %v", err, ErrBadCredentials)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent sign-ins with one code got in, want 1", ok, len(errs))
	}
}
