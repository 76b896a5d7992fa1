package posture_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/posture"
)

// baseReport is a fully known report that overrides are applied to.
func baseReport() api.PostureReport {
	return api.PostureReport{
		AgentVersion:   "1.0.0",
		OSFamily:       api.KnownString("linux"),
		OSName:         api.KnownString("debian"),
		OSVersion:      api.KnownString("12"),
		Kernel:         api.KnownString("6.18.0"),
		Hostname:       api.KnownString("laptop"),
		Serial:         api.KnownString("SN1"),
		DiskEncryption: api.KnownBool(true),
		Firewall:       api.KnownBool(true),
		ScreenLock:     api.KnownBool(true),
		SecureBoot:     api.KnownBool(true),
		UptimeSeconds:  api.KnownInt(100),
		Processes: map[string]api.BoolFact{
			"falcon-sensor": api.KnownBool(false),
			"sshd":          api.KnownBool(true),
		},
	}
}

func TestLoadOverride(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    func(*api.PostureReport) // edits baseReport into the expected report
		wantErr string                   // substring of the error; "" for none
	}{
		{name: "empty file", in: "", want: func(*api.PostureReport) {}},
		{name: "blank file", in: " \n\t\n", want: func(*api.PostureReport) {}},
		{name: "empty object", in: "{}", want: func(*api.PostureReport) {}},
		{
			name: "good",
			in: `{"disk_encryption": false, "kernel": "6.1.0", "os_family": "darwin", "os_name": "macos",
				"os_version": "14.5", "hostname": "h", "serial": "S", "firewall": false, "screen_lock": false,
				"secure_boot": false, "uptime_seconds": 42, "processes": {"falcon-sensor": true}}`,
			want: func(r *api.PostureReport) {
				r.DiskEncryption = api.KnownBool(false)
				r.Kernel = api.KnownString("6.1.0")
				r.OSFamily = api.KnownString("darwin")
				r.OSName = api.KnownString("macos")
				r.OSVersion = api.KnownString("14.5")
				r.Hostname = api.KnownString("h")
				r.Serial = api.KnownString("S")
				r.Firewall = api.KnownBool(false)
				r.ScreenLock = api.KnownBool(false)
				r.SecureBoot = api.KnownBool(false)
				r.UptimeSeconds = api.KnownInt(42)
				r.Processes["falcon-sensor"] = api.KnownBool(true)
			},
		},
		{
			name: "null makes unknown",
			in:   `{"serial": null, "firewall": null, "uptime_seconds": null, "processes": {"sshd": null}}`,
			want: func(r *api.PostureReport) {
				r.Serial = api.StringFact{}
				r.Firewall = api.BoolFact{}
				r.UptimeSeconds = api.IntFact{}
				r.Processes["sshd"] = api.BoolFact{}
			},
		},
		{
			name: "null processes makes every asked process unknown",
			in:   `{"processes": null}`,
			want: func(r *api.PostureReport) {
				r.Processes["sshd"] = api.BoolFact{}
				r.Processes["falcon-sensor"] = api.BoolFact{}
			},
		},
		{name: "process not asked about is not added", in: `{"processes": {"other": true}}`, want: func(*api.PostureReport) {}},
		{name: "unknown key", in: `{"disk_encryption": true, "disk_crypt": true}`, wantErr: `"disk_crypt"`},
		{name: "report field that is not a fact", in: `{"collected_at": "2024-01-01T00:00:00Z"}`, wantErr: `"collected_at"`},
		{name: "bool as string", in: `{"disk_encryption": "no"}`, wantErr: `"disk_encryption"`},
		{name: "string as number", in: `{"kernel": 6}`, wantErr: `"kernel"`},
		{name: "fractional uptime", in: `{"uptime_seconds": 1.5}`, wantErr: `"uptime_seconds"`},
		{name: "process as string", in: `{"processes": {"sshd": "yes"}}`, wantErr: `"processes"`},
		{name: "processes as list", in: `{"processes": ["sshd"]}`, wantErr: `"processes"`},
		{name: "not an object", in: `[1, 2]`, wantErr: "JSON object"},
		{name: "garbage", in: `{"disk_encryption": fals`, wantErr: "JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "override.json")
			if err := os.WriteFile(path, []byte(tt.in), 0o644); err != nil {
				t.Fatal(err)
			}
			o, err := posture.LoadOverride(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("LoadOverride(%q) error = %v, want one naming %s and the file", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadOverride(%q) error = %v, want nil", tt.in, err)
			}
			got, want := baseReport(), baseReport()
			o.Apply(&got)
			tt.want(&want)
			want.Overridden = o.Keys() // checked on its own in TestApplyListsOverriddenFacts
			if !reflect.DeepEqual(got, want) {
				t.Errorf("LoadOverride(%q).Apply(base) = %+v, want %+v", tt.in, got, want)
			}
		})
	}
}

func TestLoadOverrideMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.json")
	_, err := posture.LoadOverride(path)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadOverride(%q) error = %v, want %v", path, err, fs.ErrNotExist)
	}
}

// load writes s to an override file and loads it.
func load(t *testing.T, s string) posture.Override {
	t.Helper()
	path := filepath.Join(t.TempDir(), "override.json")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := posture.LoadOverride(path)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOverrideApply(t *testing.T) {
	tests := []struct {
		name string
		in   posture.Override
		r    api.PostureReport
		want api.PostureReport
	}{
		{name: "zero override changes nothing", in: posture.Override{}, r: baseReport(), want: baseReport()},
		{
			name: "unknown becomes known",
			in:   load(t, `{"screen_lock": true}`),
			r:    api.PostureReport{},
			want: api.PostureReport{ScreenLock: api.KnownBool(true)},
		},
		{
			name: "no processes asked, none added",
			in:   load(t, `{"processes": {"sshd": true}}`),
			r:    api.PostureReport{},
			want: api.PostureReport{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r
			tt.in.Apply(&got)
			tt.want.Overridden = tt.in.Keys()
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Override%v.Apply(%+v) = %+v, want %+v", tt.in.Keys(), tt.r, got, tt.want)
			}
		})
	}
}

// Apply must not write into the Processes map it was given: a Source may
// still hold that map.
func TestOverrideApplyLeavesSourceMap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "override.json")
	if err := os.WriteFile(path, []byte(`{"processes": {"sshd": false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := posture.LoadOverride(path)
	if err != nil {
		t.Fatal(err)
	}
	r := baseReport()
	held := r.Processes
	o.Apply(&r)
	if got, want := held["sshd"], api.KnownBool(true); got != want {
		t.Errorf("after Apply, source map[%q] = %+v, want %+v", "sshd", got, want)
	}
	if got, want := r.Processes["sshd"], api.KnownBool(false); got != want {
		t.Errorf("Apply(r).Processes[%q] = %+v, want %+v", "sshd", got, want)
	}
}

func TestOverrideKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "override.json")
	if err := os.WriteFile(path, []byte(`{"serial": null, "processes": {}, "disk_encryption": true, "uptime_seconds": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := posture.LoadOverride(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"disk_encryption", "processes", "serial", "uptime_seconds"}
	if got := o.Keys(); !reflect.DeepEqual(got, want) {
		t.Errorf("Keys() = %v, want %v", got, want)
	}
}

// TestApplyListsOverriddenFacts: a report says which facts an override set,
// so a controller can refuse to take them as collected.
func TestApplyListsOverriddenFacts(t *testing.T) {
	r := api.PostureReport{Overridden: []string{"kernel"}}
	load(t, `{"firewall": true, "disk_encryption": null}`).Apply(&r)
	want := []string{"disk_encryption", "firewall", "kernel"}
	if !reflect.DeepEqual(r.Overridden, want) {
		t.Errorf("Apply().Overridden = %v, want %v", r.Overridden, want)
	}
}

func TestOverrideApplyDropsStaleReasons(t *testing.T) {
	path := filepath.Join(t.TempDir(), "override.json")
	if err := os.WriteFile(path, []byte(`{"firewall": true, "processes": {"sshd": false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := posture.LoadOverride(path)
	if err != nil {
		t.Fatal(err)
	}
	r := baseReport()
	r.Firewall.Reason = "nftables: empty ruleset"
	r.Processes = map[string]api.BoolFact{"sshd": {Known: true, Value: true, Reason: "running"}, "/usr/bin/x": {Known: true, Reason: "kept"}}
	held := r.Processes
	o.Apply(&r)
	if r.Firewall.Reason != "" || r.Processes["sshd"].Reason != "" {
		t.Errorf("Apply(r): firewall reason %q, sshd reason %q; want the overridden facts' reasons gone", r.Firewall.Reason, r.Processes["sshd"].Reason)
	}
	if r.Processes["/usr/bin/x"].Reason != "kept" {
		t.Errorf("Apply(r).Processes[/usr/bin/x] = %+v, want its reason kept", r.Processes["/usr/bin/x"])
	}
	if held["sshd"].Reason != "running" {
		t.Errorf("after Apply, the source's processes = %v, want them untouched", held)
	}
}

// TestOverrideIssue8Facts: the override file flips the facts issue 8 added
// (auto updates, days since update, machine ID, forbidden software, files)
// like the others, so end-to-end tests and `make run` can too; only asked
// entries of the maps are touched, and a source's reason goes with the
// value it explained.
func TestOverrideIssue8Facts(t *testing.T) {
	o := load(t, `{"auto_updates": false, "days_since_update": 45, "machine_id": null,
		"forbidden": {"/usr/bin/nc": true, "not-asked": true}, "files": null}`)
	r := api.PostureReport{
		AutoUpdates:     api.BoolFact{Value: true, Known: true, Source: "apt-config dump", Reason: "on"},
		DaysSinceUpdate: api.IntFact{Value: 1, Known: true, Source: "/var/log/dpkg.log"},
		MachineID:       api.KnownString("3d1219c7c4c5404aaa1f6d2a48adfda4"),
		Forbidden:       map[string]api.BoolFact{"/usr/bin/nc": {Known: true, Reason: "no match"}, "sha256:ab": api.KnownBool(false)},
		Files:           map[string]api.BoolFact{"/etc/ca.pem": api.KnownBool(true)},
	}
	held := r.Forbidden
	o.Apply(&r)
	want := api.PostureReport{
		AutoUpdates:     api.KnownBool(false),
		DaysSinceUpdate: api.KnownInt(45),
		Forbidden:       map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(true), "sha256:ab": api.KnownBool(false)},
		Files:           map[string]api.BoolFact{"/etc/ca.pem": {}},
		Overridden:      []string{"auto_updates", "days_since_update", "files", "forbidden", "machine_id"},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("Apply() = %+v, want %+v", r, want)
	}
	if held["/usr/bin/nc"].Value {
		t.Errorf("after Apply, the source's forbidden map = %v, want it untouched", held)
	}
	bad := filepath.Join(t.TempDir(), "override.json")
	writeFile(t, bad, `{"files": ["/etc/ca.pem"]}`)
	if _, err := posture.LoadOverride(bad); err == nil || !strings.Contains(err.Error(), `"files"`) {
		t.Errorf("LoadOverride(files as a list) error = %v, want one naming \"files\"", err)
	}
}
