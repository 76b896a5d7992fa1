package autostart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallWritesTheXDGAutostartEntry(t *testing.T) {
	config := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", config)
	path, err := Install("/opt/gate house/gatehouse-tray", "--socket", `/run/a"b$c\d%e.sock`)
	if err != nil {
		t.Fatalf("Install() = %v", err)
	}
	if want := filepath.Join(config, "autostart", "gatehouse-tray.desktop"); path != want {
		t.Errorf("Install() wrote %s, want %s", path, want)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"[Desktop Entry]", "Type=Application", "Name=Gatehouse", "Terminal=false",
		// Each argument quoted; `"`, `$` and `\` escaped (the backslash
		// twice: once for Exec, once for the string value); % doubled.
		`Exec="/opt/gate house/gatehouse-tray" "--socket" "/run/a\\"b\\$c\\\\d%%e.sock"`,
	} {
		if !strings.Contains(string(got), line+"\n") {
			t.Errorf("the entry lacks the line %q:\n%s", line, got)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("the entry's mode is %v, want 0644", fi.Mode().Perm())
	}

	// Installing again replaces it; Remove deletes it, twice is no error.
	if _, err := Install("/usr/bin/gatehouse-tray"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !strings.Contains(string(got), "Exec=\"/usr/bin/gatehouse-tray\"\n") {
		t.Errorf("a second Install did not replace the entry:\n%s", got)
	}
	for range 2 {
		if _, err := Remove(); err != nil {
			t.Errorf("Remove() = %v", err)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after Remove the entry is still there: %v", err)
	}
}

func TestInstallRefusesARelativePath(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	if _, err := Install("gatehouse-tray"); err == nil {
		t.Error("Install(relative path) succeeded; the session would not find it")
	}
}

func TestLaunchAgentQuotesItsArguments(t *testing.T) {
	got := launchAgent([]string{"/Applications/Gatehouse.app/Contents/MacOS/gatehouse-tray", "--socket", "/tmp/<a&b>"})
	for _, want := range []string{
		"<key>Label</key>\n\t<string>io.gatehouse.tray</string>",
		"\t\t<string>/Applications/Gatehouse.app/Contents/MacOS/gatehouse-tray</string>\n\t\t<string>--socket</string>\n\t\t<string>/tmp/&lt;a&amp;b&gt;</string>\n",
		"<key>RunAtLoad</key>\n\t<true/>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("launchAgent() lacks %q:\n%s", want, got)
		}
	}
}
