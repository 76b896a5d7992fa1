package api

// Policy as code (issue 8): one HuJSON file with groups, apps, posture
// profiles, policies, exceptions and tests. The controller parses it, so
// every error carries the file's line and column
// (docs/policy-as-code.md).
const (
	// PathPolicyExport (GET) answers a PolicyExport: the live policy as a
	// file.
	PathPolicyExport = "/api/v1/policy/export"
	// PathPolicyPlan (POST a PolicyFileRequest) answers a PolicyPlan:
	// what applying the file would change, and its tests' results.
	// Nothing changes.
	PathPolicyPlan = "/api/v1/policy/plan"
	// PathPolicyApply (POST a PolicyFileRequest with Version) runs the
	// tests and, if all pass and the live policy is still at Version,
	// makes it the file in one transaction; answers the PolicyPlan
	// applied.
	PathPolicyApply = "/api/v1/policy/apply"
)

// MaxPolicyFileBytes is the largest policy file the controller takes.
const MaxPolicyFileBytes = 512 << 10

// PolicyFileRequest carries a policy file's text.
type PolicyFileRequest struct {
	// Name is the file's name, used only in error messages.
	Name   string `json:"name"`
	Source string `json:"source"`
	// Version is the live policy's version the plan was made against
	// (PolicyPlan.Version); apply refuses if the live policy changed
	// since.
	Version string `json:"version,omitempty"`
}

// PolicyExport is the live policy as a file.
type PolicyExport struct {
	Version string `json:"version"`
	Source  string `json:"source"`
}

// PolicyPlan is what a file would change (or changed) and its tests.
type PolicyPlan struct {
	// Version is the live policy's version the changes are relative to;
	// after an apply, NewVersion is the version it made.
	Version    string             `json:"version"`
	NewVersion string             `json:"new_version,omitempty"`
	Changes    []PolicyChange     `json:"changes"`
	Tests      []PolicyTestResult `json:"tests"`
	Applied    bool               `json:"applied"`
}

// Kinds of PolicyChange.
const (
	PolicyCreated = "created"
	PolicyChanged = "changed"
	PolicyDeleted = "deleted"
)

// PolicyChange is one object the file creates, changes or deletes.
type PolicyChange struct {
	// Object is the section: group, app, posture_profile, policy,
	// exception.
	Object string `json:"object"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	// Fields are the changed fields (Kind changed), as JSON.
	Fields []PolicyFieldChange `json:"fields,omitempty"`
}

// PolicyFieldChange is one field's old and new value, as JSON text
// ("" when absent).
type PolicyFieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old,omitempty"`
	New   string `json:"new,omitempty"`
}

// PolicyTestResult is one test of the file, run against the file's policy
// with the controller's engine.
type PolicyTestResult struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Allowed and Reasons are the decision the engine made.
	Allowed bool     `json:"allowed"`
	Reasons []Reason `json:"reasons,omitempty"`
	// Failure says what the test expected that the decision did not give.
	Failure string `json:"failure,omitempty"`
}
