package posture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

func TestParseGnomeLock(t *testing.T) {
	tests := []struct {
		lock, delay string // testdata/linux/gsettings files, or raw text
		want        api.BoolFact
		wantWhy     string
	}{
		{lock: "lock-enabled-true.txt", delay: "idle-delay-300.txt", want: api.KnownBool(true), wantWhy: "300 s"},
		{lock: "lock-enabled-false.txt", delay: "idle-delay-300.txt", want: api.KnownBool(false), wantWhy: "lock-enabled is false"},
		{lock: "lock-enabled-true.txt", delay: "idle-delay-0.txt", want: api.KnownBool(false), wantWhy: "never"},
		{lock: "No such schema “org.gnome.desktop.screensaver”\n", delay: "idle-delay-300.txt", want: api.BoolFact{}, wantWhy: "lock-enabled: unrecognised"},
		{lock: "lock-enabled-true.txt", delay: "300\n", want: api.KnownBool(true), wantWhy: "300 s"},
		{lock: "lock-enabled-true.txt", delay: "int32 -1\n", want: api.BoolFact{}, wantWhy: "idle-delay: unrecognised"},
	}
	for _, tt := range tests {
		lock, delay := tt.lock, tt.delay
		if strings.HasSuffix(lock, ".txt") {
			lock = linuxTestdata(t, "gsettings/"+lock)
		}
		if strings.HasSuffix(delay, ".txt") {
			delay = linuxTestdata(t, "gsettings/"+delay)
		}
		got := parseGnomeLock(lock, delay)
		if got.Known != tt.want.Known || got.Value != tt.want.Value || !strings.Contains(got.Reason, tt.wantWhy) {
			t.Errorf("parseGnomeLock(%q, %q) = %+v, want %+v with %q", lock, delay, got, tt.want, tt.wantWhy)
		}
	}
}

func TestGraphicalSessions(t *testing.T) {
	dir := filepath.Join("testdata", "linux", "logind")
	got, err := graphicalSessions(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 2: GNOME on Wayland; 3: KDE on X11; 4 (a tty) and c1 (the greeter) are not desktops.
	want := []desktopSession{{ID: "2", UID: 1000, Desktop: "GNOME"}, {ID: "3", UID: 1001, Desktop: "KDE"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("graphicalSessions(%s) = %+v, want %+v", dir, got, want)
	}
	if got, err := graphicalSessions(filepath.Join(t.TempDir(), "none")); got != nil || err != nil {
		t.Errorf("graphicalSessions(no logind) = %v, %v, want none", got, err)
	}
}

// TestScreenLockSessions runs screenLock over recorded session files with
// gsettings answers made up per user.
func TestScreenLockSessions(t *testing.T) {
	home := t.TempDir()
	lookup := func(uid int) (string, int, string, error) { return "u", uid, home, nil }
	runs := 0
	answers := func(lock map[int]string) func(context.Context, desktopSession, string, int, string, string, string) commandOutput {
		return func(_ context.Context, s desktopSession, _ string, _ int, _, _, key string) commandOutput {
			runs++
			if key == "idle-delay" {
				return commandOutput{stdout: "uint32 300\n"}
			}
			if v, ok := lock[s.UID]; ok {
				return commandOutput{stdout: v}
			}
			return commandOutput{err: errors.New("exit status 1"), stderr: "dconf: cannot open\n"}
		}
	}
	dir := t.TempDir()
	copyFile := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(linuxTestdata(t, "logind/"+name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Each step gets an empty cache: the made-up answers change without
	// any dconf file changing.
	l := screenLocker{sessionsDir: dir, lookup: lookup}
	step := func(lock map[int]string) screenLocker {
		l.gsettings, l.locks = answers(lock), newLockCache()
		return l
	}

	if got := step(map[int]string{1000: "true\n"}).screenLock(context.Background()); got.Known || got.Reason != "no desktop session" {
		t.Errorf("screenLock(no sessions) = %+v, want unknown: no desktop session", got)
	}
	copyFile("4") // a text console is not a desktop
	if got := step(map[int]string{1000: "true\n"}).screenLock(context.Background()); got.Known || got.Reason != "no desktop session" {
		t.Errorf("screenLock(tty only) = %+v, want unknown: no desktop session", got)
	}
	copyFile("2")
	if got := step(map[int]string{1000: "true\n"}).screenLock(context.Background()); !got.Known || !got.Value || !strings.Contains(got.Reason, "uid 1000") {
		t.Errorf("screenLock(GNOME locking) = %+v, want known true naming uid 1000", got)
	}
	if got := step(map[int]string{}).screenLock(context.Background()); got.Known || !strings.Contains(got.Reason, "dconf: cannot open") {
		t.Errorf("screenLock(gsettings failing) = %+v, want unknown with gsettings' words", got)
	}
	copyFile("3")
	if got := step(map[int]string{1000: "true\n"}).screenLock(context.Background()); got.Known || !strings.Contains(got.Reason, "KDE is not read") {
		t.Errorf("screenLock(GNOME and KDE) = %+v, want unknown naming KDE", got)
	}
	if got := step(map[int]string{1000: "false\n"}).screenLock(context.Background()); !got.Known || got.Value {
		t.Errorf("screenLock(GNOME not locking, KDE) = %+v, want known false: one session that does not lock is enough", got)
	}

	// The answer is kept while the user's dconf database is unchanged,
	// and read again when it changes.
	l = step(map[int]string{1000: "true\n"})
	runs = 0
	for i := 0; i < 3; i++ {
		l.screenLock(context.Background())
	}
	if runs != 2 {
		t.Errorf("gsettings ran %d times for 3 reports with nothing changed, want 2 (one answer, two keys)", runs)
	}
	db := filepath.Join(home, ".config", "dconf", "user")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, []byte("GVariant"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.gsettings = answers(map[int]string{1000: "false\n"})
	if got := l.screenLock(context.Background()); !got.Known || got.Value {
		t.Errorf("screenLock(after the dconf database changed) = %+v, want the new answer, known false", got)
	}
}

// TestScreenLockRealGsettings runs the real gsettings, as another user
// (nobody, with a home of its own) against that user's real dconf
// database, written through the real dconf service: the fact follows the
// session user's settings, not the agent's.
func TestScreenLockRealGsettings(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to run gsettings as another user")
	}
	for _, tool := range []string{gsettingsPath, "/usr/bin/dbus-run-session", "/usr/bin/setpriv"} {
		if _, err := os.Stat(tool); err != nil {
			testenv.SkipOrFail(t, fmt.Sprintf("needs %s: %v", tool, err))
		}
	}
	if out, err := exec.Command(gsettingsPath, "get", "org.gnome.desktop.screensaver", "lock-enabled").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("needs the GNOME schemas: %v: %s", err, out))
	}
	const nobody = 65534
	home, err := os.MkdirTemp("", "gh-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	if err := os.Chown(home, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	set := func(schema, key, value string) {
		t.Helper()
		cmd := exec.Command("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
			"/usr/bin/dbus-run-session", "--", gsettingsPath, "set", schema, key, value)
		cmd.Env = []string{"HOME=" + home, "PATH=/usr/bin:/bin"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gsettings set %s %s %s as nobody: %v: %s", schema, key, value, err, out)
		}
	}
	sessions := t.TempDir()
	session := strings.ReplaceAll(linuxTestdata(t, "logind/2"), "UID=1000", "UID=65534")
	if err := os.WriteFile(filepath.Join(sessions, "2"), []byte(session), 0o644); err != nil {
		t.Fatal(err)
	}
	l := screenLocker{
		sessionsDir: sessions,
		lookup:      func(int) (string, int, string, error) { return "nobody", nobody, home, nil },
		gsettings:   runGsettings,
		locks:       newLockCache(),
	}
	ctx := context.Background()
	steps := []struct {
		name       string
		key, value string
		schema     string
		want       bool
	}{
		{name: "GNOME defaults lock after 300 s", want: true},
		{name: "lock turned off", schema: "org.gnome.desktop.screensaver", key: "lock-enabled", value: "false", want: false},
		{name: "lock back on", schema: "org.gnome.desktop.screensaver", key: "lock-enabled", value: "true", want: true},
		{name: "never idle", schema: "org.gnome.desktop.session", key: "idle-delay", value: "0", want: false},
	}
	for _, s := range steps {
		if s.key != "" {
			set(s.schema, s.key, s.value)
		}
		got := l.screenLock(ctx)
		if !got.Known || got.Value != s.want || got.Source != srcScreenLock {
			t.Errorf("%s: screenLock() = %+v, want known %v", s.name, got, s.want)
		}
	}
}
