package api

import "time"

// Explanation is the whole evaluation of one (user, device, app), for
// `gatehouse admin explain`: what the engine knew, each policy it
// considered or skipped and why, each check, each condition, the
// exceptions it applied or ignored, and the decision.
type Explanation struct {
	User    ExplainedUser     `json:"user"`
	Device  ExplainedDevice   `json:"device"`
	Session *ExplainedSession `json:"session,omitempty"` // nil: nobody signed in on the device
	App     string            `json:"app"`
	Time    time.Time         `json:"time"`
	// Identity is why the user or device gets nothing whatever the
	// policies say (disabled, blocked, pending, no session); nil: nothing.
	Identity   *Reason              `json:"identity,omitempty"`
	Policies   []ExplainedPolicy    `json:"policies"`
	Exceptions []ExplainedException `json:"exceptions,omitempty"`
	Decision   Decision             `json:"decision"`
}

// ExplainedUser is the user as the decision saw them.
type ExplainedUser struct {
	Name     string   `json:"name"`
	Known    bool     `json:"known"`
	Disabled bool     `json:"disabled"`
	Groups   []string `json:"groups"`
	// Claims are the identity provider's claims conditions read as
	// user.claims (none for a user of the built-in store).
	Claims map[string]string `json:"claims,omitempty"`
}

// ExplainedDevice is the device as the decision saw it.
type ExplainedDevice struct {
	ID          string   `json:"id"`
	State       string   `json:"state"` // approved, pending, blocked; "" unknown
	Interactive bool     `json:"interactive"`
	Online      bool     `json:"online"`
	Tags        []string `json:"tags,omitempty"`
	// Posture: a trusted report was there (else every check is unknown).
	Posture bool `json:"posture"`
}

// ExplainedSession is the signed-in session on the device.
type ExplainedSession struct {
	Methods []string  `json:"methods"`
	AuthAt  time.Time `json:"auth_at"`
	MFAAt   time.Time `json:"mfa_at,omitzero"`
}

// ExplainedPolicy is one policy and what became of it.
type ExplainedPolicy struct {
	Name string `json:"name"`
	// Skipped says why the policy was not evaluated ("not for the
	// user's groups (it is for: admins)", "does not give app grafana",
	// "not evaluated: policy ops allowed first"); "" when it was.
	Skipped string `json:"skipped,omitempty"`
	// SignInNeeds lists what the policy asks of the session ("" none);
	// SignIn is why the session does not meet them (nil: it does, or
	// there are none); the decision stops there, the condition is not
	// run, and Checks say what the posture checks would give.
	SignInNeeds string        `json:"signin_needs,omitempty"`
	SignIn      *Reason       `json:"signin,omitempty"`
	Checks      []CheckResult `json:"checks,omitempty"`
	Condition   string        `json:"condition,omitempty"`
	// ConditionResult is "true", or why the condition denied (false,
	// an error, an unknown fact).
	ConditionResult string `json:"condition_result,omitempty"`
	Passed          bool   `json:"passed"`
}

// ExplainedException is an exception naming the user or the device.
type ExplainedException struct {
	Exception
	// InForce: not expired at the decision's time (an expired one is
	// ignored).
	InForce bool `json:"in_force"`
	// Applied are the checks it waived in this decision.
	Applied []string `json:"applied,omitempty"`
}

// Admin REST paths of exceptions and explanations (bearer admin auth).
const (
	// PathExceptions: GET lists, POST creates (an Exception), DELETE
	// …/{id} deletes.
	PathExceptions = "/api/v1/exceptions"
	// PathExplain: GET ?user=U&device=D&app=A answers an Explanation
	// (user may be left out: the device's owner).
	PathExplain = "/api/v1/explain"
	// QueryDevice and QueryApp name explain's device and app (QueryUser
	// its user).
	QueryDevice = "device"
	QueryApp    = "app"
)
