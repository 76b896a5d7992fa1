package policy

import (
	"errors"
	"fmt"
	"strings"
	// Time zones in conditions (getHours('Europe/Berlin')) must not depend
	// on the host having a zoneinfo database (distroless images do not).
	_ "time/tzdata"

	"cel.dev/cel-go/cel"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// A policy's condition is a CEL expression (cel.dev) that must be true
// as well as its sign-in needs and posture. It is compiled and
// type-checked once, when an admin stores it (CheckCondition) and when a
// Snapshot is built (Compile), never per request.
//
// The declared attributes (a fact not known for this request is left out
// of the activation, so reading it is an evaluation error and denies):
//
//	device.id, device.os (linux, darwin, windows), device.os_name,
//	device.os_version, device.kernel, device.hostname   string
//	device.tags                                          list(string)
//	device.facts   map(string, bool): disk_encryption, firewall,
//	               screen_lock, secure_boot — known facts only
//	device.processes map(string, bool): the processes asked about
//	user.name string, user.groups list(string), user.claims map(string, string)
//	user.signed_in bool
//	user.mfa_age_seconds, user.session_age_seconds int (only when signed in;
//	               mfa only when a second factor was used)
//	request.time   timestamp (request.time.getHours('Europe/Berlin'), …)
//	request.source_ip string (when known)

// Limits of a condition: its source length, and the cost the evaluation
// may spend (cel.CostLimit; a list membership test costs about its
// length) before it is stopped and denies.
const (
	MaxConditionLen  = 2048
	conditionCostMax = 10_000
)

// celEnv is the declared environment every condition is checked against.
// A cel.Env is immutable and safe for concurrent use.
var celEnv = func() *cel.Env {
	str, strList := cel.StringType, cel.ListType(cel.StringType)
	env, err := cel.NewEnv(append(zonedAccessors(),
		cel.Variable("device.id", str), cel.Variable("device.os", str), cel.Variable("device.os_name", str),
		cel.Variable("device.os_version", str), cel.Variable("device.kernel", str), cel.Variable("device.hostname", str),
		cel.Variable("device.tags", strList),
		cel.Variable("device.facts", cel.MapType(str, cel.BoolType)),
		cel.Variable("device.processes", cel.MapType(str, cel.BoolType)),
		cel.Variable("user.name", str), cel.Variable("user.groups", strList),
		cel.Variable("user.claims", cel.MapType(str, str)),
		cel.Variable("user.signed_in", cel.BoolType),
		cel.Variable("user.mfa_age_seconds", cel.IntType), cel.Variable("user.session_age_seconds", cel.IntType),
		cel.Variable("request.time", cel.TimestampType), cel.Variable("request.source_ip", str),
		cel.ParserExpressionSizeLimit(MaxConditionLen), cel.ParserRecursionLimit(32),
	)...)
	if err != nil {
		panic("policy: CEL environment: " + err.Error()) // a programming error, caught by every test
	}
	return env
}()

// condition is one compiled policy condition: prg, or err when it does
// not compile (which denies: fail closed).
type condition struct {
	src string
	prg cel.Program
	err error
}

// CheckCondition compiles and type-checks expr; its error names the line
// and column of each problem. "" is no condition and is fine.
func CheckCondition(expr string) error {
	if expr == "" {
		return nil
	}
	_, err := compileCondition(expr)
	return err
}

func compileCondition(expr string) (cel.Program, error) {
	if len(expr) > MaxConditionLen {
		return nil, fmt.Errorf("the condition is %d bytes long; at most %d are allowed", len(expr), MaxConditionLen)
	}
	// What an admin later reads in `gatehouse admin policies list` and in
	// denials stays plain text: no terminal escapes.
	if i := strings.IndexFunc(expr, func(r rune) bool { return r < ' ' && r != '\t' && r != '\n' && r != '\r' || r == 0x7f }); i >= 0 {
		return nil, fmt.Errorf("the condition has a control character at byte %d; write it as an escape inside a string ('\\x1b')", i)
	}
	ast, iss := celEnv.Compile(expr)
	if iss.Err() != nil {
		return nil, errors.New(strings.TrimSpace(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("the condition gives %s; it must give a bool (true allows)", ast.OutputType())
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(conditionCostMax), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("the condition cannot run: %w", err)
	}
	return prg, nil
}

// Compile compiles the condition of every policy of s, and indexes its
// exceptions. Call it once when the snapshot is built, before it is
// shared; a policy whose condition does not compile (it was stored by an older version, or edited in the
// database) denies with the compile error.
func (s *Snapshot) Compile() {
	s.indexExceptions()
	s.conditions = make([]condition, len(s.Policies))
	for i, p := range s.Policies {
		if p.Condition == "" {
			continue
		}
		prg, err := compileCondition(p.Condition)
		s.conditions[i] = condition{src: p.Condition, prg: prg, err: err}
	}
}

// conditionDenial is why policy i's condition does not allow in.
func (dc *decider) conditionDenial(i int) (api.Reason, bool) {
	p := dc.s.Policies[i]
	if p.Condition == "" {
		return api.Reason{}, false
	}
	deny := func(what string) (api.Reason, bool) {
		return api.Reason{Code: api.CodePolicyCondition,
			Message:     fmt.Sprintf("policy %q: condition `%s` %s", p.Name, p.Condition, what),
			Remediation: "Access is allowed only when the policy's condition holds; ask an admin what it needs"}, true
	}
	if i >= len(dc.s.conditions) || dc.s.conditions[i].src != p.Condition {
		return deny("was never compiled (a controller bug): denied")
	}
	c := dc.s.conditions[i]
	if c.err != nil {
		return deny("does not compile: " + c.err.Error())
	}
	out, _, err := c.prg.Eval(dc.activation())
	if err != nil {
		return deny("could not be evaluated: " + err.Error())
	}
	allowed, ok := out.Value().(bool)
	switch {
	case !ok:
		return deny(fmt.Sprintf("gave %v, not a bool: denied", out))
	case !allowed:
		return deny("is false")
	}
	return api.Reason{}, false
}

// activation is what conditions see of dc's input, built once per
// decider. Unknown facts are left out.
func (dc *decider) activation() map[string]any {
	if dc.vars != nil {
		return dc.vars
	}
	in := dc.in
	groups := in.Identity.Groups
	if groups == nil {
		groups = []string{}
	}
	claims := in.Identity.Claims
	if claims == nil {
		claims = map[string]string{}
	}
	tags := in.Device.Tags
	if tags == nil {
		tags = []string{}
	}
	v := map[string]any{
		"device.id": in.Device.ID, "device.tags": tags,
		"user.name": in.Identity.User, "user.groups": groups, "user.claims": claims,
		"user.signed_in": in.Session != nil,
		"request.time":   in.Time,
	}
	if in.SourceIP != "" {
		v["request.source_ip"] = in.SourceIP
	}
	if s := in.Session; s != nil {
		v["user.session_age_seconds"] = int64(in.Time.Sub(s.AuthAt).Seconds())
		if !s.MFAAt.IsZero() {
			v["user.mfa_age_seconds"] = int64(in.Time.Sub(s.MFAAt).Seconds())
		}
	}
	if p := in.Posture; p != nil {
		for name, f := range map[string]api.StringFact{"device.os": p.OSFamily, "device.os_name": p.OSName,
			"device.os_version": p.OSVersion, "device.kernel": p.Kernel, "device.hostname": p.Hostname} {
			if f.Known {
				v[name] = f.Value
			}
		}
		facts := map[string]bool{}
		for name, f := range map[string]api.BoolFact{"disk_encryption": p.DiskEncryption, "firewall": p.Firewall,
			"screen_lock": p.ScreenLock, "secure_boot": p.SecureBoot} {
			if f.Known {
				facts[name] = f.Value
			}
		}
		procs := map[string]bool{}
		for name, f := range p.Processes {
			if f.Known {
				procs[name] = f.Value
			}
		}
		v["device.facts"], v["device.processes"] = facts, procs
	}
	dc.vars = v
	return v
}
