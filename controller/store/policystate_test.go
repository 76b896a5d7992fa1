package store_test

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

func seedPolicy(t *testing.T, s *store.SQLite) store.PolicyState {
	t.Helper()
	ctx := t.Context()
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, api.User{Name: u, Groups: []string{"eng"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateApp(ctx, api.App{Name: "grafana", Upstreams: []string{"127.0.0.1:3000"}, VirtualIP: "100.96.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApp(ctx, api.App{Name: "wiki", Upstreams: []string{"127.0.0.1:8080"}, VirtualIP: "100.96.0.2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProfile(ctx, api.PostureProfile{Name: "laptop", DiskEncryption: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePolicy(ctx, api.Policy{Name: "p", Groups: []string{"eng"}, Apps: []string{"grafana"}, PostureProfiles: []string{"laptop"}}); err != nil {
		t.Fatal(err)
	}
	live, err := s.ReadPolicy(ctx)
	if err != nil {
		t.Fatalf("ReadPolicy = %v", err)
	}
	return live
}

func accept(store.PolicyState) error { return nil }

// TestReplacePolicy: the stored state becomes the wanted one, creates,
// updates, deletes and memberships alike; users stay.
func TestReplacePolicy(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	seedPolicy(t, s)
	want := store.PolicyState{
		Groups:   []api.Group{{Name: "ops", Members: []string{"bob"}}},
		Apps:     []api.App{{Name: "grafana", Upstreams: []string{"127.0.0.1:3001"}, VirtualIP: "100.96.0.1"}, {Name: "jira", Upstreams: []string{"127.0.0.1:9000"}, VirtualIP: "100.96.0.2"}},
		Profiles: []api.PostureProfile{{Name: "laptop", Firewall: true, RequiredProcesses: []string{}}},
		Policies: []api.Policy{{Name: "q", Groups: []string{"ops"}, Apps: []string{"jira"}, PostureProfiles: []string{}}},
	}
	if err := s.ReplacePolicy(ctx, want, accept); err != nil {
		t.Fatalf("ReplacePolicy = %v", err)
	}
	got, err := s.ReadPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want.Apps[0].Protocol, want.Apps[1].Protocol = "", ""
	if !reflect.DeepEqual(got.Groups, want.Groups) || !reflect.DeepEqual(got.Apps, want.Apps) ||
		!reflect.DeepEqual(got.Profiles, want.Profiles) || !reflect.DeepEqual(got.Policies, want.Policies) {
		t.Errorf("ReadPolicy after ReplacePolicy = %+v, want %+v", got, want)
	}
	if u, err := s.GetUser(ctx, "alice"); err != nil || len(u.Groups) != 0 {
		t.Errorf("GetUser(alice) = %+v, %v; want her kept, in no group (eng is gone)", u, err)
	}
}

// TestReplacePolicyAllOrNothing: a replace that fails halfway (a member
// who is no user, found after the policies, profiles and apps were
// written) or whose check refuses changes nothing.
func TestReplacePolicyAllOrNothing(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	before := seedPolicy(t, s)
	want := store.PolicyState{
		Groups:   []api.Group{{Name: "eng", Members: []string{"alice", "mallory"}}},
		Apps:     []api.App{{Name: "jira", Upstreams: []string{"127.0.0.1:9000"}, VirtualIP: "100.96.0.9"}},
		Policies: []api.Policy{{Name: "q", Groups: []string{"eng"}, Apps: []string{"jira"}}},
	}
	err := s.ReplacePolicy(ctx, want, accept)
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReplacePolicy(member mallory, no such user) = %v, want ErrNotFound", err)
	}
	refused := errors.New("version moved")
	if err := s.ReplacePolicy(ctx, store.PolicyState{}, func(store.PolicyState) error { return refused }); !errors.Is(err, refused) {
		t.Errorf("ReplacePolicy(check refuses) = %v, want the check's error", err)
	}
	after, err := s.ReadPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("ReadPolicy after failed replaces = %+v, want it unchanged: %+v", after, before)
	}
}

// TestReplacePolicyExceptions: a replace creates, updates and deletes
// exceptions with the rest; a live exception keeps its record of who
// made it and when, whatever the wanted one says; an exception naming
// no user fails the whole replace.
func TestReplacePolicyExceptions(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	seedPolicy(t, s)
	made := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	until := made.Add(72 * time.Hour)
	for _, id := range []string{"fw-alice", "old"} {
		if _, err := s.CreateException(ctx, api.Exception{ID: id, User: "alice", Checks: []string{"firewall"}, Owner: "it",
			Reason: "r", ExpiresAt: until, CreatedBy: "user carol"}, made); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.ReadPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := before
	want.Exceptions = []api.Exception{
		{ID: "fw-alice", User: "alice", Checks: []string{"firewall", "disk_encryption"}, Owner: "it", Reason: "r2", ExpiresAt: until, CreatedBy: "file", CreatedAt: made.Add(time.Hour)},
		{ID: "new", User: "bob", Checks: []string{"firewall"}, Owner: "it", Reason: "r", ExpiresAt: until, CreatedBy: "user dave", CreatedAt: made.Add(time.Hour)},
	}
	if err := s.ReplacePolicy(ctx, want, accept); err != nil {
		t.Fatalf("ReplacePolicy = %v", err)
	}
	got, err := s.ReadPolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantExc := []api.Exception{want.Exceptions[0], want.Exceptions[1]}
	wantExc[0].CreatedBy, wantExc[0].CreatedAt = "user carol", made
	if !reflect.DeepEqual(got.Exceptions, wantExc) {
		t.Errorf("exceptions after ReplacePolicy = %+v, want %+v", got.Exceptions, wantExc)
	}

	bad := got
	bad.Exceptions = append(slices.Clone(got.Exceptions), api.Exception{ID: "ghost", User: "nobody", Checks: []string{"firewall"}, Owner: "it", Reason: "r", ExpiresAt: until})
	if err := s.ReplacePolicy(ctx, bad, accept); err == nil {
		t.Error("ReplacePolicy(an exception for no user) = nil, want an error")
	}
	if after, err := s.ReadPolicy(ctx); err != nil || !reflect.DeepEqual(after, got) {
		t.Errorf("ReadPolicy after a failed replace = %+v, %v; want it unchanged: %+v", after, err, got)
	}
}
