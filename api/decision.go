package api

import (
	"strings"
	"time"
)

// Reason explains one part of a decision in words a user can act on.
type Reason struct {
	// Code is stable and machine-readable, e.g. "posture.disk_encryption".
	Code string `json:"code"`
	// Message says what is wrong: "disk encryption is off".
	Message string `json:"message"`
	// Remediation says what to do: "Turn on disk encryption".
	Remediation string `json:"remediation,omitempty"`
}

// Decision is the controller's verdict for one (device, app) pair.
type Decision struct {
	App         string    `json:"app"`
	Allowed     bool      `json:"allowed"`
	Reasons     []Reason  `json:"reasons,omitempty"`
	EvaluatedAt time.Time `json:"evaluated_at"`
	// AccessUntil, for an app allowed by just-in-time access, is when the
	// approved time ends; zero otherwise. No grant outlives it.
	AccessUntil time.Time `json:"access_until,omitzero"`
}

// CheckResult is one posture check of one profile, for `gatehouse posture`.
type CheckResult struct {
	Profile string `json:"profile"`
	Check   string `json:"check"`
	// Status is "pass", "fail", "unknown" or "waived"; unknown never
	// passes, waived passes while its exception lasts.
	Status string `json:"status"`
	Reason Reason `json:"reason"`
	// WaivedUntil is the waiving exception's expiry (Status "waived").
	WaivedUntil time.Time `json:"waived_until,omitzero"`
}

// Check statuses.
const (
	CheckPass    = "pass"
	CheckFail    = "fail"
	CheckUnknown = "unknown"
	// CheckWaived is a failing or unknown check an exception waives.
	CheckWaived = "waived"
)

// ReasonsText joins the reasons' messages for logs and errors.
func ReasonsText(rs []Reason) string {
	msgs := make([]string, len(rs))
	for i, r := range rs {
		msgs[i] = r.Message
	}
	return strings.Join(msgs, "; ")
}
