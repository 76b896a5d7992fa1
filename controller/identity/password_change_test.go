package identity

import (
	"errors"
	"testing"
)

// TestPasswordChangeEndsOtherSessions: an admin setting a password ends
// every session of the user (SessionRevoked, password_changed, by the
// admin); the user changing their own keeps the session they did it from.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	e := newEnv(t, Config{})
	ctx := t.Context()
	e.user(t, "alice")
	e.device(t, "alice", "dev1")
	e.device(t, "alice", "dev2")
	s1, tok1 := e.signIn(t, "alice", "", "dev1")
	_, tok2 := e.signIn(t, "alice", "", "dev2")
	e.take()

	if err := e.ChangeOwnPassword(ctx, s1, "a brand new passphrase"); err != nil {
		t.Fatalf("ChangeOwnPassword = %v", err)
	}
	if _, err := e.Authenticate(ctx, tok1.Access, "dev1"); err != nil {
		t.Errorf("Authenticate(the session that changed it) = %v, want it kept", err)
	}
	if _, err := e.Authenticate(ctx, tok2.Access, "dev2"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate(the other session) = %v, want %v", err, ErrSessionRevoked)
	}
	evs := e.take()
	if len(evs) != 1 || evs[0].Kind != SessionRevoked || evs[0].Reason != ReasonPasswordChanged || evs[0].By != "user:alice" {
		t.Errorf("events after ChangeOwnPassword = %+v, want one SessionRevoked (password_changed) by user:alice", evs)
	}

	helpdesk := Principal{Kind: PrincipalToken, Name: "desk", Role: Helpdesk}
	if err := e.ResetPassword(ctx, helpdesk, "alice", "yet another passphrase"); !errors.Is(err, ErrForbidden) {
		t.Errorf("ResetPassword as helpdesk = %v, want %v", err, ErrForbidden)
	}
	if err := e.ResetPassword(ctx, owner, "alice", "short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("ResetPassword(short) = %v, want %v", err, ErrWeakPassword)
	}
	if _, err := e.Authenticate(ctx, tok1.Access, "dev1"); err != nil {
		t.Errorf("Authenticate after refused resets = %v, want the session still live", err)
	}
	if err := e.ResetPassword(ctx, owner, "alice", "yet another passphrase"); err != nil {
		t.Fatalf("ResetPassword as owner = %v", err)
	}
	if _, err := e.Authenticate(ctx, tok1.Access, "dev1"); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("Authenticate after an admin reset = %v, want %v", err, ErrSessionRevoked)
	}
	if evs := e.take(); len(evs) != 1 || evs[0].By != owner.String() {
		t.Errorf("events after ResetPassword = %+v, want one SessionRevoked by %s", evs, owner)
	}
}
