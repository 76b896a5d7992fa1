package identity

import (
	"net/netip"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Kind is what happened.
type Kind int

const (
	// SessionCreated: a user signed in on a device.
	SessionCreated Kind = iota + 1
	// SessionRefreshed: a session's tokens were rotated.
	SessionRefreshed
	// SessionRevoked: a session ended before its time; Reason says why
	// (logout, admin, user_disabled, device_blocked, refresh_reused,
	// wrong_device). Its device's tunnels must be cut.
	SessionRevoked
	// RefreshReused: a spent refresh token came back — two parties hold
	// the session's tokens. The session is revoked (SessionRevoked follows).
	RefreshReused
	// WrongDevice: a token was presented by a device other than its own.
	// The session is revoked (SessionRevoked follows).
	WrongDevice
	// LoginSucceeded: a user proved who they are.
	LoginSucceeded
	// LoginFailed: wrong password or code, unknown or disabled user.
	LoginFailed
	// LoginThrottled: an attempt came before its backoff ran out and was
	// not checked.
	LoginThrottled
	// LoginUnlocked: an admin cleared an account's backoff.
	LoginUnlocked
	// DeviceApproved: an admin approved (or unblocked) a device.
	DeviceApproved
	// DeviceBlocked: an admin blocked a device; its sessions are revoked.
	DeviceBlocked
	// UserDisabled: an admin disabled a user; its sessions are revoked.
	UserDisabled
	// UserEnabled: an admin enabled a user again.
	UserEnabled
	// RoleChanged: a user's admin role changed; Detail is the new role.
	RoleChanged
	// APITokenCreated and APITokenRevoked: Detail is the token's name.
	APITokenCreated
	APITokenRevoked
	// PasskeyAdded and PasskeyRemoved: a user's passkeys changed; Detail
	// is the passkey's name.
	PasskeyAdded
	PasskeyRemoved
)

var kindNames = map[Kind]string{
	SessionCreated: "session_created", SessionRefreshed: "session_refreshed", SessionRevoked: "session_revoked",
	RefreshReused: "refresh_reused", WrongDevice: "wrong_device",
	LoginSucceeded: "login_succeeded", LoginFailed: "login_failed", LoginThrottled: "login_throttled", LoginUnlocked: "login_unlocked",
	DeviceApproved: "device_approved", DeviceBlocked: "device_blocked",
	UserDisabled: "user_disabled", UserEnabled: "user_enabled", RoleChanged: "role_changed",
	APITokenCreated: "api_token_created", APITokenRevoked: "api_token_revoked",
	PasskeyAdded: "passkey_added", PasskeyRemoved: "passkey_removed",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return "unknown"
}

// Event is one step in the identity room. Fields that do not apply are
// zero.
type Event struct {
	Kind    Kind
	At      time.Time
	User    string
	Session string
	Device  string
	Source  netip.Addr // where a sign-in attempt came from
	By      string     // the principal that did it (Principal.String), for admin actions
	Reason  string
	Detail  string
}

// subscribers fans events out to their subscribers, in order.
type subscribers struct {
	mu   sync.Mutex // guards next and subs
	next int
	subs map[int]func(Event)
}

// Subscribe calls f with every event from now on until cancel is called.
// f runs on the goroutine that caused the event: it must not block or
// call back into the Service.
func (s *Service) Subscribe(f func(Event)) (cancel func()) {
	subs := &s.subs
	subs.mu.Lock()
	defer subs.mu.Unlock()
	if subs.subs == nil {
		subs.subs = map[int]func(Event){}
	}
	id := subs.next
	subs.next++
	subs.subs[id] = f
	return func() {
		subs.mu.Lock()
		defer subs.mu.Unlock()
		delete(subs.subs, id)
	}
}

func (s *Service) emit(e Event) {
	e.At = s.clock.Now()
	subs := &s.subs
	subs.mu.Lock()
	defer subs.mu.Unlock()
	for _, f := range subs.subs {
		f(e)
	}
}

// emitRevoked emits SessionRevoked for each session revoked, by whom.
func (s *Service) emitRevoked(revoked []store.Session, by string) {
	for _, r := range revoked {
		s.emit(Event{Kind: SessionRevoked, User: r.User, Session: r.ID, Device: r.Device, Reason: r.RevokeReason, By: by})
	}
}
