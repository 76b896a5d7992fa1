package identity

import (
	"errors"
	"testing"
	"time"
)

func TestMatchTOTP(t *testing.T) {
	const seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := start.Add(10 * time.Second) // inside step cur
	cur := now.Unix() / totpPeriod
	at := func(steps int64) time.Time { return time.Unix((cur+steps)*totpPeriod, 0) }
	tests := []struct {
		name     string
		code     string
		last     int64
		wantStep int64
		wantErr  error
	}{
		{name: "current step", code: code(t, seed, now), wantStep: cur},
		{name: "one step behind (drift)", code: code(t, seed, at(-1)), wantStep: cur - 1},
		{name: "one step ahead (drift)", code: code(t, seed, at(1)), wantStep: cur + 1},
		{name: "two steps behind", code: code(t, seed, at(-2)), wantErr: errCodeWrong},
		{name: "two steps ahead", code: code(t, seed, at(2)), wantErr: errCodeWrong},
		{name: "spaces are ignored", code: code(t, seed, now)[:3] + " " + code(t, seed, now)[3:], wantStep: cur},
		{name: "current step used already", code: code(t, seed, now), last: cur, wantErr: errCodeReplayed},
		{name: "previous step used already", code: code(t, seed, at(-1)), last: cur - 1, wantErr: errCodeReplayed},
		{name: "previous step's code after a later one was used", code: code(t, seed, at(-1)), last: cur, wantErr: errCodeReplayed},
		{name: "next step not used yet", code: code(t, seed, at(1)), last: cur, wantStep: cur + 1},
		{name: "wrong code", code: "000000", wantErr: errCodeWrong},
		{name: "too short", code: "12345", wantErr: errCodeWrong},
		{name: "too long", code: "1234567", wantErr: errCodeWrong},
		{name: "empty", code: "", wantErr: errCodeWrong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "wrong code" && code(t, seed, now) == "000000" {
				t.Skip("the real code is 000000")
			}
			step, err := matchTOTP(seed, tt.code, now, tt.last)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || step != tt.wantStep {
				t.Errorf("matchTOTP(%q, last %d) = %d, %v, want %d, %v", tt.code, tt.last, step, err, tt.wantStep, tt.wantErr)
			}
		})
	}
}

func TestTOTPEnrolment(t *testing.T) {
	e := newEnv(t, Config{})
	e.user(t, "alice")
	ctx := t.Context()
	if err := e.ConfirmTOTP(ctx, "alice", "123456"); err == nil {
		t.Errorf("ConfirmTOTP without an enrolment = nil, want an error")
	}
	enr, err := e.BeginTOTP(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(enr.Secret) != 32 || enr.URL == "" {
		t.Errorf("BeginTOTP() = %+v, want a 160-bit base32 seed and its otpauth URL", enr)
	}
	// Until confirmed, sign-in does not ask for a code.
	if _, err := e.CheckPassword(ctx, Login{User: "alice", Password: pw}); err != nil {
		t.Errorf("CheckPassword before the TOTP is confirmed = %v, want nil", err)
	}
	wrong := code(t, enr.Secret, e.clock.Now().Add(-5*time.Minute))
	if err := e.ConfirmTOTP(ctx, "alice", wrong); err == nil {
		t.Errorf("ConfirmTOTP with a stale code = nil, want an error")
	}
	confirming := code(t, enr.Secret, e.clock.Now())
	if err := e.ConfirmTOTP(ctx, "alice", confirming); err != nil {
		t.Fatalf("ConfirmTOTP = %v", err)
	}
	// The code that confirmed the enrolment cannot sign in.
	if _, err := e.CheckPassword(ctx, Login{User: "alice", Password: pw, Code: confirming}); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("CheckPassword with the confirming code = %v, want %v", err, ErrBadCredentials)
	}
	if err := e.RemoveTOTP(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CheckPassword(ctx, Login{User: "alice", Password: pw}); err != nil {
		t.Errorf("CheckPassword after RemoveTOTP = %v, want nil", err)
	}
}
