package posture

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Where the screen-lock fact is read.
const (
	logindSessionsDir = "/run/systemd/sessions"
	gsettingsPath     = "/usr/bin/gsettings"
	gsettingsTimeout  = 2 * time.Second
	srcScreenLock     = "logind sessions; gsettings org.gnome.desktop.screensaver lock-enabled, org.gnome.desktop.session idle-delay"
)

// desktopSession is a graphical logind session, from its state file.
type desktopSession struct {
	ID      string
	UID     int
	Desktop string // XDG_CURRENT_DESKTOP as logind saw it: GNOME, KDE, ubuntu:GNOME
}

// screenLocker reads one graphical session user's screen lock setting.
type screenLocker struct {
	sessionsDir string
	// lookup names a user: name, primary group and home.
	lookup func(uid int) (name string, gid int, home string, err error)
	// gsettings runs gsettings get SCHEMA KEY as that user.
	gsettings func(ctx context.Context, s desktopSession, name string, gid int, home string, schema, key string) commandOutput
	// locks holds the answers while the dconf databases are unchanged.
	locks *lockCache
}

func realScreenLocker() screenLocker {
	return screenLocker{sessionsDir: logindSessionsDir, lookup: lookupUser, gsettings: runGsettings, locks: sessionLocks}
}

// screenLock says whether every graphical session on the machine locks its
// screen when idle. Sessions come from logind's state files (the files
// sd-login(3) reads; no D-Bus needed); a GNOME session is read with
// gsettings as its user: lock-enabled true and a non-zero idle-delay. One
// session that does not lock makes the fact false; no graphical session,
// another desktop, or a setting that cannot be read leaves it unknown.
func (l screenLocker) screenLock(ctx context.Context) api.BoolFact {
	sessions, err := graphicalSessions(l.sessionsDir)
	if err != nil {
		return unknownBool(srcScreenLock, err.Error())
	}
	if len(sessions) == 0 {
		return unknownBool(srcScreenLock, "no desktop session")
	}
	var unknown, on []string
	for _, s := range sessions {
		f := l.sessionLock(ctx, s)
		switch {
		case f.Known && !f.Value:
			return f
		case f.Known:
			on = append(on, f.Reason)
		default:
			unknown = append(unknown, f.Reason)
		}
	}
	if len(unknown) > 0 {
		return unknownBool(srcScreenLock, strings.Join(unknown, "; "))
	}
	return api.BoolFact{Value: true, Known: true, Source: srcScreenLock, Reason: strings.Join(on, "; ")}
}

func (l screenLocker) sessionLock(ctx context.Context, s desktopSession) api.BoolFact {
	who := fmt.Sprintf("session %s (uid %d, %s)", s.ID, s.UID, s.Desktop)
	if !isGNOME(s.Desktop) {
		desktop := s.Desktop
		if desktop == "" {
			desktop = "an unnamed desktop"
		}
		return unknownBool(srcScreenLock, fmt.Sprintf("%s: the screen lock of %s is not read (GNOME only)", who, desktop))
	}
	name, gid, home, err := l.lookup(s.UID)
	if err != nil {
		return unknownBool(srcScreenLock, fmt.Sprintf("%s: %v", who, err))
	}
	// gsettings reads the user's dconf database and the system's; while
	// neither changed, the last answer stands (two runs of gsettings every
	// few seconds per session would cost more than the fact is worth).
	stamp := fmt.Sprintf("%s %d %s\n", who, gid, home) + filesStamp(filepath.Join(home, ".config", "dconf", "user"), "/etc/dconf/db", "/etc/dconf/profile")
	return l.locks.get(s.UID, stamp, func() (api.BoolFact, bool) {
		f := l.readSessionLock(ctx, s, who, name, gid, home)
		return f, f.Known && ctx.Err() == nil
	})
}

// sessionLocks caches each user's screen-lock answer for the real
// collector (screenLocker.sessionLock).
var sessionLocks = newLockCache()

func newLockCache() *lockCache {
	return &lockCache{m: map[int]*stampedCache[api.BoolFact]{}}
}

// lockCache is one stampedCache per uid.
type lockCache struct {
	mu sync.Mutex
	m  map[int]*stampedCache[api.BoolFact] // guarded by mu
}

func (c *lockCache) get(uid int, stamp string, compute func() (api.BoolFact, bool)) api.BoolFact {
	c.mu.Lock()
	sc, ok := c.m[uid]
	if !ok {
		if len(c.m) >= 64 {
			clear(c.m)
		}
		sc = &stampedCache[api.BoolFact]{}
		c.m[uid] = sc
	}
	c.mu.Unlock()
	return sc.get(stamp, compute)
}

func (l screenLocker) readSessionLock(ctx context.Context, s desktopSession, who, name string, gid int, home string) api.BoolFact {
	get := func(schema, key string) (string, error) {
		out := l.gsettings(ctx, s, name, gid, home, schema, key)
		if out.err != nil {
			return "", fmt.Errorf("gsettings get %s %s: %s", schema, key, out.failure())
		}
		return out.stdout, nil
	}
	lockOut, err := get("org.gnome.desktop.screensaver", "lock-enabled")
	if err != nil {
		return unknownBool(srcScreenLock, who+": "+err.Error())
	}
	delayOut, err := get("org.gnome.desktop.session", "idle-delay")
	if err != nil {
		return unknownBool(srcScreenLock, who+": "+err.Error())
	}
	f := parseGnomeLock(lockOut, delayOut)
	f.Source, f.Reason = srcScreenLock, who+": "+f.Reason
	return f
}

// parseGnomeLock reads gsettings' answers: lock-enabled ("true") and
// idle-delay ("uint32 300", seconds; 0 is never idle, so never locked).
func parseGnomeLock(lockEnabled, idleDelay string) api.BoolFact {
	var lock bool
	switch v := strings.TrimSpace(lockEnabled); v {
	case "true":
		lock = true
	case "false":
	default:
		return api.BoolFact{Reason: "lock-enabled: " + unrecognised(v)}
	}
	d := strings.TrimPrefix(strings.TrimSpace(idleDelay), "uint32 ")
	delay, err := strconv.ParseUint(d, 10, 32)
	if err != nil {
		return api.BoolFact{Reason: "idle-delay: " + unrecognised(idleDelay)}
	}
	switch {
	case !lock:
		return api.BoolFact{Known: true, Reason: "lock-enabled is false"}
	case delay == 0:
		return api.BoolFact{Known: true, Reason: "idle-delay is 0: the screen never goes idle, so never locks"}
	}
	return api.BoolFact{Value: true, Known: true, Reason: fmt.Sprintf("locks after %d s idle", delay)}
}

func isGNOME(desktop string) bool {
	return slices.Contains(strings.Split(strings.ToUpper(desktop), ":"), "GNOME")
}

// graphicalSessions lists the user sessions of type x11, wayland or mir
// that are not closing, from logind's state files; no directory (no
// logind) is no session.
func graphicalSessions(dir string) ([]desktopSession, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []desktopSession
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.Contains(e.Name(), ".") {
			continue // FIFOs (N.ref) and temporary files
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read logind session %s: %w", e.Name(), err)
		}
		kv := parseSessionFile(f)
		f.Close()
		s, ok := sessionFromState(e.Name(), kv)
		if ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// parseSessionFile reads a logind session state file: KEY=value lines.
func parseSessionFile(r io.Reader) map[string]string {
	kv := make(map[string]string)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && !strings.HasPrefix(k, "#") {
			kv[k] = v
		}
	}
	return kv
}

func sessionFromState(id string, kv map[string]string) (desktopSession, bool) {
	switch kv["TYPE"] {
	case "x11", "wayland", "mir":
	default:
		return desktopSession{}, false
	}
	if kv["CLASS"] != "user" || kv["STATE"] == "closing" {
		return desktopSession{}, false // greeters, lock screens, ended sessions
	}
	uid, err := strconv.Atoi(kv["UID"])
	if err != nil {
		return desktopSession{}, false
	}
	return desktopSession{ID: id, UID: uid, Desktop: kv["DESKTOP"]}, true
}

func lookupUser(uid int) (string, int, string, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", 0, "", err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return "", 0, "", fmt.Errorf("user %s: group %q: %w", u.Username, u.Gid, err)
	}
	return u.Username, gid, u.HomeDir, nil
}

// runGsettings runs gsettings get as the session's user (the settings are
// per user, in the user's dconf database), by absolute path, without a
// shell, with a clean environment naming only the user's home and session
// bus, and a timeout. An agent that is neither root nor that user cannot.
func runGsettings(ctx context.Context, s desktopSession, name string, gid int, home, schema, key string) commandOutput {
	uid := s.UID
	var cred *syscall.Credential
	switch euid := os.Geteuid(); {
	case euid == uid:
	case euid == 0:
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	default:
		return commandOutput{err: fmt.Errorf("the agent runs as neither root nor uid %d", uid)}
	}
	dir := fmt.Sprintf("/run/user/%d", uid)
	env := append([]string{
		"HOME=" + home, "USER=" + name, "LOGNAME=" + name,
		"XDG_RUNTIME_DIR=" + dir, "DBUS_SESSION_BUS_ADDRESS=unix:path=" + dir + "/bus",
	}, toolEnv...)
	return runCommandWith(ctx, gsettingsTimeout, env, func(cmd *exec.Cmd) {
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}, gsettingsPath, "get", schema, key)
}
