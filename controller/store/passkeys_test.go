package store_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

func TestPasskeys(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, api.User{Name: u}); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.WebAuthnHandle(ctx, "alice", []byte("handle-1"))
	if err != nil || !bytes.Equal(h, []byte("handle-1")) {
		t.Fatalf("WebAuthnHandle(alice) = %q, %v; want the candidate", h, err)
	}
	if h, _ := s.WebAuthnHandle(ctx, "alice", []byte("handle-2")); !bytes.Equal(h, []byte("handle-1")) {
		t.Errorf("second WebAuthnHandle(alice) = %q, want the first handle kept", h)
	}
	if u, err := s.UserByWebAuthnHandle(ctx, []byte("handle-1")); err != nil || u != "alice" {
		t.Errorf("UserByWebAuthnHandle = %q, %v; want alice", u, err)
	}
	if _, err := s.WebAuthnHandle(ctx, "nobody", []byte("h")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("WebAuthnHandle(nobody) = %v, want ErrNotFound", err)
	}
	key := store.Passkey{ID: "cred-1", User: "alice", Name: "laptop", Credential: []byte(`{}`), CreatedAt: now}
	if err := s.CreatePasskey(ctx, key); err != nil {
		t.Fatalf("CreatePasskey = %v", err)
	}
	for name, p := range map[string]store.Passkey{
		"same ID":   {ID: "cred-1", User: "bob", Name: "x", Credential: []byte(`{}`), CreatedAt: now},
		"same name": {ID: "cred-2", User: "alice", Name: "laptop", Credential: []byte(`{}`), CreatedAt: now},
	} {
		if err := s.CreatePasskey(ctx, p); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreatePasskey(%s) = %v, want ErrExists", name, err)
		}
	}
	// The counter moves forward only.
	steps := []struct {
		count uint32
		want  error
	}{{1, nil}, {5, nil}, {5, store.ErrReplayed}, {3, store.ErrReplayed}, {0, store.ErrReplayed}, {6, nil}}
	for _, st := range steps {
		if err := s.UsePasskey(ctx, "cred-1", st.count, now); !errors.Is(err, st.want) {
			t.Errorf("UsePasskey(count %d) = %v, want %v", st.count, err, st.want)
		}
	}
	if p, _ := s.PasskeyByID(ctx, "cred-1"); p.SignCount != 6 || !p.LastUsedAt.Equal(now) {
		t.Errorf("after the uses: counter %d, last used %v; want 6 and now", p.SignCount, p.LastUsedAt)
	}
	if err := s.DeletePasskey(ctx, "bob", "cred-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeletePasskey(bob, alice's) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasskeyByID(ctx, "cred-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted user's passkey: PasskeyByID = %v, want ErrNotFound", err)
	}
	if _, err := s.UserByWebAuthnHandle(ctx, []byte("handle-1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted user's handle: UserByWebAuthnHandle = %v, want ErrNotFound", err)
	}
}
