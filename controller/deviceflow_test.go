package controller

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
)

// flowEnv is a core with user alice (a cheap password), its device flow
// on a clock the test moves, and a sign-in proof for alice.
type flowEnv struct {
	c     *Controller
	flow  *DeviceFlow
	proof identity.Proof

	mu  sync.Mutex // guards now
	now time.Time
}

func newFlowEnv(t *testing.T, cfg DeviceFlowConfig) *flowEnv {
	t.Helper()
	ctx := context.Background()
	c, err := New(ctx, Config{DataDir: t.TempDir(), Identity: identity.Config{
		Password: identity.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, _, err := c.Users.Create(ctx, testOwner, api.User{Name: "alice", Groups: []string{}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Identity.SetPassword(ctx, "alice", "a password long enough"); err != nil {
		t.Fatal(err)
	}
	p, err := c.Identity.CheckPassword(ctx, identity.Login{User: "alice", Password: "a password long enough"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.NewDeviceFlow(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &flowEnv{c: c, flow: f, proof: p, now: time.Now()}
	f.now = func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.now
	}
	return e
}

func (e *flowEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func testKey(t *testing.T) string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pub)
}

// codeOf is the OAuth code of a *FlowError, "" for anything else.
func codeOf(err error) string {
	if fe, ok := errors.AsType[*FlowError](err); ok {
		return fe.Code
	}
	return ""
}

// TestDeviceFlowRedeemOnce: many polls racing on an approved code get
// its tokens exactly once; the others get invalid_grant.
func TestDeviceFlowRedeemOnce(t *testing.T) {
	e := newFlowEnv(t, DeviceFlowConfig{})
	ctx := context.Background()
	codes, err := e.flow.Start(ctx, DeviceAuthRequest{ClientID: api.ClientAgent, DeviceKey: testKey(t), Hostname: "pc"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.Approve(ctx, codes.UserCode, e.proof); err != nil {
		t.Fatalf("Approve = %v", err)
	}
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := e.flow.Redeem(ctx, api.ClientAgent, codes.DeviceCode)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	won, spent := 0, 0
	for err := range results {
		switch codeOf(err) {
		case "":
			if err != nil {
				t.Errorf("Redeem = %v", err)
			}
			won++
		case api.OAuthInvalidGrant, api.OAuthSlowDown:
			spent++
		default:
			t.Errorf("Redeem = %v, want tokens, invalid_grant or slow_down", err)
		}
	}
	if won != 1 {
		t.Errorf("%d racing polls: %d got tokens, want exactly 1", n, won)
	}
	if ss, _ := e.c.Identity.Sessions(ctx, "alice"); len(ss) != 1 {
		t.Errorf("alice's sessions = %d, want 1", len(ss))
	}
}

// TestDeviceFlowLifecycle: pending, slow_down (interval grows by 5 s),
// the interval honoured, expiry, and expired codes making room under
// the cap.
func TestDeviceFlowLifecycle(t *testing.T) {
	e := newFlowEnv(t, DeviceFlowConfig{Interval: 2 * time.Second, Lifetime: time.Minute, MaxPending: 1})
	ctx := context.Background()
	req := DeviceAuthRequest{ClientID: api.ClientAgent, DeviceKey: testKey(t), Hostname: "pc"}
	codes, err := e.flow.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.ContainsAny(codes.UserCode, "-") || len(codes.UserCode) != 9 || codes.Interval != 2*time.Second || codes.ExpiresIn != time.Minute {
		t.Errorf("Start = %+v", codes)
	}
	if _, err := e.flow.Start(ctx, req); codeOf(err) != OAuthTemporarilyUnavailable {
		t.Errorf("Start over the cap = %v, want temporarily_unavailable", err)
	}
	steps := []struct {
		after time.Duration
		want  string
	}{
		{0, api.OAuthAuthorizationPending},
		{time.Second, api.OAuthSlowDown},                  // 1 s < 2 s; the interval is now 7 s
		{3 * time.Second, api.OAuthSlowDown},              // 3 s < 7 s; now 12 s
		{12 * time.Second, api.OAuthAuthorizationPending}, // honoured
		{time.Minute, api.OAuthExpiredToken},
	}
	for _, s := range steps {
		e.advance(s.after)
		if _, err := e.flow.Redeem(ctx, api.ClientAgent, codes.DeviceCode); codeOf(err) != s.want {
			t.Errorf("Redeem after %s = %v, want %s", s.after, err, s.want)
		}
	}
	if _, err := e.flow.Pending(codes.UserCode); !errors.Is(err, ErrInvalid) {
		t.Errorf("Pending(expired) = %v, want ErrInvalid", err)
	}
	if _, err := e.flow.Start(ctx, req); err != nil {
		t.Errorf("Start after the held code expired = %v, want room", err)
	}
}

// TestUserCodes: codes are XXXX-XXXX from the 20 consonants, spread over
// all of them; people's typing (case, dash, spaces) is normalised, and
// anything else is refused.
func TestUserCodes(t *testing.T) {
	seen := map[rune]int{}
	for range 500 {
		c, err := newUserCode()
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := NormalizeUserCode(FormatUserCode(c)); !ok || n != c {
			t.Fatalf("NormalizeUserCode(FormatUserCode(%q)) = %q, %v", c, n, ok)
		}
		for _, r := range c {
			seen[r]++
		}
	}
	if len(seen) != len(userCodeAlphabet) {
		t.Errorf("500 codes used %d letters, want all %d", len(seen), len(userCodeAlphabet))
	}
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"BCDF-GHJK", "BCDFGHJK", true},
		{"bcdf ghjk", "BCDFGHJK", true},
		{"bcdfghjk", "BCDFGHJK", true},
		{"ABCD-EFGH", "", false}, // vowels
		{"BCDF-GHJ", "", false},
		{"BCDF-GHJK1", "", false},
		{strings.Repeat("B", 40), "", false},
	}
	for _, tt := range tests {
		if got, ok := NormalizeUserCode(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeUserCode(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
