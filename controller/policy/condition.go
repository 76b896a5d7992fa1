package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"
	// Time zones in conditions (getHours('Europe/Berlin')) must not depend
	// on the host having a zoneinfo database (distroless images do not).
	_ "time/tzdata"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"

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
//	               screen_lock, secure_boot, auto_updates, sip,
//	               gatekeeper, antivirus, domain_joined — known facts only
//	device.processes, device.forbidden, device.files map(string, bool):
//	               the required software, forbidden software and files
//	               asked about (forbidden: true while it runs)
//	device.days_since_update int, device.agent_version string
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
		cel.Variable("device.forbidden", cel.MapType(str, cel.BoolType)), cel.Variable("device.files", cel.MapType(str, cel.BoolType)),
		cel.Variable("device.days_since_update", cel.IntType), cel.Variable("device.agent_version", str),
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
	// clock is how finely its result may change with the time alone
	// (edges.go): 0 when it reads no clock.
	clock time.Duration
}

// CheckCondition compiles and type-checks expr; its error names the line
// and column of each problem. "" is no condition and is fine.
func CheckCondition(expr string) error {
	if expr == "" {
		return nil
	}
	_, _, err := compileCondition(expr)
	return err
}

func compileCondition(expr string) (cel.Program, *cel.Ast, error) {
	if len(expr) > MaxConditionLen {
		return nil, nil, fmt.Errorf("the condition is %d bytes long; at most %d are allowed", len(expr), MaxConditionLen)
	}
	// What an admin later reads in `gatehouse admin policies list` and in
	// denials stays plain text: no terminal escapes.
	if i := strings.IndexFunc(expr, func(r rune) bool { return r < ' ' && r != '\t' && r != '\n' && r != '\r' || r == 0x7f }); i >= 0 {
		return nil, nil, fmt.Errorf("the condition has a control character at byte %d; write it as an escape inside a string ('\\x1b')", i)
	}
	ast, iss := celEnv.Compile(expr)
	if iss.Err() != nil {
		return nil, nil, errors.New(strings.TrimSpace(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, nil, fmt.Errorf("the condition gives %s; it must give a bool (true allows)", ast.OutputType())
	}
	prg, err := celEnv.Program(ast, cel.CostLimit(conditionCostMax), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, fmt.Errorf("the condition cannot run: %w", err)
	}
	return prg, ast, nil
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
		s.conditions[i] = newCondition(p.Condition)
	}
	s.profileConds = map[string]condition{}
	s.profileCheckList = make(map[string][]check, len(s.Profiles))
	for name, p := range s.Profiles {
		s.profileCheckList[name] = checksOf(p)
		if p.Condition != "" {
			s.profileConds[name] = newCondition(p.Condition)
		}
	}
	s.compileEdges()
}

func newCondition(src string) condition {
	prg, ast, err := compileCondition(src)
	c := condition{src: src, prg: prg, err: err}
	if err == nil {
		c.clock = conditionClock(ast)
	}
	return c
}

// conditionDenial is why policy i's condition does not allow in.
func (dc *decider) conditionDenial(i int) (api.Reason, bool) {
	p := dc.s.Policies[i]
	if p.Condition == "" {
		return api.Reason{}, false
	}
	var c *condition
	if i < len(dc.s.conditions) {
		c = &dc.s.conditions[i]
	}
	what, ok := dc.eval(c, p.Condition)
	if ok {
		return api.Reason{}, false
	}
	return api.Reason{Code: api.CodePolicyCondition,
		Message:     fmt.Sprintf("policy %q: condition `%s` %s", p.Name, p.Condition, what),
		Remediation: "Access is allowed only when the policy's condition holds; ask an admin what it needs"}, true
}

// profileCondition is profile name's condition src as one more check of
// the profile (ConditionCheck); it fails closed as a policy's does.
func (dc *decider) profileCondition(name, src string) api.CheckResult {
	var c *condition
	if pc, ok := dc.s.profileConds[name]; ok {
		c = &pc
	}
	r := api.CheckResult{Profile: name, Check: ConditionCheck, Status: api.CheckPass, Reason: api.Reason{Code: api.CodePostureCondition,
		Remediation: "This device must meet the posture profile's condition; ask an admin what it needs"}}
	what, ok := dc.eval(c, src)
	if !ok {
		r.Status = api.CheckFail
	}
	r.Reason.Message = fmt.Sprintf("posture profile %q: condition `%s` %s", name, src, what)
	return r
}

// eval runs c, the compiled form of src, on dc's input: whether it
// allows, and what it did in words ("is true", "is false", "could not be
// evaluated: …"). A missing, stale or broken program does not allow.
func (dc *decider) eval(c *condition, src string) (string, bool) {
	switch {
	case c == nil || c.src != src:
		return "was never compiled (a controller bug): denied", false
	case c.err != nil:
		return "does not compile: " + c.err.Error(), false
	}
	out, _, err := c.prg.Eval(dc.activation())
	if err != nil {
		return "could not be evaluated: " + err.Error(), false
	}
	allowed, ok := out.Value().(bool)
	switch {
	case !ok:
		return fmt.Sprintf("gave %v, not a bool: denied", out), false
	case !allowed:
		return "is false", false
	}
	return "is true", true
}

// activation is what conditions see of dc's input, one per decider.
func (dc *decider) activation() *activation {
	if dc.vars == nil {
		dc.vars = &activation{in: &dc.in}
	}
	return dc.vars
}

// activation resolves a condition's attributes on demand: a condition
// reads a few of them, so only those are built (the maps once per
// decider). A fact not known for this input does not resolve, so reading
// it is an evaluation error, which denies.
type activation struct {
	in *Input
	// Built on first use.
	facts, procs, forbidden, files map[string]bool
}

var _ interpreter.Activation = (*activation)(nil)

// Parent implements interpreter.Activation: there is none.
func (a *activation) Parent() interpreter.Activation { return nil }

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	in := a.in
	p := in.Posture
	switch name {
	case "device.id":
		return in.Device.ID, true
	case "device.tags":
		return orEmpty(in.Device.Tags), true
	case "user.name":
		return in.Identity.User, true
	case "user.groups":
		return orEmpty(in.Identity.Groups), true
	case "user.claims":
		if in.Identity.Claims == nil {
			return map[string]string{}, true
		}
		return in.Identity.Claims, true
	case "user.signed_in":
		return in.Session != nil, true
	case "user.session_age_seconds":
		if in.Session == nil {
			return nil, false
		}
		return int64(in.Time.Sub(in.Session.AuthAt).Seconds()), true
	case "user.mfa_age_seconds":
		if in.Session == nil || in.Session.MFAAt.IsZero() {
			return nil, false
		}
		return int64(in.Time.Sub(in.Session.MFAAt).Seconds()), true
	case "request.time":
		return in.Time, true
	case "request.source_ip":
		return in.SourceIP, in.SourceIP != ""
	}
	if p == nil {
		return nil, false
	}
	switch name {
	case "device.os":
		return p.OSFamily.Value, p.OSFamily.Known
	case "device.os_name":
		return p.OSName.Value, p.OSName.Known
	case "device.os_version":
		return p.OSVersion.Value, p.OSVersion.Known
	case "device.kernel":
		return p.Kernel.Value, p.Kernel.Known
	case "device.hostname":
		return p.Hostname.Value, p.Hostname.Known
	case "device.days_since_update":
		return p.DaysSinceUpdate.Value, p.DaysSinceUpdate.Known
	case "device.agent_version":
		return p.AgentVersion, p.AgentVersion != ""
	case "device.facts":
		if a.facts == nil {
			a.facts = make(map[string]bool, 9)
			for _, f := range []struct {
				name string
				f    api.BoolFact
			}{{"disk_encryption", p.DiskEncryption}, {"firewall", p.Firewall}, {"screen_lock", p.ScreenLock},
				{"secure_boot", p.SecureBoot}, {"auto_updates", p.AutoUpdates}, {"sip", p.SIP},
				{"gatekeeper", p.Gatekeeper}, {"antivirus", p.Antivirus}, {"domain_joined", p.DomainJoined}} {
				if f.f.Known {
					a.facts[f.name] = f.f.Value
				}
			}
		}
		return a.facts, true
	case "device.processes":
		return knownBools(&a.procs, p.Processes), true
	case "device.forbidden":
		return knownBools(&a.forbidden, p.Forbidden), true
	case "device.files":
		return knownBools(&a.files, p.Files), true
	}
	return nil, false
}

func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// knownBools is the known facts of m, built into *built on first use.
func knownBools(built *map[string]bool, m map[string]api.BoolFact) map[string]bool {
	if *built == nil {
		*built = make(map[string]bool, len(m))
		for name, f := range m {
			if f.Known {
				(*built)[name] = f.Value
			}
		}
	}
	return *built
}
