package store_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

func TestUpstreamSignIn(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	login := func(subject, user string, groups ...string) (store.UpstreamUser, error) {
		return s.UpstreamSignIn(ctx, store.UpstreamLogin{Issuer: "https://idp", Subject: subject, User: user,
			Email: user, Groups: groups, Managed: []string{"engineers", "operators"}, At: now})
	}
	groupsOf := func(user string) string {
		u, err := s.GetUser(ctx, user)
		if err != nil {
			t.Fatalf("GetUser(%q) = %v", user, err)
		}
		return fmt.Sprint(u.Groups)
	}

	got, err := login("s-alice", "alice@example.com", "engineers")
	if err != nil || got != (store.UpstreamUser{User: "alice@example.com", Created: true, GroupsChanged: true}) {
		t.Fatalf("first UpstreamSignIn = %+v, %v; want user created with its groups", got, err)
	}
	// An admin adds alice to a group the IdP does not manage: it stays.
	if err := s.AddMember(ctx, "engineers", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, api.Group{Name: "auditors"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddMember(ctx, "auditors", "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	// Same subject, another name at the IdP: the linked user, groups replaced.
	got, err = login("s-alice", "renamed@example.com", "operators")
	if err != nil || got != (store.UpstreamUser{User: "alice@example.com", GroupsChanged: true}) {
		t.Fatalf("second UpstreamSignIn = %+v, %v; want the linked user", got, err)
	}
	if g := groupsOf("alice@example.com"); g != "[auditors operators]" {
		t.Errorf("groups after the IdP moved alice = %s, want [auditors operators]", g)
	}
	if got, err = login("s-alice", "alice@example.com", "operators"); err != nil || got.GroupsChanged {
		t.Errorf("UpstreamSignIn with the same groups = %+v, %v; want no change", got, err)
	}

	// A user with a built-in password is not taken over.
	users(t, s, "bob@example.com")
	if err := s.SetPasswordHash(ctx, "bob@example.com", "$argon2id$x"); err != nil {
		t.Fatal(err)
	}
	if _, err := login("s-bob", "bob@example.com"); !errors.Is(err, store.ErrExists) {
		t.Errorf("UpstreamSignIn onto a password user = %v, want ErrExists", err)
	}
	// A user an admin made (no password, no link) is linked.
	users(t, s, "carol@example.com")
	if got, err := login("s-carol", "carol@example.com"); err != nil || got.Created {
		t.Errorf("UpstreamSignIn onto an admin-made user = %+v, %v; want linked, not created", got, err)
	}
	// Another subject claiming carol's name is refused.
	if _, err := login("s-mallory", "carol@example.com"); !errors.Is(err, store.ErrExists) {
		t.Errorf("UpstreamSignIn of another subject onto a linked user = %v, want ErrExists", err)
	}

	// A refresh: the IdP drops alice from operators.
	got, err = s.SetUpstreamGroups(ctx, "https://idp", "s-alice", nil, []string{"engineers", "operators"}, nil)
	if err != nil || !got.GroupsChanged {
		t.Fatalf("SetUpstreamGroups = %+v, %v; want changed", got, err)
	}
	if g := groupsOf("alice@example.com"); g != "[auditors]" {
		t.Errorf("groups after the IdP dropped alice = %s, want [auditors]", g)
	}
	if _, err := s.SetUpstreamGroups(ctx, "https://idp", "s-nobody", nil, nil, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetUpstreamGroups(unknown) = %v, want ErrNotFound", err)
	}
	ids, err := s.ExternalIdentities(ctx, "alice@example.com")
	if err != nil || len(ids) != 1 || ids[0].Subject != "s-alice" {
		t.Errorf("ExternalIdentities = %+v, %v; want the one link", ids, err)
	}
	// Deleting the user deletes its link: the next sign-in makes a new user.
	if err := s.DeleteUser(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, err := login("s-alice", "alice@example.com"); err != nil || !got.Created {
		t.Errorf("UpstreamSignIn after the user was deleted = %+v, %v; want a new user", got, err)
	}
}

func TestUpstreamSession(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.UpstreamSignIn(ctx, store.UpstreamLogin{Issuer: "https://idp", Subject: "s-alice", User: "alice", At: now}); err != nil {
		t.Fatal(err)
	}
	sess, toks := sessionAt("s1", "dev1")
	if err := s.CreateUpstreamSession(ctx, sess, toks, "https://idp", "s-alice", "idp-refresh-1"); err != nil {
		t.Fatalf("CreateUpstreamSession = %v", err)
	}
	got, err := s.UpstreamSessionByRefresh(ctx, toks.RefreshHash)
	if err != nil || got.ID != "s1" || got.Subject != "s-alice" || got.RefreshToken != "idp-refresh-1" {
		t.Fatalf("UpstreamSessionByRefresh = %+v, %v", got, err)
	}
	if err := s.SetUpstreamRefreshToken(ctx, "s1", "idp-refresh-2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.UpstreamSessionByRefresh(ctx, toks.RefreshHash); got.RefreshToken != "idp-refresh-2" {
		t.Errorf("refresh token after SetUpstreamRefreshToken = %q, want idp-refresh-2", got.RefreshToken)
	}
	plain, ptoks := sessionAt("s2", "dev1")
	if err := s.CreateSession(ctx, plain, ptoks); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpstreamSessionByRefresh(ctx, ptoks.RefreshHash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpstreamSessionByRefresh(a password session) = %v, want ErrNotFound", err)
	}
}

// TestUpstreamClaims: the claims of a sign-in are stored on the link,
// read back for policy by user, replaced at a refresh, and reported
// changed only when they differ; a user without a link has none.
func TestUpstreamClaims(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	sre := map[string]string{"sub": "s-alice", "department": "sre", "name": `Alice "Al" Liddell`}
	got, err := s.UpstreamSignIn(ctx, store.UpstreamLogin{Issuer: "https://idp", Subject: "s-alice", User: "alice", Claims: sre, At: now})
	if err != nil || !got.ClaimsChanged {
		t.Fatalf("UpstreamSignIn(claims) = %+v, %v; want claims changed", got, err)
	}
	if err := s.CreateUser(ctx, api.User{Name: "carol"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.UpstreamClaims(ctx)
	if err != nil || !maps.Equal(all["alice"], sre) || len(all) != 1 {
		t.Errorf("UpstreamClaims = %v, %v; want alice's claims %v only", all, err, sre)
	}
	ids, err := s.ExternalIdentities(ctx, "alice")
	if err != nil || len(ids) != 1 || !maps.Equal(ids[0].Claims, sre) {
		t.Errorf("ExternalIdentities = %+v, %v; want the link with claims %v", ids, err, sre)
	}
	got, err = s.SetUpstreamGroups(ctx, "https://idp", "s-alice", nil, nil, maps.Clone(sre))
	if err != nil || got.ClaimsChanged {
		t.Errorf("SetUpstreamGroups(same claims) = %+v, %v; want claims unchanged", got, err)
	}
	sales := map[string]string{"sub": "s-alice", "department": "sales"}
	got, err = s.SetUpstreamGroups(ctx, "https://idp", "s-alice", nil, nil, sales)
	if err != nil || !got.ClaimsChanged {
		t.Errorf("SetUpstreamGroups(new claims) = %+v, %v; want claims changed", got, err)
	}
	if all, err := s.UpstreamClaims(ctx); err != nil || !maps.Equal(all["alice"], sales) {
		t.Errorf("UpstreamClaims after a refresh = %v, %v; want %v", all, err, sales)
	}
}
