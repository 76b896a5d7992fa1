package posture

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// Where the update facts are read.
const (
	dpkgStatusPath   = "/var/lib/dpkg/status"
	dpkgLogPath      = "/var/log/dpkg.log" // rotated: .1, .2.gz, ...
	aptConfigPath    = "/usr/bin/apt-config"
	unattendedPath   = "/usr/bin/unattended-upgrade"
	rpmPath          = "/usr/bin/rpm"
	systemctlPath    = "/usr/bin/systemctl"
	dnfAutomaticConf = "/etc/dnf/automatic.conf"
	updateTimeout    = 3 * time.Second
)

// toolEnv is the whole environment of the Linux tools run here: the C
// locale keeps their wording and dates in the form the parsers read.
var toolEnv = []string{"LC_ALL=C", "LANG=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}

// Sources of the update facts, as they appear in reports.
const (
	srcAptConfig  = "apt-config dump"
	srcRPMInstall = "rpm -qa --qf %{INSTALLTIME}"
	srcDnfTimers  = "systemctl is-enabled dnf-automatic*.timer"
)

// updateSystem is where one distribution family keeps its package facts;
// tests point it at recorded files.
type updateSystem struct {
	dpkgStatus, dpkgLog, aptConfig, unattended string
	rpm, systemctl, dnfConf                    string
	run                                        func(ctx context.Context, path string, args ...string) commandOutput
}

func realUpdateSystem() updateSystem {
	return updateSystem{
		dpkgStatus: dpkgStatusPath, dpkgLog: dpkgLogPath, aptConfig: aptConfigPath, unattended: unattendedPath,
		rpm: rpmPath, systemctl: systemctlPath, dnfConf: dnfAutomaticConf,
		run: func(ctx context.Context, path string, args ...string) commandOutput {
			return runCommand(ctx, updateTimeout, toolEnv, path, args...)
		},
	}
}

func (u updateSystem) isDebian() bool { return fileExists(u.dpkgStatus) }
func (u updateSystem) isRPM() bool    { return fileExists(u.rpm) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// daysSinceUpdate is the whole days between now and the last package
// install or upgrade: dpkg's log (its newest install/upgrade line, rotated
// logs included), else the dpkg status file's modification time; rpm's
// newest install time. The last change is read again only when the files
// it comes from changed.
func (u updateSystem) daysSinceUpdate(ctx context.Context, now time.Time) api.IntFact {
	key := filesStamp(u.dpkgStatus, u.dpkgLog, u.dpkgLog+".1", u.rpm, rpmDBPaths[0], rpmDBPaths[1], rpmDBPaths[2])
	c := lastUpdates.get(key, func() (lastChange, bool) {
		c := u.lastChange(ctx)
		return c, c.unknown.Reason == "" && ctx.Err() == nil
	})
	if c.unknown.Reason != "" {
		return c.unknown
	}
	return daysBetween(c.at, now, c.source)
}

// lastChange is when the package database last changed, or why that is
// unknown.
type lastChange struct {
	at      time.Time
	source  string
	unknown api.IntFact // Reason set when at is unknown
}

func (u updateSystem) lastChange(ctx context.Context) lastChange {
	switch {
	case u.isDebian():
		t, src, err := lastDpkgChange(u.dpkgLog, time.Local)
		if err == nil {
			return lastChange{at: t, source: src}
		}
		fi, serr := os.Stat(u.dpkgStatus)
		if serr != nil {
			return lastChange{unknown: api.IntFact{Source: u.dpkgLog, Reason: fmt.Sprintf("%v; %v", err, serr)}}
		}
		return lastChange{at: fi.ModTime(), source: u.dpkgStatus + " (modification time; " + err.Error() + ")"}
	case u.isRPM():
		out := u.run(ctx, u.rpm, "-qa", "--qf", "%{INSTALLTIME} %{NAME}\n")
		if out.err != nil {
			return lastChange{unknown: api.IntFact{Source: srcRPMInstall, Reason: out.failure()}}
		}
		t, err := parseRPMInstallTimes(out.stdout)
		if err != nil {
			return lastChange{unknown: api.IntFact{Source: srcRPMInstall, Reason: err.Error()}}
		}
		return lastChange{at: t, source: srcRPMInstall}
	}
	return lastChange{unknown: api.IntFact{Reason: "no dpkg or rpm package database found"}}
}

// Caches of the update facts, valid while the files they come from are
// unchanged: apt-config costs tens of milliseconds, the dpkg log several.
var (
	lastUpdates    stampedCache[lastChange]
	autoUpdateFact stampedCache[api.BoolFact]
)

// stampedCache holds one value computed from files, with the stamp of
// those files (filesStamp) it was computed at.
type stampedCache[T any] struct {
	mu    sync.Mutex
	stamp string // guarded by mu; "" is empty
	val   T      // guarded by mu
}

// get returns the cached value when stamp is the cached one, else computes
// it, keeping it when keep says it is worth keeping (not a failed run).
func (c *stampedCache[T]) get(stamp string, compute func() (v T, keep bool)) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stamp == stamp && stamp != "" {
		return c.val
	}
	v, keep := compute()
	if keep {
		c.stamp, c.val = stamp, v
	}
	return v
}

// filesStamp names the state of the files and directories at paths (a
// directory's entries included, symlinks followed): identity, size, modification and change
// time, or "-" for a missing one. Editing, replacing, adding or removing
// any of them changes the stamp.
func filesStamp(paths ...string) string {
	var b strings.Builder
	var add func(p string, depth int)
	add = func(p string, depth int) {
		fi, err := os.Stat(p) // through symlinks: the content is what counts
		if err != nil {
			b.WriteString(p + " -\n")
			return
		}
		v, _ := versionOf(fi)
		fmt.Fprintf(&b, "%s %d %d %d %d %d\n", p, v.ino, v.size, fi.ModTime().UnixNano(), v.ctimeSec, v.ctimeNsec)
		if fi.IsDir() && depth == 0 {
			ents, _ := os.ReadDir(p)
			for _, e := range ents {
				add(filepath.Join(p, e.Name()), 1)
			}
		}
	}
	for _, p := range paths {
		add(p, 0)
	}
	return b.String()
}

func daysBetween(last, now time.Time, source string) api.IntFact {
	d := now.Sub(last)
	if d < 0 {
		return api.IntFact{Known: true, Source: source, Reason: "the last update is dated in the future (" + last.Format(time.RFC3339) + "); counted as today"}
	}
	return api.IntFact{Value: int64(d / (24 * time.Hour)), Known: true, Source: source, Reason: "last package change " + last.Format(time.RFC3339)}
}

// maxDpkgLogs bounds how many rotated logs are read (logrotate keeps 12).
const maxDpkgLogs = 13

// lastDpkgChange returns the time of the newest install or upgrade line in
// the dpkg log at path or, when it has none (just rotated), in its rotated
// predecessors. Dates in the log are local time.
func lastDpkgChange(path string, loc *time.Location) (time.Time, string, error) {
	names := []string{path, path + ".1"}
	for i := 2; i < maxDpkgLogs; i++ {
		names = append(names, path+"."+strconv.Itoa(i)+".gz")
	}
	for _, name := range names {
		t, err := lastDpkgChangeIn(name, loc)
		if errors.Is(err, fs.ErrNotExist) && name != path {
			break
		}
		if err == nil {
			return t, name, nil
		}
		if !errors.Is(err, errNoDpkgChange) && !errors.Is(err, fs.ErrNotExist) {
			return time.Time{}, "", err
		}
	}
	return time.Time{}, "", fmt.Errorf("%s: no install or upgrade recorded", filepath.Base(path))
}

var errNoDpkgChange = errors.New("no install or upgrade line")

func lastDpkgChangeIn(name string, loc *time.Location) (time.Time, error) {
	f, err := os.Open(name)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", name, err)
		}
		defer z.Close()
		r = z
	}
	return parseDpkgLog(r, loc)
}

// parseDpkgLog returns the time of the last "install" or "upgrade" line of
// a dpkg log:
//
//	2026-12-05 12:37:06 upgrade libc-bin:amd64 2.36-9+deb12u13 2.36-9+deb12u14
//
// The log is in time order, so the last such line is the newest.
func parseDpkgLog(r io.Reader, loc *time.Location) (time.Time, error) {
	var last time.Time
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || (f[2] != "install" && f[2] != "upgrade") {
			continue
		}
		t, err := time.ParseInLocation(time.DateTime, f[0]+" "+f[1], loc)
		if err != nil {
			continue
		}
		last = t
	}
	if err := sc.Err(); err != nil {
		return time.Time{}, err
	}
	if last.IsZero() {
		return time.Time{}, errNoDpkgChange
	}
	return last, nil
}

// parseRPMInstallTimes reads `rpm -qa --qf '%{INSTALLTIME} %{NAME}\n'`
// (seconds since the epoch, locale-free, unlike `rpm -qa --last`) and
// returns the newest.
func parseRPMInstallTimes(out string) (time.Time, error) {
	var newest int64
	for line := range strings.Lines(out) {
		secs, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		n, err := strconv.ParseInt(secs, 10, 64)
		if err != nil {
			continue
		}
		newest = max(newest, n)
	}
	if newest == 0 {
		return time.Time{}, errors.New(unrecognised(out))
	}
	return time.Unix(newest, 0), nil
}

// autoUpdates says whether the OS installs updates by itself: apt's
// unattended-upgrades (installed and enabled by APT::Periodic), or dnf's
// automatic timers applying updates.
func (u updateSystem) autoUpdates(ctx context.Context) api.BoolFact {
	key := filesStamp(u.aptConfig, u.unattended, "/etc/apt/apt.conf", "/etc/apt/apt.conf.d",
		u.systemctl, u.rpm, u.dnfConf, "/etc/systemd/system/timers.target.wants")
	return autoUpdateFact.get(key, func() (api.BoolFact, bool) {
		f := u.readAutoUpdates(ctx)
		return f, f.Known && ctx.Err() == nil
	})
}

func (u updateSystem) readAutoUpdates(ctx context.Context) api.BoolFact {
	switch {
	case fileExists(u.aptConfig):
		out := u.run(ctx, u.aptConfig, "dump")
		if out.err != nil {
			return unknownBool(srcAptConfig, out.failure())
		}
		return aptAutoUpdates(parseAptConfig(out.stdout), fileExists(u.unattended))
	case fileExists(u.systemctl) && u.isRPM():
		return u.dnfAutoUpdates(ctx)
	}
	return unknownBool("", "neither apt nor dnf with systemd found: automatic updates are not read on this distribution")
}

// parseAptConfig reads `apt-config dump`: one `Key "value";` per line
// (lists repeat the key with "::" at the end; they are kept as the last).
func parseAptConfig(out string) map[string]string {
	kv := make(map[string]string)
	for line := range strings.Lines(out) {
		key, val, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		val = strings.TrimSuffix(strings.TrimSpace(val), ";")
		if uq, err := strconv.Unquote(val); err == nil {
			val = uq
		}
		kv[key] = val
	}
	return kv
}

// aptPeriodicOn reads an APT::Periodic interval: "0" or empty is off,
// anything else (days, or "1d", "always") is on.
func aptPeriodicOn(v string) bool {
	v = strings.TrimSpace(v)
	return v != "" && v != "0"
}

func aptAutoUpdates(cfg map[string]string, installed bool) api.BoolFact {
	const (
		enable = "APT::Periodic::Enable"
		uu     = "APT::Periodic::Unattended-Upgrade"
	)
	src := srcAptConfig + "; " + unattendedPath
	switch v, set := cfg[enable]; {
	case set && v == "0":
		return api.BoolFact{Known: true, Source: src, Reason: enable + ` is "0": apt's periodic jobs are off`}
	case !aptPeriodicOn(cfg[uu]):
		return api.BoolFact{Known: true, Source: src, Reason: uu + ` is "` + cfg[uu] + `" (want "1"; dpkg-reconfigure unattended-upgrades)`}
	case !installed:
		return api.BoolFact{Known: true, Source: src, Reason: "unattended-upgrades is not installed (apt install unattended-upgrades)"}
	}
	return api.BoolFact{Value: true, Known: true, Source: src, Reason: uu + ` is "` + cfg[uu] + `" and unattended-upgrades is installed`}
}

// dnfTimers are dnf's automatic-update timers; the -install one applies
// updates whatever automatic.conf says, the plain ones as apply_updates
// says.
var dnfTimers = []string{"dnf-automatic-install.timer", "dnf-automatic.timer", "dnf5-automatic.timer"}

func (u updateSystem) dnfAutoUpdates(ctx context.Context) api.BoolFact {
	var seen []string
	for _, timer := range dnfTimers {
		out := u.run(ctx, u.systemctl, "is-enabled", timer)
		state := strings.TrimSpace(out.stdout)
		if state == "" {
			state = out.failure()
		}
		seen = append(seen, timer+": "+state)
		if !timerEnabled(state) {
			continue
		}
		if timer == "dnf-automatic-install.timer" {
			return api.BoolFact{Value: true, Known: true, Source: srcDnfTimers, Reason: timer + " is enabled"}
		}
		b, err := os.ReadFile(u.dnfConf)
		if err != nil {
			return api.BoolFact{Source: srcDnfTimers + "; " + u.dnfConf, Reason: timer + " is enabled but " + err.Error()}
		}
		if dnfAppliesUpdates(string(b)) {
			return api.BoolFact{Value: true, Known: true, Source: srcDnfTimers + "; " + u.dnfConf, Reason: timer + " is enabled and apply_updates = yes"}
		}
		seen[len(seen)-1] += " (apply_updates is not yes: downloads only)"
	}
	return api.BoolFact{Known: true, Source: srcDnfTimers, Reason: strings.Join(seen, "; ")}
}

// timerEnabled reads `systemctl is-enabled`: these states start the timer
// at boot.
func timerEnabled(state string) bool {
	switch state {
	case "enabled", "enabled-runtime", "alias":
		return true
	}
	return false
}

// dnfAppliesUpdates reads automatic.conf's [commands] apply_updates (dnf
// and dnf5 both default to no).
func dnfAppliesUpdates(conf string) bool {
	section := ""
	on := false
	for line := range strings.Lines(conf) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || section != "commands" || strings.TrimSpace(key) != "apply_updates" {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(val)) {
		case "yes", "true", "1", "on":
			on = true
		default:
			on = false
		}
	}
	return on
}
