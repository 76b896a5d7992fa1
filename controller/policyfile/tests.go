package policyfile

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
)

// Test is one assertion of the file: user, on a device with this posture
// (and optionally a session, at a time, from an address), asking for app,
// is allowed or denied (and, optionally, for these reason codes).
type Test struct {
	Name string `json:"name"`
	User string `json:"user"`
	App  string `json:"app"`
	// Posture is a partial api.PostureReport: facts by their JSON names.
	// A fact may be written whole ({"value": true, "known": true}) or as
	// its bare value (true, "linux", 12), which means known. A fact not
	// given is unknown, and fails every check that reads it.
	Posture *api.PostureReport `json:"-"`
	Device  TestDevice         `json:"device,omitzero"`
	// Session is the signed-in session on the device; none when absent.
	Session *TestSession `json:"session,omitempty"`
	// Time is when the request is decided; now when absent.
	Time     time.Time `json:"time,omitzero"`
	SourceIP string    `json:"source_ip,omitempty"`
	// Claims are the user's identity provider claims (user.claims) as
	// the test assumes them; none when absent. A test never reads the
	// live claims, so its result does not change with the next sign-in.
	Claims map[string]string `json:"claims,omitempty"`
	// Expect is "allow" or "deny".
	Expect string `json:"expect"`
	// Reasons are reason codes the decision must carry
	// ("posture.disk_encryption").
	Reasons []string `json:"reasons,omitempty"`
}

// TestDevice is the device a test asks from.
type TestDevice struct {
	// ID is the device's ID, for exceptions naming a device; default
	// "test-device".
	ID string `json:"id,omitempty"`
	// State is approved (the default), pending or blocked.
	State       string   `json:"state,omitempty"`
	Interactive bool     `json:"interactive,omitempty"`
	Tags        []string `json:"tags,omitempty"`
}

// TestSession is a signed-in session, its ages counted back from the
// test's time.
type TestSession struct {
	Methods []string `json:"methods,omitempty"`
	// SignedInAgo is how long ago the user signed in (default 0: now).
	SignedInAgo api.Duration `json:"signed_in_ago,omitempty"`
	// MFAAgo is how long ago a second factor was used; none when absent.
	MFAAgo *api.Duration `json:"mfa_ago,omitempty"`
}

// Expectations of a test.
const (
	ExpectAllow = "allow"
	ExpectDeny  = "deny"
)

// testShape is Test as written: the posture in its short form.
type testShape struct {
	Test
	Posture json.RawMessage `json:"posture,omitempty"`
}

func (f *File) decodeTests(e *errs, raw json.RawMessage) {
	if raw == nil {
		return
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		e.at(SectionTests, "section %q must be a list: [ { … }, … ]", SectionTests)
		return
	}
	for i, el := range elems {
		path := SectionTests + "[" + strconv.Itoa(i) + "]"
		var t testShape
		if !decodeStrict(e, path, el, &t) {
			continue
		}
		if t.Posture != nil {
			long, err := expandFacts(t.Posture)
			if err != nil {
				e.at(path+".posture", "%v", err)
				continue
			}
			t.Test.Posture = &api.PostureReport{}
			if !decodeStrict(e, path+".posture", long, t.Test.Posture) {
				continue
			}
		}
		f.Tests = append(f.Tests, t.Test)
	}
}

var (
	boolFact   = reflect.TypeFor[api.BoolFact]()
	stringFact = reflect.TypeFor[api.StringFact]()
	intFact    = reflect.TypeFor[api.IntFact]()
	factMap    = reflect.TypeFor[map[string]api.BoolFact]()
)

// expandFacts rewrites a posture's bare fact values ("disk_encryption":
// false) as known facts ({"value": false, "known": true}), in maps of
// facts too ("processes": {"/usr/sbin/sshd": true}).
func expandFacts(raw json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("posture must be an object of facts: { \"disk_encryption\": true, … }")
	}
	fields := map[string]reflect.Type{}
	t := reflect.TypeFor[api.PostureReport]()
	for i := 0; i < t.NumField(); i++ {
		n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		fields[n] = t.Field(i).Type
	}
	known := func(v json.RawMessage) json.RawMessage {
		if b := bytes.TrimSpace(v); len(b) > 0 && b[0] != '{' {
			return json.RawMessage(`{"value":` + string(b) + `,"known":true}`)
		}
		return v
	}
	for k, v := range m {
		switch fields[k] {
		case boolFact, stringFact, intFact:
			m[k] = known(v)
		case factMap:
			var inner map[string]json.RawMessage
			if json.Unmarshal(v, &inner) != nil {
				continue // the strict decode says what is wrong
			}
			for ik, iv := range inner {
				inner[ik] = known(iv)
			}
			b, err := json.Marshal(inner)
			if err != nil {
				return nil, err
			}
			m[k] = b
		}
	}
	return json.Marshal(m)
}

// check records what is wrong with t (at path) on its own.
func (t Test) check(e *errs, path string, apps map[string]bool) {
	switch {
	case t.Name == "":
		e.at(path, "test needs a \"name\" saying what it shows")
	case t.User == "":
		e.at(path, "test %q needs a \"user\"", t.Name)
	case t.App == "":
		e.at(path, "test %q needs an \"app\"", t.Name)
	case !apps[t.App]:
		e.at(path+".app", "test %q asks for app %q, which the file does not declare", t.Name, t.App)
	case t.Expect != ExpectAllow && t.Expect != ExpectDeny:
		e.at(path+".expect", "test %q: expect must be %q or %q", t.Name, ExpectAllow, ExpectDeny)
	case t.Expect == ExpectAllow && len(t.Reasons) > 0:
		e.at(path+".reasons", "test %q: reasons are the codes of a denial; an allowed request carries only %s", t.Name, api.CodePolicyAllow)
	}
	switch t.Device.State {
	case "", policy.DeviceApproved, policy.DevicePending, policy.DeviceBlocked:
	default:
		e.at(path+".device.state", "test %q: device state %q: use approved, pending or blocked", t.Name, t.Device.State)
	}
}

// Run runs f's tests against f's own policy with the controller's engine
// (policy.Snapshot): users are those given (the live ones), each in the
// groups the file puts them in. A test without a time runs at now. It
// stops early, failing the tests not run, when ctx ends.
//
// The file's exceptions waive checks as they would live: a test's
// device is "test-device" unless it names one (device.id).
func (f *File) Run(ctx context.Context, users []api.User, now time.Time) []api.PolicyTestResult {
	snap := f.Snapshot(users)
	out := make([]api.PolicyTestResult, len(f.Tests))
	for i, t := range f.Tests {
		if err := ctx.Err(); err != nil {
			out[i] = api.PolicyTestResult{Name: t.Name, Failure: "not run: " + err.Error()}
			continue
		}
		out[i] = t.run(snap, now)
	}
	return out
}

// Snapshot is f's policy as the engine sees it, with users in the groups
// the file gives them (a user the file puts in no group has none).
func (f *File) Snapshot(users []api.User) *policy.Snapshot {
	member := map[string][]string{}
	for _, g := range f.Groups {
		for _, m := range g.Members {
			member[m] = append(member[m], g.Name)
		}
	}
	snap := &policy.Snapshot{Users: map[string]api.User{}, Apps: map[string]api.App{},
		Profiles: map[string]api.PostureProfile{}, Policies: slices.Clone(f.Policies), Exceptions: slices.Clone(f.Exceptions)}
	for _, u := range users {
		u.Groups = member[u.Name]
		slices.Sort(u.Groups)
		snap.Users[u.Name] = u
	}
	for _, a := range f.Apps {
		snap.Apps[a.Name] = a
	}
	for _, p := range f.Profiles {
		snap.Profiles[p.Name] = p
	}
	snap.Compile()
	return snap
}

func (t Test) run(snap *policy.Snapshot, now time.Time) api.PolicyTestResult {
	at := now
	if !t.Time.IsZero() {
		at = t.Time
	}
	state := t.Device.State
	if state == "" {
		state = policy.DeviceApproved
	}
	in := policy.Input{Identity: snap.Identity(t.User),
		Device:  policy.Device{ID: cmp.Or(t.Device.ID, "test-device"), State: state, Interactive: t.Device.Interactive, Tags: t.Device.Tags},
		Posture: t.Posture, App: t.App, Time: at, SourceIP: t.SourceIP}
	in.Identity.Claims = t.Claims
	if s := t.Session; s != nil {
		in.Session = &policy.Session{Methods: s.Methods, AuthAt: at.Add(-time.Duration(s.SignedInAgo))}
		if s.MFAAgo != nil {
			in.Session.MFAAt = at.Add(-time.Duration(*s.MFAAgo))
		}
	}
	d := snap.Evaluate(in)
	r := api.PolicyTestResult{Name: t.Name, Allowed: d.Allowed, Reasons: d.Reasons}
	var codes []string
	for _, reason := range d.Reasons {
		codes = append(codes, reason.Code)
	}
	var missing []string
	for _, c := range t.Reasons {
		if !slices.Contains(codes, c) {
			missing = append(missing, c)
		}
	}
	switch {
	case d.Allowed != (t.Expect == ExpectAllow):
		got := "denied"
		if d.Allowed {
			got = "allowed"
		}
		r.Failure = fmt.Sprintf("expected %s, got %s (%s)", t.Expect, got, strings.Join(codes, ", "))
	case len(missing) > 0:
		r.Failure = fmt.Sprintf("denied, but without reason %s (got %s)", strings.Join(missing, ", "), strings.Join(codes, ", "))
	default:
		r.Passed = true
	}
	return r
}
