// Package autostart writes and removes the entry that starts the tray when
// the user logs in: an XDG autostart file on Linux, a LaunchAgent on
// macOS, the Run key on Windows. Pure Go, so every OS's entry is built by
// make's cross-check (cmd/gatehouse-tray, being cgo, is built for Linux
// only).
//
// Imported by cmd/gatehouse-tray.
package autostart

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
)

// The entry's names: the .desktop file, the LaunchAgent's label, the
// Run key's value.
const (
	desktopFile = "gatehouse-tray.desktop"
	agentLabel  = "io.gatehouse.tray"
	runValue    = "Gatehouse"
)

// ErrUnsupported: this OS has no autostart entry the tray knows.
var ErrUnsupported = errors.New("starting the tray at login is not supported on this OS: start gatehouse-tray from your session's startup programs")

// Install writes the entry that runs exe (an absolute path) with args at
// the user's login, replacing an older one, and says where it is.
func Install(exe string, args ...string) (string, error) {
	if !strings.HasPrefix(exe, "/") && !isWindowsAbs(exe) {
		return "", fmt.Errorf("autostart needs the tray's absolute path, got %q", exe)
	}
	return install(append([]string{exe}, args...))
}

// Remove deletes the entry (nothing to delete is no error) and says where
// it was.
func Remove() (string, error) { return remove() }

func isWindowsAbs(p string) bool {
	return len(p) > 2 && p[1] == ':' && (p[2] == '\\' || p[2] == '/')
}

// desktopEntry is an XDG autostart file (Desktop Entry Specification 1.5)
// running argv.
func desktopEntry(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = execQuote(a)
	}
	return "[Desktop Entry]\n" +
		"Type=Application\n" +
		"Name=Gatehouse\n" +
		"Comment=Zero-trust access: status, sign-in and access requests\n" +
		"Exec=" + strings.Join(quoted, " ") + "\n" +
		"Terminal=false\n" +
		"X-GNOME-Autostart-enabled=true\n"
}

// execQuote quotes one argument of an Exec key: inside double quotes, `"`,
// "`", "$" and "\" take a backslash; "%" doubles (field codes); then the
// string value's own escape doubles every backslash again.
func execQuote(arg string) string {
	var b strings.Builder
	for _, r := range arg {
		switch r {
		case '"', '`', '$', '\\':
			b.WriteString(`\`)
		case '%':
			b.WriteString("%")
		}
		b.WriteRune(r)
	}
	return `"` + strings.ReplaceAll(b.String(), `\`, `\\`) + `"`
}

// launchAgent is a LaunchAgent property list running argv at login, in the
// user's GUI session only.
func launchAgent(argv []string) string {
	var args strings.Builder
	for _, a := range argv {
		args.WriteString("\t\t<string>")
		_ = xml.EscapeText(&args, []byte(a)) // a strings.Builder never fails
		args.WriteString("</string>\n")
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>` + agentLabel + `</string>
	<key>ProgramArguments</key>
	<array>
` + args.String() + `	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>LimitLoadToSessionType</key>
	<string>Aqua</string>
</dict>
</plist>
`
}
