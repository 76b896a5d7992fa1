package store_test

import (
	"errors"
	"maps"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// TestChangePasswordRevokesOtherSessions: a new password ends every live
// session of the user but the one kept, in the same transaction; other
// users' sessions stay.
func TestChangePasswordRevokesOtherSessions(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	users(t, s, "alice", "bob")
	for _, id := range []string{"a1", "a2", "a3"} {
		sess, tok := sessionAt(id, "dev")
		if err := s.CreateSession(ctx, sess, tok); err != nil {
			t.Fatal(err)
		}
	}
	bob, bobTok := sessionAt("b1", "dev")
	bob.User = "bob"
	if err := s.CreateSession(ctx, bob, bobTok); err != nil {
		t.Fatal(err)
	}
	revoked, err := s.ChangePassword(ctx, "alice", "h2", "a2", now)
	if err != nil || len(revoked) != 2 || revoked[0].ID != "a1" || revoked[1].ID != "a3" || revoked[0].RevokeReason != store.ReasonPasswordChanged {
		t.Fatalf("ChangePassword(alice, keep a2) = %+v, %v, want a1 and a3 revoked (password_changed)", revoked, err)
	}
	if a, err := s.Account(ctx, "alice"); err != nil || a.PasswordHash != "h2" {
		t.Errorf("Account(alice).PasswordHash = %q, %v, want h2", a.PasswordHash, err)
	}
	all, err := s.ListAllSessions(ctx)
	if err != nil || len(all) != 4 {
		t.Fatalf("ListAllSessions() = %+v, %v, want 4", all, err)
	}
	live := map[string]bool{}
	for _, x := range all {
		live[x.ID] = x.RevokedAt.IsZero()
	}
	if want := map[string]bool{"a1": false, "a2": true, "a3": false, "b1": true}; !maps.Equal(live, want) {
		t.Errorf("live sessions after ChangePassword = %v, want %v", live, want)
	}
	if revoked, err := s.ChangePassword(ctx, "alice", "h3", "", now); err != nil || len(revoked) != 1 || revoked[0].ID != "a2" {
		t.Errorf("ChangePassword(alice, keep none) = %+v, %v, want a2 revoked", revoked, err)
	}
	if _, err := s.ChangePassword(ctx, "nobody", "h", "", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ChangePassword(nobody) = %v, want ErrNotFound", err)
	}
}

// TestDeleteUserKeepsTheLastOwner: deleting the only owner is refused
// (the account would cascade away), and allowed with another owner.
func TestDeleteUserKeepsTheLastOwner(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	if done, err := s.BootstrapDone(ctx); err != nil || done {
		t.Fatalf("BootstrapDone() on a new store = %v, %v, want false", done, err)
	}
	if err := s.Bootstrap(ctx, api.User{Name: "root"}, "h"); err != nil {
		t.Fatal(err)
	}
	if done, err := s.BootstrapDone(ctx); err != nil || !done {
		t.Errorf("BootstrapDone() after Bootstrap = %v, %v, want true", done, err)
	}
	users(t, s, "alice")
	if err := s.DeleteUser(ctx, "root"); !errors.Is(err, store.ErrLastOwner) {
		t.Fatalf("DeleteUser(the only owner) = %v, want ErrLastOwner", err)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Errorf("DeleteUser(alice) = %v, want nil", err)
	}
	users(t, s, "alice")
	if err := s.SetRole(ctx, "alice", "owner"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "root"); err != nil {
		t.Errorf("DeleteUser(root) with alice also owner = %v, want nil", err)
	}
	if err := s.DeleteUser(ctx, "alice"); !errors.Is(err, store.ErrLastOwner) {
		t.Errorf("DeleteUser(alice, now the only owner) = %v, want ErrLastOwner", err)
	}
}
