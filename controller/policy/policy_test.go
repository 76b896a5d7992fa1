package policy

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// goodLinux is a posture report that passes every profile in testSnapshot.
func goodLinux() *api.PostureReport {
	return &api.PostureReport{
		OSFamily:       api.KnownString("linux"),
		OSVersion:      api.KnownString("12.5"),
		Kernel:         api.KnownString("6.1.0-18-amd64"),
		DiskEncryption: api.KnownBool(true),
		Firewall:       api.KnownBool(true),
		Processes:      map[string]api.BoolFact{"falcon-sensor": api.KnownBool(true)},
	}
}

// with returns goodLinux changed by f.
func with(f func(p *api.PostureReport)) *api.PostureReport {
	p := goodLinux()
	f(p)
	return p
}

func testSnapshot() *Snapshot {
	return &Snapshot{
		Users: map[string]api.User{
			"alice":   {Name: "alice", Groups: []string{"eng", "ops"}},
			"bob":     {Name: "bob", Groups: []string{"sales"}},
			"carol":   {Name: "carol"},
			"dave":    {Name: "dave", Groups: []string{"contractors"}},
			"erin":    {Name: "erin", Groups: []string{"mixed"}},
			"frank":   {Name: "frank", Groups: []string{"broken"}},
			"mallory": {Name: "mallory", Groups: []string{"eng"}},
		},
		Apps: map[string]api.App{
			"grafana": {Name: "grafana", Upstreams: []string{"10.0.0.5:3000"}},
			"wiki":    {Name: "wiki", Upstreams: []string{"10.0.0.6:80"}},
			"crm":     {Name: "crm", Upstreams: []string{"10.0.0.7:443"}},
			"db":      {Name: "db", Upstreams: []string{"10.0.0.8:5432"}},
		},
		Profiles: map[string]api.PostureProfile{
			"hardened": {Name: "hardened", OSFamily: "linux", MinKernel: "6.1", MinOSVersion: "12",
				DiskEncryption: true, Firewall: true, RequiredProcesses: []string{"falcon-sensor"}},
			"mac-only": {Name: "mac-only", OSFamily: "darwin"},
			"edr":      {Name: "edr", RequiredProcesses: []string{"osqueryd", "falcon-sensor"}},
		},
		Policies: []api.Policy{
			{Name: "eng-grafana", Groups: []string{"eng"}, Apps: []string{"grafana"}, PostureProfiles: []string{"hardened"}},
			{Name: "everyone-wiki", Groups: []string{"eng", "sales", "contractors"}, Apps: []string{"wiki"}},
			{Name: "mixed-crm-mac", Groups: []string{"mixed"}, Apps: []string{"crm"}, PostureProfiles: []string{"mac-only"}},
			{Name: "mixed-crm-linux", Groups: []string{"mixed"}, Apps: []string{"crm"}, PostureProfiles: []string{"hardened"}},
			{Name: "broken-db", Groups: []string{"broken"}, Apps: []string{"db"}, PostureProfiles: []string{"deleted-profile"}},
		},
	}
}

func codes(rs []api.Reason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

func TestDecide(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	type in struct {
		user    string
		posture *api.PostureReport
		app     string
	}
	tests := []struct {
		name        string
		in          in
		wantAllowed bool
		wantCodes   []string
		// wantMsg are substrings the joined reason messages must contain.
		wantMsg []string
	}{
		{name: "unknown app", in: in{"alice", goodLinux(), "nope"},
			wantCodes: []string{"app.unknown"}, wantMsg: []string{`"nope"`}},
		{name: "unknown user", in: in{"zed", goodLinux(), "wiki"},
			wantCodes: []string{"user.unknown"}, wantMsg: []string{`"zed"`}},
		{name: "no matching policy names the groups", in: in{"bob", goodLinux(), "grafana"},
			wantCodes: []string{"policy.no_match"}, wantMsg: []string{`"grafana"`, "sales"}},
		{name: "no matching policy, user in two groups", in: in{"alice", goodLinux(), "db"},
			wantCodes: []string{"policy.no_match"}, wantMsg: []string{"eng, ops"}},
		{name: "no matching policy, user in no group", in: in{"carol", goodLinux(), "wiki"},
			wantCodes: []string{"policy.no_match"}, wantMsg: []string{"(none)"}},
		{name: "allowed with no profiles", in: in{"dave", goodLinux(), "wiki"},
			wantAllowed: true, wantCodes: []string{"policy.allow"}, wantMsg: []string{`"everyone-wiki"`}},
		{name: "allowed with no profiles and no posture", in: in{"dave", nil, "wiki"},
			wantAllowed: true, wantCodes: []string{"policy.allow"}},
		{name: "allowed by profile when all facts pass", in: in{"alice", goodLinux(), "grafana"},
			wantAllowed: true, wantCodes: []string{"policy.allow"}, wantMsg: []string{`"eng-grafana"`}},
		{name: "kernel exactly the minimum", in: in{"alice", with(func(p *api.PostureReport) { p.Kernel = api.KnownString("6.1") }), "grafana"},
			wantAllowed: true, wantCodes: []string{"policy.allow"}},
		{name: "disk encryption off", in: in{"alice", with(func(p *api.PostureReport) { p.DiskEncryption = api.KnownBool(false) }), "grafana"},
			wantCodes: []string{"posture.disk_encryption"}, wantMsg: []string{"disk encryption is off"}},
		{name: "firewall off", in: in{"alice", with(func(p *api.PostureReport) { p.Firewall = api.KnownBool(false) }), "grafana"},
			wantCodes: []string{"posture.firewall"}, wantMsg: []string{"firewall is off"}},
		{name: "firewall off, with the device's reason", in: in{"alice", with(func(p *api.PostureReport) {
			p.Firewall = api.BoolFact{Known: true, Reason: "nftables: no filter chain hooks input\n(NAT-only)"}
		}), "grafana"},
			wantCodes: []string{"posture.firewall"}, wantMsg: []string{"firewall is off (the device says: nftables: no filter chain hooks input(NAT-only))"}},
		{name: "required software not root-owned, with the device's reason", in: in{"alice", with(func(p *api.PostureReport) {
			p.Processes["falcon-sensor"] = api.BoolFact{Known: true, Reason: strings.Repeat("x", 300)}
		}), "grafana"},
			wantCodes: []string{"posture.process:falcon-sensor"}, wantMsg: []string{"(the device says: " + strings.Repeat("x", 200) + "…)"}},
		{name: "kernel too old", in: in{"alice", with(func(p *api.PostureReport) { p.Kernel = api.KnownString("5.15.0-91-generic") }), "grafana"},
			wantCodes: []string{"posture.min_kernel"}, wantMsg: []string{"kernel 5.15.0-91-generic is older than 6.1"}},
		{name: "os family mismatch", in: in{"alice", with(func(p *api.PostureReport) { p.OSFamily = api.KnownString("windows") }), "grafana"},
			wantCodes: []string{"posture.os_family"}, wantMsg: []string{"this device runs windows; this app needs linux"}},
		{name: "os version too old", in: in{"alice", with(func(p *api.PostureReport) { p.OSVersion = api.KnownString("11.9") }), "grafana"},
			wantCodes: []string{"posture.min_os_version"}, wantMsg: []string{"os version 11.9 is older than 12"}},
		{name: "required process not running", in: in{"alice", with(func(p *api.PostureReport) {
			p.Processes["falcon-sensor"] = api.KnownBool(false)
		}), "grafana"},
			wantCodes: []string{"posture.process:falcon-sensor"}, wantMsg: []string{`required process "falcon-sensor" is not running`}},
		{name: "two checks failing give two reasons", in: in{"alice", with(func(p *api.PostureReport) {
			p.DiskEncryption = api.KnownBool(false)
			p.Firewall = api.KnownBool(false)
		}), "grafana"},
			wantCodes: []string{"posture.disk_encryption", "posture.firewall"}},
		{name: "os family unknown", in: in{"alice", with(func(p *api.PostureReport) { p.OSFamily = api.StringFact{Value: "linux"} }), "grafana"},
			wantCodes: []string{"posture.os_family"}, wantMsg: []string{"unknown"}},
		{name: "kernel unknown", in: in{"alice", with(func(p *api.PostureReport) { p.Kernel = api.StringFact{Value: "6.5"} }), "grafana"},
			wantCodes: []string{"posture.min_kernel"}, wantMsg: []string{"unknown"}},
		{name: "os version unknown", in: in{"alice", with(func(p *api.PostureReport) { p.OSVersion = api.StringFact{} }), "grafana"},
			wantCodes: []string{"posture.min_os_version"}, wantMsg: []string{"unknown"}},
		{name: "disk encryption unknown", in: in{"alice", with(func(p *api.PostureReport) { p.DiskEncryption = api.BoolFact{Value: true} }), "grafana"},
			wantCodes: []string{"posture.disk_encryption"}, wantMsg: []string{"unknown"}},
		{name: "firewall unknown", in: in{"alice", with(func(p *api.PostureReport) { p.Firewall = api.BoolFact{Value: true} }), "grafana"},
			wantCodes: []string{"posture.firewall"}, wantMsg: []string{"unknown"}},
		{name: "process unknown", in: in{"alice", with(func(p *api.PostureReport) {
			p.Processes["falcon-sensor"] = api.BoolFact{Value: true}
		}), "grafana"},
			wantCodes: []string{"posture.process:falcon-sensor"}, wantMsg: []string{"unknown"}},
		{name: "process not reported at all", in: in{"alice", with(func(p *api.PostureReport) { p.Processes = nil }), "grafana"},
			wantCodes: []string{"posture.process:falcon-sensor"}, wantMsg: []string{"unknown"}},
		{name: "nil posture fails every check", in: in{"alice", nil, "grafana"},
			wantCodes: []string{"posture.os_family", "posture.min_kernel", "posture.min_os_version",
				"posture.disk_encryption", "posture.firewall", "posture.process:falcon-sensor"}},
		{name: "policy naming a missing profile", in: in{"frank", goodLinux(), "db"},
			wantCodes: []string{"policy.missing_profile"}, wantMsg: []string{`"deleted-profile"`}},
		{name: "second of two matching policies passes", in: in{"erin", goodLinux(), "crm"},
			wantAllowed: true, wantCodes: []string{"policy.allow"}, wantMsg: []string{`"mixed-crm-linux"`}},
		{name: "neither of two matching policies passes", in: in{"erin", with(func(p *api.PostureReport) { p.Firewall = api.KnownBool(false) }), "crm"},
			wantCodes: []string{"posture.os_family", "posture.firewall"}},
	}
	s := testSnapshot()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := s.Decide(tt.in.user, tt.in.posture, tt.in.app, now)
			if d.Allowed != tt.wantAllowed {
				t.Errorf("Decide(%q, %q).Allowed = %v, want %v (reasons %+v)", tt.in.user, tt.in.app, d.Allowed, tt.wantAllowed, d.Reasons)
			}
			if d.App != tt.in.app || !d.EvaluatedAt.Equal(now) {
				t.Errorf("Decide(%q, %q) = app %q at %v, want app %q at %v", tt.in.user, tt.in.app, d.App, d.EvaluatedAt, tt.in.app, now)
			}
			if got := codes(d.Reasons); !slices.Equal(got, tt.wantCodes) {
				t.Errorf("Decide(%q, %q) reason codes = %q, want %q", tt.in.user, tt.in.app, got, tt.wantCodes)
			}
			var msgs []string
			for _, r := range d.Reasons {
				msgs = append(msgs, r.Message)
				if r.Message == "" {
					t.Errorf("Decide(%q, %q) reason %q has no message", tt.in.user, tt.in.app, r.Code)
				}
				if !d.Allowed && r.Remediation == "" {
					t.Errorf("Decide(%q, %q) reason %q has no remediation", tt.in.user, tt.in.app, r.Code)
				}
			}
			joined := strings.Join(msgs, "; ")
			for _, w := range tt.wantMsg {
				if !strings.Contains(joined, w) {
					t.Errorf("Decide(%q, %q) messages = %q, want them to mention %q", tt.in.user, tt.in.app, joined, w)
				}
			}
		})
	}
}

// An unknown fact never passes, even when its Value happens to be the good one.
// TestDecideAllMatchesDecide: deciding a catalogue at once gives, app by
// app, what Decide gives, for every user and posture of testSnapshot.
func TestDecideAllMatchesDecide(t *testing.T) {
	snap := testSnapshot()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	apps := append(snap.AppNames(), "no-such-app")
	postures := map[string]*api.PostureReport{"good": goodLinux(), "none": nil,
		"no disk encryption": with(func(p *api.PostureReport) { p.DiskEncryption = api.KnownBool(false) })}
	for _, user := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "mallory", "nobody"} {
		for pname, p := range postures {
			got := snap.DecideAll(Input{Identity: snap.Identity(user), Device: Device{State: DeviceApproved}, Posture: p, Time: now}, apps)
			for i, app := range apps {
				if want := snap.Decide(user, p, app, now); !reflect.DeepEqual(got[i], want) {
					t.Errorf("DecideAll(%q, %s)[%q] = %+v, want %+v", user, pname, app, got[i], want)
				}
			}
		}
	}
}

func TestDecideUnknownIsNotPass(t *testing.T) {
	s := testSnapshot()
	p := with(func(p *api.PostureReport) { p.DiskEncryption = api.BoolFact{Value: true, Known: false} })
	for _, c := range s.Checks("alice", p) {
		if c.Check != "disk_encryption" {
			continue
		}
		if c.Status != api.CheckUnknown {
			t.Errorf("Checks(%q) disk_encryption status = %q, want %q", "alice", c.Status, api.CheckUnknown)
		}
		return
	}
	t.Fatalf("Checks(%q) has no disk_encryption check", "alice")
}

func TestChecks(t *testing.T) {
	type check struct{ profile, check, status string }
	tests := []struct {
		name    string
		user    string
		posture *api.PostureReport
		want    []check
	}{
		{name: "all pass", user: "alice", posture: goodLinux(), want: []check{
			{"hardened", "os_family", api.CheckPass},
			{"hardened", "min_kernel", api.CheckPass},
			{"hardened", "min_os_version", api.CheckPass},
			{"hardened", "disk_encryption", api.CheckPass},
			{"hardened", "firewall", api.CheckPass},
			{"hardened", "process:falcon-sensor", api.CheckPass},
		}},
		{name: "fail and unknown", user: "alice", posture: with(func(p *api.PostureReport) {
			p.Kernel = api.KnownString("5.15.0-91-generic")
			p.Firewall = api.BoolFact{}
		}), want: []check{
			{"hardened", "os_family", api.CheckPass},
			{"hardened", "min_kernel", api.CheckFail},
			{"hardened", "min_os_version", api.CheckPass},
			{"hardened", "disk_encryption", api.CheckPass},
			{"hardened", "firewall", api.CheckUnknown},
			{"hardened", "process:falcon-sensor", api.CheckPass},
		}},
		{name: "nil posture is all unknown", user: "alice", posture: nil, want: []check{
			{"hardened", "os_family", api.CheckUnknown},
			{"hardened", "min_kernel", api.CheckUnknown},
			{"hardened", "min_os_version", api.CheckUnknown},
			{"hardened", "disk_encryption", api.CheckUnknown},
			{"hardened", "firewall", api.CheckUnknown},
			{"hardened", "process:falcon-sensor", api.CheckUnknown},
		}},
		{name: "profiles of every policy, sorted by profile", user: "erin", posture: goodLinux(), want: []check{
			{"hardened", "os_family", api.CheckPass},
			{"hardened", "min_kernel", api.CheckPass},
			{"hardened", "min_os_version", api.CheckPass},
			{"hardened", "disk_encryption", api.CheckPass},
			{"hardened", "firewall", api.CheckPass},
			{"hardened", "process:falcon-sensor", api.CheckPass},
			{"mac-only", "os_family", api.CheckFail},
		}},
		{name: "missing profile fails", user: "frank", posture: goodLinux(), want: []check{
			{"deleted-profile", "profile", api.CheckFail},
		}},
		{name: "no profiles", user: "dave", posture: goodLinux(), want: nil},
		{name: "unknown user", user: "zed", posture: goodLinux(), want: nil},
	}
	s := testSnapshot()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []check
			for _, c := range s.Checks(tt.user, tt.posture) {
				got = append(got, check{c.Profile, c.Check, c.Status})
				if c.Reason.Message == "" {
					t.Errorf("Checks(%q) %s/%s has no message", tt.user, c.Profile, c.Check)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Checks(%q) = %v, want %v", tt.user, got, tt.want)
			}
		})
	}
}

func TestQuery(t *testing.T) {
	s := testSnapshot()
	want := []string{"falcon-sensor", "osqueryd"}
	if got := s.Query().Processes; !slices.Equal(got, want) {
		t.Errorf("Query().Processes = %q, want %q", got, want)
	}
	empty := &Snapshot{Profiles: map[string]api.PostureProfile{"a": {Name: "a", Firewall: true}}}
	if got := empty.Query().Processes; len(got) != 0 {
		t.Errorf("Query().Processes with no required processes = %q, want none", got)
	}
}

func TestAppNames(t *testing.T) {
	want := []string{"crm", "db", "grafana", "wiki"}
	if got := testSnapshot().AppNames(); !slices.Equal(got, want) {
		t.Errorf("AppNames() = %q, want %q", got, want)
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		name string
		in   [2]string
		want int
	}{
		{name: "debian kernel vs short min", in: [2]string{"6.1.0-18-amd64", "6.1"}, want: 0},
		{name: "ubuntu kernel older", in: [2]string{"5.15.0-91-generic", "6.1"}, want: -1},
		{name: "minor numeric not lexical", in: [2]string{"5.15", "6.1"}, want: -1},
		{name: "two digit major", in: [2]string{"10.0", "9.9"}, want: 1},
		{name: "longer is newer", in: [2]string{"14.2.1", "14.2"}, want: 1},
		{name: "shorter is older", in: [2]string{"14.2", "14.2.1"}, want: -1},
		{name: "equal", in: [2]string{"6.1", "6.1"}, want: 0},
		{name: "trailing zeros", in: [2]string{"6.1.0.0", "6.1"}, want: 0},
		{name: "multi digit minor", in: [2]string{"6.10", "6.9"}, want: 1},
		{name: "suffix on middle part", in: [2]string{"6.8-rc3", "6.8"}, want: 0},
		{name: "windows build", in: [2]string{"10.0.22631", "10.0.19045"}, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CompareVersions(tt.in[0], tt.in[1]); got != tt.want {
				t.Errorf("CompareVersions(%q, %q) = %v, want %v", tt.in[0], tt.in[1], got, tt.want)
			}
		})
	}
}

func TestEntitled(t *testing.T) {
	snap := testSnapshot()
	// A policy may outlive an app it named: a missing app is never listed.
	snap.Policies = append(snap.Policies, api.Policy{Name: "gone", Groups: []string{"sales"}, Apps: []string{"deleted-app", "crm"}})
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "two policies by two groups", in: "alice", want: []string{"grafana", "wiki"}},
		{name: "missing app left out", in: "bob", want: []string{"crm", "wiki"}},
		{name: "no groups", in: "carol", want: nil},
		{name: "entitled whatever the posture", in: "erin", want: []string{"crm"}},
		{name: "policy naming a missing profile still entitles", in: "frank", want: []string{"db"}},
		{name: "unknown user", in: "nobody", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snap.Entitled(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("Entitled(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, app := range append(snap.AppNames(), "deleted-app") {
				if got, want := snap.Entitles(tt.in, app), slices.Contains(tt.want, app); got != want {
					t.Errorf("Entitles(%q, %q) = %v, want %v", tt.in, app, got, want)
				}
			}
		})
	}
}

// BenchmarkDecideCatalogue decides every app of a 5,000-app catalogue for a
// user entitled to 3,000 of them through three policies.
func BenchmarkDecideCatalogue(b *testing.B) {
	snap := bigSnapshot(5000, 3000)
	now := time.Now()
	for b.Loop() {
		snap.DecideAll(Input{Identity: snap.Identity("alice"), Device: Device{State: DeviceApproved}, Posture: goodLinux(), Time: now}, snap.Entitled("alice"))
	}
}

// bigSnapshot has n apps of which alice's three policies name the first
// entitled.
func bigSnapshot(n, entitled int) *Snapshot {
	snap := testSnapshot()
	snap.Apps = map[string]api.App{}
	var names []string
	for i := range n {
		name := "app-" + strings.Repeat("0", 5-len(strconv.Itoa(i))) + strconv.Itoa(i)
		snap.Apps[name] = api.App{Name: name, Upstreams: []string{"10.0.0.5:80"}}
		names = append(names, name)
	}
	snap.Policies = nil
	for i := 0; i < entitled; i += entitled / 3 {
		snap.Policies = append(snap.Policies, api.Policy{Name: "p" + strconv.Itoa(i), Groups: []string{"eng"},
			Apps: names[i:min(i+entitled/3, entitled)], PostureProfiles: []string{"hardened"}})
	}
	return snap
}
