package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// open opens the store at path and closes it when the test ends.
func open(t *testing.T, path string) *store.SQLite {
	t.Helper()
	s, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) (*store.SQLite, string) {
	path := filepath.Join(t.TempDir(), "data dir?#", "gatehouse.db") // Open must escape the path
	return open(t, path), path
}

// step is one call in a table test that runs its rows in order against one
// store: run makes the call, want is what it should return.
type step struct {
	name    string
	run     func(ctx context.Context) (any, error)
	want    any
	wantErr error
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run(t.Context())
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("%s: error %v, want %v", tt.name, err, tt.wantErr)
			}
			if err == nil && tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.name, got, tt.want)
			}
		})
	}
}

// only drops a result so error-only calls fit a step.
func only(err error) (any, error) { return nil, err }

// kind is one kind of named object and its five Store methods.
type kind[T any] struct {
	noun                   string
	create, update         func(context.Context, T) error
	get                    func(context.Context, string) (T, error)
	del                    func(context.Context, string) error
	list                   func(context.Context) ([]T, error)
	first, changed, second T // first and changed share a name, less than second's
	firstName, secondName  string
}

// crudSteps creates, reads, updates, lists and deletes k's objects,
// including every ErrExists and ErrNotFound case.
func crudSteps[T any](k kind[T]) []step {
	call := func(verb, name string) string { return fmt.Sprintf("%s%s(%q)", verb, k.noun, name) }
	get := func(name string) func(context.Context) (any, error) {
		return func(ctx context.Context) (any, error) { return k.get(ctx, name) }
	}
	list := func(ctx context.Context) (any, error) { return k.list(ctx) }
	return []step{
		{name: call("List", ""), run: list, want: []T{}},
		{name: call("Create", k.firstName), run: func(ctx context.Context) (any, error) { return only(k.create(ctx, k.first)) }},
		{name: call("Create", k.firstName) + " again", run: func(ctx context.Context) (any, error) { return only(k.create(ctx, k.changed)) }, wantErr: store.ErrExists},
		{name: call("Get", k.firstName), run: get(k.firstName), want: k.first},
		{name: call("Get", k.secondName), run: get(k.secondName), wantErr: store.ErrNotFound},
		{name: call("Update", k.firstName), run: func(ctx context.Context) (any, error) { return only(k.update(ctx, k.changed)) }},
		{name: call("Get", k.firstName) + " updated", run: get(k.firstName), want: k.changed},
		{name: call("Update", k.secondName), run: func(ctx context.Context) (any, error) { return only(k.update(ctx, k.second)) }, wantErr: store.ErrNotFound},
		{name: call("Create", k.secondName), run: func(ctx context.Context) (any, error) { return only(k.create(ctx, k.second)) }},
		{name: call("List", ""), run: list, want: []T{k.changed, k.second}},
		{name: call("Delete", k.firstName), run: func(ctx context.Context) (any, error) { return only(k.del(ctx, k.firstName)) }},
		{name: call("Delete", k.firstName) + " again", run: func(ctx context.Context) (any, error) { return only(k.del(ctx, k.firstName)) }, wantErr: store.ErrNotFound},
		{name: call("Get", k.firstName) + " deleted", run: get(k.firstName), wantErr: store.ErrNotFound},
		{name: call("List", "") + " after delete", run: list, want: []T{k.second}},
	}
}

func TestUserCRUD(t *testing.T) {
	s, _ := newStore(t)
	runSteps(t, crudSteps(kind[api.User]{
		noun: "User", create: s.CreateUser, update: s.UpdateUser, get: s.GetUser, del: s.DeleteUser, list: s.ListUsers,
		first:     api.User{Name: "alice", Email: "alice@example.com", Groups: []string{"eng", "ops"}},
		changed:   api.User{Name: "alice", Email: "a@example.com", Groups: []string{"sec"}},
		second:    api.User{Name: "bob", Groups: []string{}},
		firstName: "alice", secondName: "bob",
	}))
}

func TestAppCRUD(t *testing.T) {
	s, _ := newStore(t)
	runSteps(t, crudSteps(kind[api.App]{
		noun: "App", create: s.CreateApp, update: s.UpdateApp, get: s.GetApp, del: s.DeleteApp, list: s.ListApps,
		first:     api.App{Name: "Grafana", Upstreams: []string{"10.0.0.5:3000"}, Protocol: "tcp", Gateway: "embedded", VirtualIP: "100.80.0.1"},
		changed:   api.App{Name: "Grafana", Upstreams: []string{"10.0.0.6:3000", "10.0.0.7:3000"}, Protocol: "udp"},
		second:    api.App{Name: "grafana", Upstreams: []string{}}, // names are case-sensitive
		firstName: "Grafana", secondName: "grafana",
	}))
}

func TestProfileCRUD(t *testing.T) {
	s, _ := newStore(t)
	runSteps(t, crudSteps(kind[api.PostureProfile]{
		noun: "Profile", create: s.CreateProfile, update: s.UpdateProfile, get: s.GetProfile, del: s.DeleteProfile, list: s.ListProfiles,
		first: api.PostureProfile{Name: "laptop", OSFamily: "linux", MinKernel: "6.1", MinOSVersion: "12",
			DiskEncryption: true, Firewall: true, RequiredProcesses: []string{"falcon-sensor"},
			MinOSVersions: map[string]string{"ubuntu": "22.04", "darwin": "14.2"}, ScreenLock: true, SecureBoot: true, AutoUpdates: true,
			MaxDaysSinceUpdate: 30, MinAgentVersion: "1.4", ForbiddenSoftware: []string{"/usr/bin/nc", "anydesk"},
			RequiredFiles: []string{"/etc/corp/ca.pem"}, SIP: true, Gatekeeper: true, Antivirus: true, DomainJoined: true,
			Condition: "'corp' in device.tags"},
		// Every newer field cleared again reads back as never set.
		changed:   api.PostureProfile{Name: "laptop", OSFamily: "darwin", RequiredProcesses: []string{}},
		second:    api.PostureProfile{Name: "server", Firewall: true, RequiredProcesses: []string{}},
		firstName: "laptop", secondName: "server",
	}))
}

func TestPolicyCRUD(t *testing.T) {
	s, _ := newStore(t)
	runSteps(t, crudSteps(kind[api.Policy]{
		noun: "Policy", create: s.CreatePolicy, update: s.UpdatePolicy, get: s.GetPolicy, del: s.DeletePolicy, list: s.ListPolicies,
		first: api.Policy{Name: "eng-grafana", Groups: []string{"eng"}, Apps: []string{"grafana"}, PostureProfiles: []string{"laptop"}},
		changed: api.Policy{Name: "eng-grafana", Groups: []string{"eng", "sre"}, Apps: []string{"grafana", "loki"}, PostureProfiles: []string{},
			RequireSignIn: true, RequireMFA: true, MFAMaxAge: api.Duration(12 * time.Hour), SessionMaxAge: api.Duration(24 * time.Hour)},
		second:    api.Policy{Name: "ops-ssh", Groups: []string{"ops"}, Apps: []string{"ssh"}, PostureProfiles: []string{}},
		firstName: "eng-grafana", secondName: "ops-ssh",
	}))
}

func TestEmptyName(t *testing.T) {
	s, _ := newStore(t)
	if err := s.CreateApp(t.Context(), api.App{}); err == nil {
		t.Errorf("CreateApp(%q) = nil, want an error", "")
	}
	if err := s.CreateUser(t.Context(), api.User{Name: "alice", Groups: []string{""}}); err == nil {
		t.Errorf("CreateUser with group %q = nil, want an error", "")
	}
	if _, err := s.GetUser(t.Context(), "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetUser(%q) after a failed create = %v, want %v", "alice", err, store.ErrNotFound)
	}
}

func TestErrorsNameTheObject(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.GetApp(t.Context(), "grafana")
	if want := `app "grafana": not found`; err == nil || err.Error() != want {
		t.Errorf("GetApp(%q) = %v, want %v", "grafana", err, want)
	}
}

// member lists what a user's and a group's view of membership say.
func member(s store.Store, user, group string) func(ctx context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		u, err := s.GetUser(ctx, user)
		if err != nil {
			return nil, err
		}
		g, err := s.GetGroup(ctx, group)
		if err != nil {
			return nil, err
		}
		return [2][]string{u.Groups, g.Members}, nil
	}
}

func TestMembership(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	for _, u := range []api.User{{Name: "bob"}, {Name: "alice", Groups: []string{"sre"}}, {Name: "carol"}} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%q) = %v", u.Name, err)
		}
	}
	for _, g := range []string{"eng", "ops"} {
		if err := s.CreateGroup(ctx, api.Group{Name: g, Members: []string{"ignored"}}); err != nil {
			t.Fatalf("CreateGroup(%q) = %v", g, err)
		}
	}
	add := func(group, user string) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) { return only(s.AddMember(ctx, group, user)) }
	}
	remove := func(group, user string) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) { return only(s.RemoveMember(ctx, group, user)) }
	}
	runSteps(t, []step{
		{name: `CreateGroup("eng") again`, run: func(ctx context.Context) (any, error) { return only(s.CreateGroup(ctx, api.Group{Name: "eng"})) }, wantErr: store.ErrExists},
		{name: `GetGroup("sre") made by CreateUser`, run: func(ctx context.Context) (any, error) { return s.GetGroup(ctx, "sre") }, want: api.Group{Name: "sre", Members: []string{"alice"}}},
		{name: `GetGroup("eng") empty`, run: func(ctx context.Context) (any, error) { return s.GetGroup(ctx, "eng") }, want: api.Group{Name: "eng", Members: []string{}}},
		{name: `AddMember("eng", "bob")`, run: add("eng", "bob")},
		{name: `AddMember("eng", "alice")`, run: add("eng", "alice")},
		{name: `AddMember("eng", "alice") again`, run: add("eng", "alice")},
		{name: `AddMember("ops", "alice")`, run: add("ops", "alice")},
		{name: `AddMember("nope", "alice")`, run: add("nope", "alice"), wantErr: store.ErrNotFound},
		{name: `AddMember("eng", "nobody")`, run: add("eng", "nobody"), wantErr: store.ErrNotFound},
		{name: "alice in eng", run: member(s, "alice", "eng"), want: [2][]string{{"eng", "ops", "sre"}, {"alice", "bob"}}},
		{name: `ListGroups()`, run: func(ctx context.Context) (any, error) { return s.ListGroups(ctx) }, want: []api.Group{
			{Name: "eng", Members: []string{"alice", "bob"}},
			{Name: "ops", Members: []string{"alice"}},
			{Name: "sre", Members: []string{"alice"}},
		}},
		{name: `RemoveMember("eng", "bob")`, run: remove("eng", "bob")},
		{name: `RemoveMember("eng", "bob") again`, run: remove("eng", "bob"), wantErr: store.ErrNotFound},
		{name: `RemoveMember("eng", "carol")`, run: remove("eng", "carol"), wantErr: store.ErrNotFound},
		{name: `UpdateUser("alice") replaces groups`, run: func(ctx context.Context) (any, error) {
			return only(s.UpdateUser(ctx, api.User{Name: "alice", Groups: []string{"ops", "eng"}}))
		}},
		{name: "alice in eng after update", run: member(s, "alice", "eng"), want: [2][]string{{"eng", "ops"}, {"alice"}}},
		{name: `DeleteGroup("eng")`, run: func(ctx context.Context) (any, error) { return only(s.DeleteGroup(ctx, "eng")) }},
		{name: `GetUser("alice") after DeleteGroup`, run: func(ctx context.Context) (any, error) { return s.GetUser(ctx, "alice") }, want: api.User{Name: "alice", Groups: []string{"ops"}}},
		{name: `DeleteUser("alice")`, run: func(ctx context.Context) (any, error) { return only(s.DeleteUser(ctx, "alice")) }},
		{name: `GetGroup("ops") after DeleteUser`, run: func(ctx context.Context) (any, error) { return s.GetGroup(ctx, "ops") }, want: api.Group{Name: "ops", Members: []string{}}},
		{name: `ListUsers()`, run: func(ctx context.Context) (any, error) { return s.ListUsers(ctx) }, want: []api.User{
			{Name: "bob", Groups: []string{}}, {Name: "carol", Groups: []string{}},
		}},
	})
}
