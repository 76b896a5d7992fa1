package posture

import (
	"compress/gzip"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// linuxTestdata reads a recorded output under testdata/linux.
func linuxTestdata(t *testing.T, name string) string {
	t.Helper()
	return readTestdata(t, filepath.Join("linux", name))
}

func TestParseDpkgLog(t *testing.T) {
	tests := []struct {
		file    string
		want    time.Time
		wantErr error
	}{
		{file: "dpkg/dpkg.log", want: time.Date(2026, 12, 5, 12, 37, 1, 0, time.UTC)},
		{file: "dpkg/dpkg-no-changes.log", wantErr: errNoDpkgChange},
	}
	for _, tt := range tests {
		got, err := parseDpkgLog(strings.NewReader(linuxTestdata(t, tt.file)), time.UTC)
		if !got.Equal(tt.want) || !errors.Is(err, tt.wantErr) {
			t.Errorf("parseDpkgLog(%s) = %v, %v, want %v, %v", tt.file, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestLastDpkgChangeRotated: just after logrotate the current log holds no
// install; the newest one is in dpkg.log.1 or a gzipped older log.
func TestLastDpkgChangeRotated(t *testing.T) {
	changes := linuxTestdata(t, "dpkg/dpkg.log")
	quiet := linuxTestdata(t, "dpkg/dpkg-no-changes.log")
	want := time.Date(2026, 12, 5, 12, 37, 1, 0, time.UTC)
	tests := []struct {
		name     string
		files    map[string]string // name → content; .gz names are gzipped
		wantFrom string
		wantErr  bool
	}{
		{name: "current log", files: map[string]string{"dpkg.log": changes, "dpkg.log.1": quiet}, wantFrom: "dpkg.log"},
		{name: "rotated once", files: map[string]string{"dpkg.log": quiet, "dpkg.log.1": changes}, wantFrom: "dpkg.log.1"},
		{name: "gzipped", files: map[string]string{"dpkg.log": "", "dpkg.log.1": quiet, "dpkg.log.2.gz": changes}, wantFrom: "dpkg.log.2.gz"},
		{name: "no current log", files: map[string]string{"dpkg.log.1": changes}, wantFrom: "dpkg.log.1"},
		{name: "nothing recorded", files: map[string]string{"dpkg.log": quiet}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeMaybeGzip(t, filepath.Join(dir, name), content)
			}
			got, from, err := lastDpkgChange(filepath.Join(dir, "dpkg.log"), time.UTC)
			if tt.wantErr {
				if err == nil {
					t.Errorf("lastDpkgChange() = %v from %s, want an error", got, from)
				}
				return
			}
			if err != nil || !got.Equal(want) || filepath.Base(from) != tt.wantFrom {
				t.Errorf("lastDpkgChange() = %v, %s, %v, want %v from %s", got, from, err, want, tt.wantFrom)
			}
		})
	}
}

func writeMaybeGzip(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !strings.HasSuffix(path, ".gz") {
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
		return
	}
	z := gzip.NewWriter(f)
	if _, err := z.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestParseRPMInstallTimes(t *testing.T) {
	got, err := parseRPMInstallTimes(linuxTestdata(t, "rpm/installtime.txt"))
	if want := time.Unix(1764925200, 0); err != nil || !got.Equal(want) {
		t.Errorf("parseRPMInstallTimes(installtime.txt) = %v, %v, want %v", got, err, want)
	}
	if got, err := parseRPMInstallTimes("error: rpmdb open failed\n"); err == nil {
		t.Errorf("parseRPMInstallTimes(error) = %v, want an error", got)
	}
}

func TestDaysBetween(t *testing.T) {
	last := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		now  time.Time
		want int64
	}{
		{now: last.Add(23 * time.Hour), want: 0},
		{now: last.Add(24 * time.Hour), want: 1},
		{now: last.Add(30*24*time.Hour + time.Hour), want: 30},
		{now: last.Add(-time.Hour), want: 0}, // a clock behind the log
	}
	for _, tt := range tests {
		if got := daysBetween(last, tt.now, "x"); !got.Known || got.Value != tt.want || got.Source != "x" {
			t.Errorf("daysBetween(%v, %v) = %+v, want known %d", last, tt.now, got, tt.want)
		}
	}
}

func TestAptAutoUpdates(t *testing.T) {
	tests := []struct {
		file      string
		installed bool
		want      bool
		wantWhy   string
	}{
		{file: "apt/apt-config-unattended.txt", installed: true, want: true, wantWhy: `Unattended-Upgrade is "1"`},
		{file: "apt/apt-config-unattended.txt", installed: false, want: false, wantWhy: "not installed"},
		{file: "apt/apt-config-default.txt", installed: true, want: false, wantWhy: `Unattended-Upgrade is ""`},
		{file: "apt/apt-config-disabled.txt", installed: true, want: false, wantWhy: `Enable is "0"`},
	}
	for _, tt := range tests {
		got := aptAutoUpdates(parseAptConfig(linuxTestdata(t, tt.file)), tt.installed)
		if !got.Known || got.Value != tt.want || !strings.Contains(got.Reason, tt.wantWhy) || got.Source == "" {
			t.Errorf("aptAutoUpdates(%s, installed %v) = %+v, want known %v with %q", tt.file, tt.installed, got, tt.want, tt.wantWhy)
		}
	}
}

func TestDnfAutoUpdates(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"automatic-apply.conf", "automatic-download.conf"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(linuxTestdata(t, "rpm/"+name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		enabled string // the one enabled timer, "" none
		conf    string
		want    api.BoolFact
		wantWhy string
	}{
		{name: "install timer", enabled: "dnf-automatic-install.timer", conf: "automatic-download.conf", want: api.KnownBool(true), wantWhy: "install.timer is enabled"},
		{name: "timer applying", enabled: "dnf-automatic.timer", conf: "automatic-apply.conf", want: api.KnownBool(true), wantWhy: "apply_updates = yes"},
		{name: "timer downloading", enabled: "dnf-automatic.timer", conf: "automatic-download.conf", want: api.KnownBool(false), wantWhy: "downloads only"},
		{name: "dnf5 applying", enabled: "dnf5-automatic.timer", conf: "automatic-apply.conf", want: api.KnownBool(true), wantWhy: "dnf5-automatic.timer is enabled"},
		{name: "timer without its config", enabled: "dnf-automatic.timer", conf: "missing.conf", want: api.BoolFact{}, wantWhy: "no such file"},
		{name: "none", want: api.KnownBool(false), wantWhy: "dnf-automatic.timer: disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := updateSystem{systemctl: "/usr/bin/systemctl", dnfConf: filepath.Join(dir, tt.conf),
				run: func(_ context.Context, _ string, args ...string) commandOutput {
					if args[len(args)-1] == tt.enabled {
						return commandOutput{stdout: "enabled\n"}
					}
					return commandOutput{stdout: "disabled\n", err: errors.New("exit status 1")}
				}}
			got := u.dnfAutoUpdates(context.Background())
			if got.Known != tt.want.Known || got.Value != tt.want.Value || !strings.Contains(got.Reason, tt.wantWhy) {
				t.Errorf("dnfAutoUpdates(%s) = %+v, want %+v with %q", tt.name, got, tt.want, tt.wantWhy)
			}
		})
	}
}

// TestUpdateFactsMatchOS reads the update facts for real and compares them
// with what the OS's own tools say: the newest install/upgrade line grep
// finds in dpkg's log, and apt-config shell plus dpkg-query.
func TestUpdateFactsMatchOS(t *testing.T) {
	u := realUpdateSystem()
	if !u.isDebian() {
		testenv.SkipOrFail(t, "compares with dpkg and apt; this is not a Debian system")
	}
	ctx := context.Background()
	now := time.Now()
	days := u.daysSinceUpdate(ctx, now)
	out, err := exec.Command("/bin/sh", "-c", `grep -hE '^[0-9-]+ [0-9:]+ (install|upgrade) ' /var/log/dpkg.log | tail -n 1 | cut -d' ' -f1,2`).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Skipf("no install line in /var/log/dpkg.log to compare with: %v", err)
	}
	epoch, err := exec.Command("date", "-d", strings.TrimSpace(string(out)), "+%s").Output()
	if err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(string(epoch)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	wantDays := int64(now.Sub(time.Unix(secs, 0)) / (24 * time.Hour))
	if !days.Known || days.Value != wantDays || days.Source != dpkgLogPath {
		t.Errorf("daysSinceUpdate() = %+v, want known %d from %s (grep says the last install was %s)", days, wantDays, dpkgLogPath, strings.TrimSpace(string(out)))
	}

	shell, err := exec.Command("apt-config", "shell", "UU", "APT::Periodic::Unattended-Upgrade", "EN", "APT::Periodic::Enable").Output()
	if err != nil {
		t.Fatal(err)
	}
	status, _ := exec.Command("dpkg-query", "-W", "-f=${Status}", "unattended-upgrades").Output()
	s := string(shell)
	want := strings.Contains(string(status), "install ok installed") &&
		strings.Contains(s, "UU=") && !strings.Contains(s, "UU='0'") && !strings.Contains(s, "EN='0'")
	got := u.autoUpdates(ctx)
	t.Logf("apt-config shell: %q; dpkg-query: %q; autoUpdates: %+v", s, status, got)
	if !got.Known || got.Value != want {
		t.Errorf("autoUpdates() = %+v, want known %v (apt-config shell %q, dpkg-query %q)", got, want, s, status)
	}
}

// TestAutoUpdatesCachedUntilFilesChange: apt-config runs once while its
// inputs are unchanged, and again when one of them changes.
func TestAutoUpdatesCachedUntilFilesChange(t *testing.T) {
	dir := t.TempDir()
	aptConfig := filepath.Join(dir, "apt-config")
	unattended := filepath.Join(dir, "unattended-upgrade")
	for _, p := range []string{aptConfig, unattended} {
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	runs := 0
	u := updateSystem{aptConfig: aptConfig, unattended: unattended, run: func(context.Context, string, ...string) commandOutput {
		runs++
		return commandOutput{stdout: linuxTestdata(t, "apt/apt-config-unattended.txt")}
	}}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if got := u.autoUpdates(ctx); !got.Known || !got.Value {
			t.Fatalf("autoUpdates() = %+v, want known true", got)
		}
	}
	if runs != 1 {
		t.Errorf("apt-config ran %d times for 3 reports with nothing changed, want 1", runs)
	}
	if err := os.Remove(unattended); err != nil {
		t.Fatal(err)
	}
	if got := u.autoUpdates(ctx); !got.Known || got.Value || runs != 2 {
		t.Errorf("after removing unattended-upgrade: autoUpdates() = %+v after %d runs, want known false after 2", got, runs)
	}
}
