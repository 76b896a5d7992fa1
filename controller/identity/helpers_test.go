package identity

import (
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// start is where every test's clock begins (a TOTP step boundary).
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a Clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex // guards now
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fastPasswords keeps argon2id cheap in tests; its cost is measured in
// BenchmarkHashPassword with the real parameters.
var fastPasswords = PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// env is a Service over a real SQLite store with a fake clock, and the
// events it emitted.
type env struct {
	*Service
	st    *store.SQLite
	path  string // the database file
	clock *fakeClock

	mu     sync.Mutex // guards events
	events []Event
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	st, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("store.Open = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if cfg.Password == (PasswordParams{}) {
		cfg.Password = fastPasswords
	}
	e := &env{st: st, path: path, clock: &fakeClock{t: start}}
	e.Service = New(st, e.clock, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	cancel := e.Subscribe(func(ev Event) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.events = append(e.events, ev)
	})
	t.Cleanup(cancel)
	return e
}

// take returns the events since the last take.
func (e *env) take() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.events
	e.events = nil
	return out
}

// kinds returns the kinds of the events since the last take.
func (e *env) kinds() []Kind {
	var out []Kind
	for _, ev := range e.take() {
		out = append(out, ev.Kind)
	}
	return out
}

const pw = "correct horse battery"

// user makes user name with password pw.
func (e *env) user(t *testing.T, name string) {
	t.Helper()
	if err := e.st.CreateUser(t.Context(), api.User{Name: name}); err != nil {
		t.Fatalf("CreateUser(%q) = %v", name, err)
	}
	if err := e.SetPassword(t.Context(), name, pw); err != nil {
		t.Fatalf("SetPassword(%q) = %v", name, err)
	}
}

// withTOTP enrolls a TOTP for user and returns its seed.
func (e *env) withTOTP(t *testing.T, user string) string {
	t.Helper()
	enr, err := e.BeginTOTP(t.Context(), user)
	if err != nil {
		t.Fatalf("BeginTOTP(%q) = %v", user, err)
	}
	if err := e.ConfirmTOTP(t.Context(), user, code(t, enr.Secret, e.clock.Now())); err != nil {
		t.Fatalf("ConfirmTOTP(%q) = %v", user, err)
	}
	return enr.Secret
}

// code is secret's TOTP code at at.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// device enrolls device id for user through the store.
func (e *env) device(t *testing.T, user, id string) {
	t.Helper()
	ctx := t.Context()
	tok := api.EnrollmentToken{ID: "tok-" + id, User: user, ExpiresAt: start.Add(24 * time.Hour)}
	if err := e.st.CreateEnrollmentToken(ctx, tok, "hash-"+id); err != nil {
		t.Fatalf("CreateEnrollmentToken(%q) = %v", tok.ID, err)
	}
	if _, err := e.st.EnrollDevice(ctx, "hash-"+id, e.clock.Now(), api.Device{ID: id}); err != nil {
		t.Fatalf("EnrollDevice(%q) = %v", id, err)
	}
}

// signIn signs user in with pw (and a fresh code if seed is set) and opens
// a session on device.
func (e *env) signIn(t *testing.T, user, seed, device string) (Session, Tokens) {
	t.Helper()
	in := Login{User: user, Password: pw, Source: netip.MustParseAddr("192.0.2.10")}
	if seed != "" {
		in.Code = code(t, seed, e.clock.Now())
	}
	p, err := e.CheckPassword(t.Context(), in)
	if err != nil {
		t.Fatalf("CheckPassword(%q) = %v", user, err)
	}
	sess, tok, err := e.StartSession(t.Context(), p, device)
	if err != nil {
		t.Fatalf("StartSession(%q, %q) = %v", user, device, err)
	}
	return sess, tok
}

// owner is a principal with role owner, for admin calls in tests.
var owner = Principal{Kind: PrincipalUser, Name: "root", Role: Owner}

func hasKinds(got []Kind, want ...Kind) bool { return slices.Equal(got, want) }
