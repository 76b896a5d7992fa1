package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// users makes the named users with no groups.
func users(t *testing.T, s store.Store, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := s.CreateUser(t.Context(), api.User{Name: n}); err != nil {
			t.Fatalf("CreateUser(%q) = %v", n, err)
		}
	}
}

// enroll enrolls device id for alice (who must exist) through a fresh token.
func enroll(t *testing.T, s *store.SQLite, id string) store.DeviceRecord {
	t.Helper()
	ctx := t.Context()
	tok := api.EnrollmentToken{ID: "tok-" + id, User: "alice", ExpiresAt: now.Add(time.Hour)}
	if err := s.CreateEnrollmentToken(ctx, tok, "hash-"+id); err != nil {
		t.Fatalf("CreateEnrollmentToken(%q) = %v", tok.ID, err)
	}
	if _, err := s.EnrollDevice(ctx, "hash-"+id, now, api.Device{ID: id, Hostname: "host-" + id}); err != nil {
		t.Fatalf("EnrollDevice(%q) = %v", id, err)
	}
	d, err := s.DeviceRecord(ctx, id)
	if err != nil {
		t.Fatalf("DeviceRecord(%q) = %v", id, err)
	}
	return d
}

func TestAccountCredentials(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "alice")
	acct := func(ctx context.Context) (any, error) { return s.Account(ctx, "alice") }
	runSteps(t, []step{
		{name: "Account(nobody)", run: func(ctx context.Context) (any, error) { return s.Account(ctx, "nobody") }, wantErr: store.ErrNotFound},
		{name: "Account(alice) without a row", run: acct, want: store.Account{User: "alice"}},
		{name: "SetPasswordHash(nobody)", run: func(ctx context.Context) (any, error) { return only(s.SetPasswordHash(ctx, "nobody", "h")) }, wantErr: store.ErrNotFound},
		{name: "SetPasswordHash(alice)", run: func(ctx context.Context) (any, error) { return only(s.SetPasswordHash(ctx, "alice", "h1")) }},
		{name: "ReplacePasswordHash from a stale hash", run: func(ctx context.Context) (any, error) {
			return only(s.ReplacePasswordHash(ctx, "alice", "h0", "h2"))
		}, wantErr: store.ErrChanged},
		{name: "ReplacePasswordHash from the current hash", run: func(ctx context.Context) (any, error) {
			return only(s.ReplacePasswordHash(ctx, "alice", "h1", "h2"))
		}},
		{name: "SetPendingTOTP", run: func(ctx context.Context) (any, error) { return only(s.SetPendingTOTP(ctx, "alice", "SEED1")) }},
		{name: "UseTOTPStep before any TOTP is confirmed", run: func(ctx context.Context) (any, error) { return only(s.UseTOTPStep(ctx, "alice", 5)) }, wantErr: store.ErrReplayed},
		{name: "ConfirmTOTP of another seed", run: func(ctx context.Context) (any, error) { return only(s.ConfirmTOTP(ctx, "alice", "SEED0", 10)) }, wantErr: store.ErrChanged},
		{name: "ConfirmTOTP", run: func(ctx context.Context) (any, error) { return only(s.ConfirmTOTP(ctx, "alice", "SEED1", 10)) }},
		{name: "Account after confirm", run: acct, want: store.Account{User: "alice", PasswordHash: "h2", TOTPSecret: "SEED1", TOTPLastStep: 10}},
		{name: "UseTOTPStep at the confirming step", run: func(ctx context.Context) (any, error) { return only(s.UseTOTPStep(ctx, "alice", 10)) }, wantErr: store.ErrReplayed},
		{name: "UseTOTPStep before it", run: func(ctx context.Context) (any, error) { return only(s.UseTOTPStep(ctx, "alice", 9)) }, wantErr: store.ErrReplayed},
		{name: "UseTOTPStep after it", run: func(ctx context.Context) (any, error) { return only(s.UseTOTPStep(ctx, "alice", 11)) }},
		{name: "UseTOTPStep same step again", run: func(ctx context.Context) (any, error) { return only(s.UseTOTPStep(ctx, "alice", 11)) }, wantErr: store.ErrReplayed},
		{name: "SetPendingTOTP keeps the confirmed seed", run: func(ctx context.Context) (any, error) {
			if err := s.SetPendingTOTP(ctx, "alice", "SEED2"); err != nil {
				return nil, err
			}
			return s.Account(ctx, "alice")
		}, want: store.Account{User: "alice", PasswordHash: "h2", TOTPSecret: "SEED1", TOTPPending: "SEED2", TOTPLastStep: 11}},
		{name: "RemoveTOTP", run: func(ctx context.Context) (any, error) {
			if err := s.RemoveTOTP(ctx, "alice"); err != nil {
				return nil, err
			}
			return s.Account(ctx, "alice")
		}, want: store.Account{User: "alice", PasswordHash: "h2"}},
	})
}

// TestUseTOTPStepConcurrent: of many logins spending one code at once,
// exactly one gets it.
func TestUseTOTPStepConcurrent(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "alice")
	ctx := t.Context()
	if err := s.SetPendingTOTP(ctx, "alice", "SEED"); err != nil {
		t.Fatal(err)
	}
	if err := s.ConfirmTOTP(ctx, "alice", "SEED", 1); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() { errs <- s.UseTOTPStep(ctx, "alice", 2) }()
	}
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrReplayed):
			t.Errorf("UseTOTPStep = %v, want nil or %v", err, store.ErrReplayed)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent UseTOTPStep(2) succeeded, want exactly 1", won, n)
	}
}

func TestRolesAndBootstrap(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "bob")
	role := func(user string) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			a, err := s.Account(ctx, user)
			return a.Role, err
		}
	}
	boot := func(name string) func(ctx context.Context) (any, error) {
		return func(ctx context.Context) (any, error) {
			return only(s.Bootstrap(ctx, api.User{Name: name, Email: name + "@example.com"}, "hash-"+name))
		}
	}
	runSteps(t, []step{
		{name: "Bootstrap(root)", run: boot("root")},
		{name: "GetUser(root) made by Bootstrap", run: func(ctx context.Context) (any, error) { return s.GetUser(ctx, "root") },
			want: api.User{Name: "root", Email: "root@example.com", Groups: []string{}}},
		{name: "root is owner", run: role("root"), want: "owner"},
		{name: "Bootstrap again", run: boot("mallory"), wantErr: store.ErrBootstrapDone},
		{name: "Bootstrap did not make mallory", run: func(ctx context.Context) (any, error) { return s.GetUser(ctx, "mallory") }, wantErr: store.ErrNotFound},
		{name: "demote the last owner", run: func(ctx context.Context) (any, error) { return only(s.SetRole(ctx, "root", "admin")) }, wantErr: store.ErrLastOwner},
		{name: "root still owner", run: role("root"), want: "owner"},
		{name: "SetRole(nobody)", run: func(ctx context.Context) (any, error) { return only(s.SetRole(ctx, "nobody", "admin")) }, wantErr: store.ErrNotFound},
		{name: "make bob owner", run: func(ctx context.Context) (any, error) { return only(s.SetRole(ctx, "bob", "owner")) }},
		{name: "demote root now", run: func(ctx context.Context) (any, error) { return only(s.SetRole(ctx, "root", "auditor")) }},
		{name: "ListAdmins", run: func(ctx context.Context) (any, error) {
			as, err := s.ListAdmins(ctx)
			var out []string
			for _, a := range as {
				out = append(out, a.User+"="+a.Role)
			}
			return out, err
		}, want: []string{"bob=owner", "root=auditor"}},
		{name: "delete the last owner", run: func(ctx context.Context) (any, error) { return only(s.DeleteUser(ctx, "bob")) },
			wantErr: store.ErrLastOwner},
		{name: "Bootstrap with an owner left", run: func(ctx context.Context) (any, error) {
			return only(s.Bootstrap(ctx, api.User{Name: "mallory"}, "h"))
		}, wantErr: store.ErrBootstrapDone},
	})

	// Bootstrap of an existing user makes it owner and sets its password.
	s2, _ := newStore(t)
	users(t, s2, "carol")
	if err := s2.Bootstrap(t.Context(), api.User{Name: "carol"}, "hc"); err != nil {
		t.Fatalf("Bootstrap(existing carol) = %v", err)
	}
	if a, err := s2.Account(t.Context(), "carol"); err != nil || a.Role != "owner" || a.PasswordHash != "hc" {
		t.Errorf("Account(carol) after Bootstrap = %+v, %v, want owner with hash hc", a, err)
	}
}

// sessionAt is a session of alice on device d created at now.
func sessionAt(id, device string) (store.Session, store.TokenSet) {
	return store.Session{
			ID: id, User: "alice", Device: device, Methods: []string{"pwd", "otp"},
			AuthAt: now, MFAAt: now, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
		}, store.TokenSet{
			AccessHash: "a-" + id, AccessExpiresAt: now.Add(10 * time.Minute),
			RefreshHash: "r-" + id, RefreshExpiresAt: now.Add(time.Hour),
		}
}

// next is the token set of a session's generation gen.
func next(id string, gen int, at time.Time) store.TokenSet {
	return store.TokenSet{
		AccessHash: fmt.Sprintf("a-%s-%d", id, gen), AccessExpiresAt: at.Add(10 * time.Minute),
		RefreshHash: fmt.Sprintf("r-%s-%d", id, gen), RefreshExpiresAt: at.Add(time.Hour),
	}
}

func TestCreateSession(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "alice", "bob")
	ctx := t.Context()
	enroll(t, s, "d-blocked")
	if _, _, err := s.BlockDevice(ctx, "d-blocked", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DisableUser(ctx, "bob", now); err != nil {
		t.Fatal(err)
	}
	good, goodTok := sessionAt("s1", "browser-1")
	tests := []struct {
		name    string
		mod     func(*store.Session, *store.TokenSet)
		wantErr error
	}{
		{name: "unknown user", mod: func(s *store.Session, _ *store.TokenSet) { s.User = "nobody" }, wantErr: store.ErrNotFound},
		{name: "disabled user", mod: func(s *store.Session, _ *store.TokenSet) { s.User = "bob" }, wantErr: store.ErrUserDisabled},
		{name: "blocked device", mod: func(s *store.Session, _ *store.TokenSet) { s.Device = "d-blocked" }, wantErr: store.ErrDeviceBlocked},
		{name: "no device", mod: func(s *store.Session, _ *store.TokenSet) { s.Device = "" }, wantErr: errAny},
		{name: "no refresh hash", mod: func(_ *store.Session, t *store.TokenSet) { t.RefreshHash = "" }, wantErr: errAny},
		{name: "good", mod: func(*store.Session, *store.TokenSet) {}},
		{name: "ID taken", mod: func(*store.Session, *store.TokenSet) {}, wantErr: store.ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess, tok := good, goodTok
			tt.mod(&sess, &tok)
			err := s.CreateSession(t.Context(), sess, tok)
			if !matches(err, tt.wantErr) {
				t.Fatalf("CreateSession(%s) = %v, want %v", tt.name, err, tt.wantErr)
			}
		})
	}
	want := good
	want.AccessExpiresAt, want.RefreshExpiresAt, want.Generation = goodTok.AccessExpiresAt, goodTok.RefreshExpiresAt, 1
	if got, err := s.SessionByAccess(ctx, "a-s1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("SessionByAccess(a-s1) = %+v, %v, want %+v", got, err, want)
	}
	if got, err := s.GetSession(ctx, "s1"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("GetSession(s1) = %+v, %v, want %+v", got, err, want)
	}
	for _, h := range []string{"r-s1", "", "nope"} {
		if _, err := s.SessionByAccess(ctx, h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SessionByAccess(%q) = %v, want %v", h, err, store.ErrNotFound)
		}
	}
}

// errAny stands for "some error" in wantErr.
var errAny = errors.New("any error")

func matches(err, want error) bool {
	if want == errAny {
		return err != nil
	}
	return errors.Is(err, want) && (err == nil) == (want == nil)
}

func TestRotateRefresh(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "alice")
	ctx := t.Context()
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		sess, tok := sessionAt(id, "dev-"+id)
		if err := s.CreateSession(ctx, sess, tok); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(5 * time.Minute)
	tests := []struct {
		name       string
		hash, dev  string
		at         time.Time
		wantErr    error
		wantGen    int    // of the session returned, on success
		wantReason string // of the session afterwards; "" means live
		session    string
	}{
		{name: "unknown token", hash: "r-nope", dev: "dev-s1", at: later, wantErr: store.ErrNotFound, session: "s1"},
		{name: "an access token as refresh token", hash: "a-s1", dev: "dev-s1", at: later, wantErr: store.ErrNotFound, session: "s1"},
		{name: "first refresh", hash: "r-s1", dev: "dev-s1", at: later, wantGen: 2, session: "s1"},
		{name: "second refresh with the new token", hash: "r-s1-2", dev: "dev-s1", at: later, wantGen: 3, session: "s1"},
		{name: "the first token again: reuse", hash: "r-s1", dev: "dev-s1", at: later, wantErr: store.ErrRefreshReused,
			wantReason: store.ReasonRefreshReused, session: "s1"},
		{name: "the current token after reuse", hash: "r-s1-3", dev: "dev-s1", at: later, wantErr: store.ErrSessionRevoked,
			wantReason: store.ReasonRefreshReused, session: "s1"},
		{name: "a spent token of a revoked session", hash: "r-s1-2", dev: "dev-s1", at: later, wantErr: store.ErrSessionRevoked,
			wantReason: store.ReasonRefreshReused, session: "s1"},
		{name: "another device", hash: "r-s2", dev: "dev-s1", at: later, wantErr: store.ErrWrongDevice,
			wantReason: store.ReasonWrongDevice, session: "s2"},
		{name: "the right device after that", hash: "r-s2", dev: "dev-s2", at: later, wantErr: store.ErrSessionRevoked,
			wantReason: store.ReasonWrongDevice, session: "s2"},
		{name: "refresh token expired", hash: "r-s3", dev: "dev-s3", at: now.Add(time.Hour), wantErr: store.ErrSessionExpired, session: "s3"},
		{name: "session expired", hash: "r-s4", dev: "dev-s4", at: now.Add(24 * time.Hour), wantErr: store.ErrSessionExpired, session: "s4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.GetSession(t.Context(), tt.session)
			got, err := s.RotateRefresh(t.Context(), tt.hash, tt.dev, tt.at, next(tt.session, before.Generation+1, tt.at))
			if !matches(err, tt.wantErr) {
				t.Fatalf("RotateRefresh(%q, %q) = %v, want %v", tt.hash, tt.dev, err, tt.wantErr)
			}
			if err == nil && (got.Generation != tt.wantGen || !got.RefreshedAt.Equal(tt.at) || got.ID != tt.session) {
				t.Errorf("RotateRefresh(%q) = %+v, want session %s generation %d refreshed at %v", tt.hash, got, tt.session, tt.wantGen, tt.at)
			}
			if (errors.Is(err, store.ErrRefreshReused) || errors.Is(err, store.ErrWrongDevice)) && got.RevokeReason != tt.wantReason {
				t.Errorf("RotateRefresh(%q) returned %+v, want the session revoked for %s", tt.hash, got, tt.wantReason)
			}
			after, err := s.GetSession(t.Context(), tt.session)
			if err != nil {
				t.Fatal(err)
			}
			if after.RevokeReason != tt.wantReason || after.RevokedAt.IsZero() != (tt.wantReason == "") {
				t.Errorf("after RotateRefresh(%q), session %s revoked at %v for %q, want %q", tt.hash, tt.session, after.RevokedAt, after.RevokeReason, tt.wantReason)
			}
		})
	}
	// The access token rotated with the refresh token.
	if _, err := s.SessionByAccess(ctx, "a-s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SessionByAccess(first access token) after refresh = %v, want %v", err, store.ErrNotFound)
	}
	if got, err := s.SessionByAccess(ctx, "a-s1-3"); err != nil || got.ID != "s1" {
		t.Errorf("SessionByAccess(current access token) = %+v, %v, want session s1", got, err)
	}
}

// TestRotateRefreshConcurrent: two refreshes with one token at once —
// exactly one wins, and the other is taken as reuse: the session ends.
func TestRotateRefreshConcurrent(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "alice")
	for i := range 10 {
		id := fmt.Sprint("s", i)
		sess, tok := sessionAt(id, "dev")
		if err := s.CreateSession(t.Context(), sess, tok); err != nil {
			t.Fatal(err)
		}
		var (
			wg   sync.WaitGroup
			errs [2]error
		)
		for j := range 2 {
			wg.Go(func() {
				_, errs[j] = s.RotateRefresh(t.Context(), "r-"+id, "dev", now, next(id, 10+j, now))
			})
		}
		wg.Wait()
		won, reused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, store.ErrRefreshReused):
				reused++
			default:
				t.Errorf("session %s: RotateRefresh = %v, want nil or %v", id, err, store.ErrRefreshReused)
			}
		}
		if won != 1 || reused != 1 {
			t.Errorf("session %s: %d refreshes won and %d were reuse, want 1 and 1", id, won, reused)
		}
		if got, err := s.GetSession(t.Context(), id); err != nil || got.RevokeReason != store.ReasonRefreshReused {
			t.Errorf("session %s after the race = %+v, %v, want revoked for %s", id, got, err, store.ReasonRefreshReused)
		}
	}
}

func TestRevokeSessions(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "alice", "bob")
	ctx := t.Context()
	enroll(t, s, "laptop")
	enroll(t, s, "phone")
	mk := func(id, user, device string) {
		t.Helper()
		sess, tok := sessionAt(id, device)
		sess.User = user
		if err := s.CreateSession(ctx, sess, tok); err != nil {
			t.Fatal(err)
		}
	}
	mk("a1", "alice", "laptop")
	mk("a2", "alice", "laptop")
	mk("a3", "alice", "phone")
	mk("b1", "bob", "browser")
	ids := func(ss []store.Session, err error) (any, error) {
		out := []string{}
		for _, x := range ss {
			out = append(out, x.ID+":"+x.RevokeReason)
		}
		return out, err
	}
	t1 := now.Add(time.Minute)
	runSteps(t, []step{
		{name: "RevokeSession(a1)", run: func(ctx context.Context) (any, error) { return ids(s.RevokeSession(ctx, "a1", t1, "logout")) },
			want: []string{"a1:logout"}},
		{name: "RevokeSession(a1) again", run: func(ctx context.Context) (any, error) { return ids(s.RevokeSession(ctx, "a1", t1, "admin")) },
			want: []string{}},
		{name: "RevokeSession(nope)", run: func(ctx context.Context) (any, error) { return ids(s.RevokeSession(ctx, "nope", t1, "admin")) },
			wantErr: store.ErrNotFound},
		{name: "BlockDevice(laptop)", run: func(ctx context.Context) (any, error) {
			before, revoked, err := s.BlockDevice(ctx, "laptop", t1)
			got, err := ids(revoked, err)
			return []any{before, got}, err
		}, want: []any{"approved", []string{"a2:device_blocked"}}},
		{name: "BlockDevice(nope)", run: func(ctx context.Context) (any, error) {
			return ids(func() ([]store.Session, error) { _, r, err := s.BlockDevice(ctx, "nope", t1); return r, err }())
		},
			wantErr: store.ErrNotFound},
		{name: "DisableUser(alice)", run: func(ctx context.Context) (any, error) { return ids(s.DisableUser(ctx, "alice", t1)) },
			want: []string{"a3:user_disabled"}},
		{name: "alice's sessions", run: func(ctx context.Context) (any, error) { return ids(s.ListSessions(ctx, "alice")) },
			want: []string{"a1:logout", "a2:device_blocked", "a3:user_disabled"}},
		{name: "alice disabled", run: func(ctx context.Context) (any, error) {
			a, err := s.Account(ctx, "alice")
			return a.DisabledAt, err
		}, want: t1},
		{name: "EnableUser(alice)", run: func(ctx context.Context) (any, error) {
			if err := s.EnableUser(ctx, "alice"); err != nil {
				return nil, err
			}
			a, err := s.Account(ctx, "alice")
			return a.DisabledAt.IsZero(), err
		}, want: true},
		{name: "RevokeUserSessions(bob)", run: func(ctx context.Context) (any, error) { return ids(s.RevokeUserSessions(ctx, "bob", t1, "admin")) },
			want: []string{"b1:admin"}},
		{name: "DisableUser(nobody)", run: func(ctx context.Context) (any, error) { return ids(s.DisableUser(ctx, "nobody", t1)) },
			wantErr: store.ErrNotFound},
	})
	// Purge: sessions revoked or expired before the cut go, with their
	// spent refresh tokens; live ones stay.
	mk("live", "bob", "browser")
	if n, err := s.PurgeSessions(ctx, t1.Add(time.Second)); err != nil || n != 4 {
		t.Errorf("PurgeSessions() = %d, %v, want 4", n, err)
	}
	if got, _ := ids(s.ListSessions(ctx, "bob")); !reflect.DeepEqual(got, []string{"live:"}) {
		t.Errorf("bob's sessions after purge = %v, want [live:]", got)
	}
	if n, err := s.PurgeSessions(ctx, now.Add(25*time.Hour)); err != nil || n != 1 {
		t.Errorf("PurgeSessions(after expiry) = %d, %v, want 1", n, err)
	}
}

func TestDeviceRecords(t *testing.T) {
	s, _ := newStore(t)
	users(t, s, "alice")
	ctx := t.Context()
	d1 := enroll(t, s, "d1")
	want := store.DeviceRecord{ID: "d1", Owner: "alice", Hostname: "host-d1", Tags: []string{}, State: store.DeviceApproved, FirstSeen: now}
	if !reflect.DeepEqual(d1, want) {
		t.Errorf("DeviceRecord(d1) = %+v, want %+v", d1, want)
	}
	runSteps(t, []step{
		{name: "NewDevicesNeedApproval by default", run: func(ctx context.Context) (any, error) { return s.NewDevicesNeedApproval(ctx) }, want: false},
		{name: "SetNewDevicesNeedApproval(true)", run: func(ctx context.Context) (any, error) {
			if err := s.SetNewDevicesNeedApproval(ctx, true); err != nil {
				return nil, err
			}
			if err := s.SetNewDevicesNeedApproval(ctx, true); err != nil { // twice is fine
				return nil, err
			}
			return s.NewDevicesNeedApproval(ctx)
		}, want: true},
		{name: "a device enrolled now is pending", run: func(ctx context.Context) (any, error) { return enroll(t, s, "d2").State, nil }, want: store.DevicePending},
		{name: "ApproveDevice(d2)", run: func(ctx context.Context) (any, error) { return s.ApproveDevice(ctx, "d2") }, want: store.DevicePending},
		{name: "ApproveDevice(nope)", run: func(ctx context.Context) (any, error) { return s.ApproveDevice(ctx, "nope") }, wantErr: store.ErrNotFound},
		{name: "SetNewDevicesNeedApproval(false)", run: func(ctx context.Context) (any, error) {
			if err := s.SetNewDevicesNeedApproval(ctx, false); err != nil {
				return nil, err
			}
			return enroll(t, s, "d3").State, nil
		}, want: store.DeviceApproved},
		{name: "LabelDevice(d1)", run: func(ctx context.Context) (any, error) {
			return only(s.LabelDevice(ctx, "d1", "Alice's laptop", []string{"corp", "linux"}))
		}},
		{name: "LabelDevice(nope)", run: func(ctx context.Context) (any, error) { return only(s.LabelDevice(ctx, "nope", "x", nil)) }, wantErr: store.ErrNotFound},
		{name: "TouchDevice(d1)", run: func(ctx context.Context) (any, error) { return only(s.TouchDevice(ctx, "d1", now.Add(time.Hour))) }},
		{name: "TouchDevice(nope)", run: func(ctx context.Context) (any, error) { return only(s.TouchDevice(ctx, "nope", now)) }, wantErr: store.ErrNotFound},
		{name: "SetDeviceInteractive(d1)", run: func(ctx context.Context) (any, error) { return s.SetDeviceInteractive(ctx, "d1") }, want: true},
		{name: "SetDeviceInteractive(d1) again", run: func(ctx context.Context) (any, error) { return s.SetDeviceInteractive(ctx, "d1") }, want: false},
		{name: "DeviceRecord(d1).Interactive", run: func(ctx context.Context) (any, error) {
			d, err := s.DeviceRecord(ctx, "d1")
			return d.Interactive, err
		}, want: true},
		{name: "SetDeviceInteractive(nope)", run: func(ctx context.Context) (any, error) { return s.SetDeviceInteractive(ctx, "nope") }, wantErr: store.ErrNotFound},
		{name: "ListDeviceRecords", run: func(ctx context.Context) (any, error) {
			ds, err := s.ListDeviceRecords(ctx)
			out := []string{}
			for _, d := range ds {
				out = append(out, fmt.Sprintf("%s %s %q %v %v", d.ID, d.State, d.Name, d.Tags, d.LastSeen.Sub(now)))
			}
			return out, err
		}, want: []string{
			`d1 approved "Alice's laptop" [corp linux] 1h0m0s`,
			fmt.Sprintf(`d2 approved "" [] %v`, time.Time{}.Sub(now)),
			fmt.Sprintf(`d3 approved "" [] %v`, time.Time{}.Sub(now)),
		}},
	})
	// The REST view of devices is untouched by the new columns.
	if got, err := s.GetDevice(ctx, "d1"); err != nil || got.Hostname != "host-d1" || got.User != "alice" {
		t.Errorf("GetDevice(d1) = %+v, %v", got, err)
	}
}

func TestAPITokens(t *testing.T) {
	s, _ := newStore(t)
	tok := func(id, name string) store.APIToken {
		return store.APIToken{ID: id, Name: name, Role: "auditor", CreatedBy: "user:root", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	t1 := now.Add(time.Minute)
	revoked := tok("k1", "ci")
	revoked.RevokedAt = t1
	runSteps(t, []step{
		{name: "CreateAPIToken(k1 ci)", run: func(ctx context.Context) (any, error) { return only(s.CreateAPIToken(ctx, tok("k1", "ci"), "hk1")) }},
		{name: "CreateAPIToken(k2 ci): name live", run: func(ctx context.Context) (any, error) { return only(s.CreateAPIToken(ctx, tok("k2", "ci"), "hk2")) }, wantErr: store.ErrExists},
		{name: "CreateAPIToken(k1 other): ID taken", run: func(ctx context.Context) (any, error) { return only(s.CreateAPIToken(ctx, tok("k1", "other"), "hk3")) }, wantErr: store.ErrExists},
		{name: "CreateAPIToken without hash fails", run: func(ctx context.Context) (any, error) { return s.CreateAPIToken(ctx, tok("k4", "x"), "") != nil, nil }, want: true},
		{name: "APITokenByHash(hk1)", run: func(ctx context.Context) (any, error) { return s.APITokenByHash(ctx, "hk1") }, want: tok("k1", "ci")},
		{name: "APITokenByHash(nope)", run: func(ctx context.Context) (any, error) { return s.APITokenByHash(ctx, "nope") }, wantErr: store.ErrNotFound},
		{name: "RevokeAPIToken(k1)", run: func(ctx context.Context) (any, error) { return only(s.RevokeAPIToken(ctx, "k1", t1)) }},
		{name: "RevokeAPIToken(k1) again keeps the first time", run: func(ctx context.Context) (any, error) {
			if err := s.RevokeAPIToken(ctx, "k1", t1.Add(time.Hour)); err != nil {
				return nil, err
			}
			return s.APITokenByHash(ctx, "hk1")
		}, want: revoked},
		{name: "RevokeAPIToken(nope)", run: func(ctx context.Context) (any, error) { return only(s.RevokeAPIToken(ctx, "nope", t1)) }, wantErr: store.ErrNotFound},
		{name: "CreateAPIToken(k2 ci) after revoke", run: func(ctx context.Context) (any, error) { return only(s.CreateAPIToken(ctx, tok("k2", "ci"), "hk2")) }},
		{name: "ListAPITokens", run: func(ctx context.Context) (any, error) { return s.ListAPITokens(ctx) }, want: []store.APIToken{revoked, tok("k2", "ci")}},
	})
}
