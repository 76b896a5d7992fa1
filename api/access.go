package api

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// Just-in-time access (issue 8): a policy with Approvers gives its apps
// only while the user holds an approved, unexpired access request for the
// app. A user asks with `gatehouse request APP --reason … --for 2h` (on
// their device: the agent carries it on its control connection), a member
// of the approvers group approves or denies it (`gatehouse admin requests`),
// and the approved time runs out on its own. Requests are records: they
// change state, they are never deleted.

// Access request states.
const (
	// RequestPending waits for an approver; it lapses (RequestExpired)
	// after RequestPendingTTL.
	RequestPending = "pending"
	// RequestApproved gives the app until ExpiresAt.
	RequestApproved = "approved"
	// RequestDenied was refused by an approver (Note says why).
	RequestDenied = "denied"
	// RequestExpired ended: approved time ran out, or nobody decided in time.
	RequestExpired = "expired"
	// RequestCancelled was withdrawn by its requester before it was decided.
	RequestCancelled = "cancelled"
)

// Limits on access requests.
const (
	// DefaultMaxAccess is a policy's longest grantable access when it sets
	// Approvers but no MaxAccess; MaxMaxAccess is the cap on any policy.
	DefaultMaxAccess = 8 * time.Hour
	MaxMaxAccess     = 7 * 24 * time.Hour
	// MinAccess is the shortest access one may ask for.
	MinAccess = time.Minute
	// RequestPendingTTL is how long a request waits for a decision.
	RequestPendingTTL = 24 * time.Hour
	// MaxPendingRequests is how many requests one user may have waiting.
	MaxPendingRequests = 5
	// MaxRequestReason and MaxRequestNote bound the texts, in characters.
	MaxRequestReason = 500
	MaxRequestNote   = 500
)

// AccessRequest is one request for just-in-time access to App.
type AccessRequest struct {
	ID     string `json:"id"`
	User   string `json:"user"`
	Device string `json:"device"` // the device it was asked from
	App    string `json:"app"`
	// Policy is the policy that asks for approval; Approvers its group.
	Policy    string   `json:"policy"`
	Approvers string   `json:"approvers"`
	Reason    string   `json:"reason"`
	For       Duration `json:"for"` // how long was asked for
	State     string   `json:"state"`

	RequestedAt time.Time `json:"requested_at"`
	// DecidedBy ("user:bob"), DecidedAt and Note: the approval or denial.
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Note      string    `json:"note,omitempty"`
	// Granted is how long was approved (at most For); ExpiresAt when the
	// approved access ends.
	Granted   Duration  `json:"granted,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// EndedAt is when the request became expired or cancelled.
	EndedAt time.Time `json:"ended_at,omitzero"`
}

// AccessRequestInput is what a user asks: App, why, and for how long; or,
// with Cancel set, to withdraw their own pending request with that ID
// (the other fields are then ignored).
type AccessRequestInput struct {
	App    string   `json:"app"`
	Reason string   `json:"reason"`
	For    Duration `json:"for"`
	Cancel string   `json:"cancel,omitempty"`
}

// AccessDecisionInput is an approver's answer: approve (For, when set,
// approves less than was asked) or deny (Note required).
type AccessDecisionInput struct {
	Note string   `json:"note,omitempty"`
	For  Duration `json:"for,omitempty"`
}

// PathAccessRequests lists access requests (GET, ?state=pending); one is
// approved with POST …/{id}/approve, denied with POST …/{id}/deny, and
// its approved access ended early with POST …/{id}/revoke (Note required).
const PathAccessRequests = "/api/v1/access-requests"

// Agent ↔ controller: a user's access request travels on the device's
// control connection, so it carries the device proof and the signed-in
// session; the answer names the same Seq.
const (
	TypeAccessRequest = "access_request" // agent → controller: AccessRequestMsg
	TypeAccessResult  = "access_result"  // controller → agent: AccessResultMsg
)

// AccessRequestMsg asks for just-in-time access; Seq matches the answer.
type AccessRequestMsg struct {
	Seq uint64 `json:"seq"`
	AccessRequestInput
}

// AccessResultMsg answers the AccessRequestMsg numbered Seq: the request
// as stored, or why it was refused (Error: a message that says what to do).
type AccessResultMsg struct {
	Seq     uint64         `json:"seq"`
	Request *AccessRequest `json:"request,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// CheckRequestText refuses a reason or note that is empty when required,
// longer than limit characters, not UTF-8 or holding control characters
// (they would rewrite an approver's terminal).
func CheckRequestText(what, s string, limit int, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("a %s is required: say why in a few words", what)
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("the %s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > limit {
		return fmt.Errorf("the %s is %d characters long; at most %d", what, n, limit)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("the %s holds a control character (%U); use plain text on one line", what, r)
		}
	}
	return nil
}
