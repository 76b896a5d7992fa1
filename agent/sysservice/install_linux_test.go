package sysservice

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/kardianos/service"
	"golang.org/x/sys/unix"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestInstallAsChild is not a test: installUnit runs the test binary with
// it in a mount namespace of its own, where /etc/systemd/system is a
// scratch dir, /run a tmpfs that says systemd runs, and systemctl a stub, to install the service through
// kardianos' systemd backend exactly as `gatehouse service install` does.
func TestInstallAsChild(t *testing.T) {
	scratch := testenv.ChildInput(t, "installUnit")
	if err := unix.Mount(scratch, "/etc/systemd/system", "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s on /etc/systemd/system: %v", scratch, err)
	}
	// What kardianos looks for to pick systemd, on a /run of our own.
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatalf("tmpfs on /run: %v", err)
	}
	if err := os.MkdirAll("/run/systemd/system", 0o755); err != nil {
		t.Fatal(err)
	}
	service.ChooseSystem(service.AvailableSystems()...)
	s, err := New(Options{Executable: os.Getenv("GATEHOUSE_TEST_UNIT_EXE"), LocalUser: os.Getenv("GATEHOUSE_TEST_UNIT_USER"),
		TUN: os.Getenv("GATEHOUSE_TEST_UNIT_TUN") != "", TUNName: os.Getenv("GATEHOUSE_TEST_UNIT_TUN")})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Install(); err != nil {
		t.Fatalf("Install() = %v", err)
	}
}

// installUnit installs the service for o (its Executable, LocalUser, and
// TUNName as TUN mode when set) into a scratch /etc/systemd/system and
// returns the unit's path and what systemctl was asked.
func installUnit(t *testing.T, o Options) (unit, systemctl string) {
	t.Helper()
	dir := t.TempDir()
	units, stub := filepath.Join(dir, "units"), filepath.Join(dir, "bin")
	for _, d := range []string{units, stub} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	calls := filepath.Join(dir, "systemctl.log")
	script := "#!/bin/sh\necho \"$*\" >> " + calls + "\n[ \"$1\" = --version ] && echo 'systemd 252 (252)'\nexit 0\n"
	if err := os.WriteFile(filepath.Join(stub, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := testenv.Child(os.Args[0], "TestInstallAsChild", units)
	cmd.Env = append(cmd.Env, "GATEHOUSE_TEST_UNIT_EXE="+o.Executable, "GATEHOUSE_TEST_UNIT_USER="+o.LocalUser,
		"GATEHOUSE_TEST_UNIT_TUN="+o.TUNName, "PATH="+stub+":"+os.Getenv("PATH"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install in a scratch root: %v\n%s", err, out)
	}
	log, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("systemctl was never called: %v", err)
	}
	return filepath.Join(units, Name+".service"), string(log)
}

// installVerified installs the unit for o (installUnit), fails the test
// unless systemd-analyze verify accepts it, and returns its text and what
// systemctl was asked.
func installVerified(t *testing.T, o Options) (unit []byte, systemctl string) {
	t.Helper()
	path, systemctl := installUnit(t, o)
	unit, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if msg := verify(t, path); msg != "" {
		t.Fatalf("systemd-analyze verify rejected the unit installed for %+v: %s\n%s", o, msg, unit)
	}
	return unit, systemctl
}

// verify runs systemd-analyze verify on unit and returns its complaint,
// or "" when it accepts the unit.
func verify(t *testing.T, unit string) string {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)) + " (" + err.Error() + ")"
	}
	return ""
}

func TestInstalledUnitPassesSystemdVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testenv.SkipOrFail(t, "systemd-analyze is not installed (Debian: systemd)")
	}
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "installing in a scratch root needs root (a mount namespace)")
	}
	// The tool really checks here: a broken unit fails.
	broken := filepath.Join(t.TempDir(), "broken.service")
	if err := os.WriteFile(broken, []byte("[Service]\nExecStart=relative/path\nRestart=sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if verify(t, broken) == "" {
		t.Fatalf("systemd-analyze verify accepted a broken unit: it checks nothing on this machine")
	}

	exe, err := os.Executable() // any executable file stands for gatehouse-agent
	if err != nil {
		t.Fatal(err)
	}
	b, calls := installVerified(t, Options{Executable: exe, LocalUser: "1000"})
	for _, want := range []string{
		"ExecStart=" + exe + " run --state-dir /var/lib/gatehouse-agent --socket /run/gatehouse-agent/agent.sock --local-user 1000\n",
		"StateDirectoryMode=0700\n", "Restart=on-failure\n", "RuntimeDirectoryMode=0755\n",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("installed unit lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "User=") {
		t.Errorf("installed unit sets a User=; the agent runs as root:\n%s", b)
	}
	if strings.Contains(string(b), "Capabilit") {
		t.Errorf("installed unit without --tun names capabilities:\n%s", b)
	}
	// The agent logs to stderr: systemd's defaults send it to the journal.
	for k, v := range unitKeys(string(b)) {
		if k == "StandardOutput" || k == "StandardError" {
			t.Errorf("installed unit sets %s=%s; the agent's log belongs in the journal (the default)", k, v)
		}
	}
	for _, want := range []string{"enable " + Name + ".service", "daemon-reload"} {
		if !strings.Contains(calls, want) {
			t.Errorf("install asked systemctl %q, want it to ask %q", calls, want)
		}
	}
}

// TestPackagedUnitIsTheInstalledOne keeps packaging/systemd's unit the
// same as what `gatehouse service install` writes for
// /usr/bin/gatehouse-agent: one source of truth.
func TestPackagedUnitIsTheInstalledOne(t *testing.T) {
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "installing in a scratch root needs root (a mount namespace)")
	}
	unit, _ := installUnit(t, Options{Executable: "/usr/bin/gatehouse-agent"})
	got, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../packaging/systemd/gatehouse-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("installed unit for /usr/bin/gatehouse-agent =\n%s\nwant packaging/systemd/gatehouse-agent.service =\n%s", got, want)
	}
}

// TestInstalledTUNUnitGrantsNetAdmin: `gatehouse service install --tun`
// writes a unit that systemd-analyze verify accepts, runs the agent with
// --tun, and leaves it CAP_NET_ADMIN: as root with the default bounding
// set, and as an ambient capability should a drop-in set User=.
func TestInstalledTUNUnitGrantsNetAdmin(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		testenv.SkipOrFail(t, "systemd-analyze is not installed (Debian: systemd)")
	}
	if os.Getuid() != 0 {
		testenv.SkipOrFail(t, "installing in a scratch root needs root (a mount namespace)")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := installVerified(t, Options{Executable: exe, LocalUser: "1000", TUNName: "gh7"})
	keys := unitKeys(string(b))
	if want := exe + " run --state-dir /var/lib/gatehouse-agent --socket /run/gatehouse-agent/agent.sock --local-user 1000 --tun --tun-name gh7"; keys["ExecStart"] != want {
		t.Errorf("TUN unit ExecStart=%q, want %q", keys["ExecStart"], want)
	}
	if !slices.Contains(strings.Fields(keys["AmbientCapabilities"]), "CAP_NET_ADMIN") {
		t.Errorf("TUN unit AmbientCapabilities=%q, want CAP_NET_ADMIN in it:\n%s", keys["AmbientCapabilities"], b)
	}
	if bs, ok := keys["CapabilityBoundingSet"]; ok && !slices.Contains(strings.Fields(bs), "CAP_NET_ADMIN") {
		t.Errorf("TUN unit CapabilityBoundingSet=%q drops CAP_NET_ADMIN", bs)
	}
	if u, ok := keys["User"]; ok && u != "root" {
		t.Errorf("TUN unit runs as User=%q, want root", u)
	}
}

// unitKeys is a unit file's Key=Value lines (the last of each key).
func unitKeys(unit string) map[string]string {
	keys := map[string]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			keys[k] = v
		}
	}
	return keys
}
