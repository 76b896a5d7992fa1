package posture

import (
	"context"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/host"
)

const osFamily = "darwin"

// macToolTimeout bounds each tool; they run concurrently, so a report
// waits at most this long for all of them.
const macToolTimeout = 3 * time.Second

// macEnv is the whole environment of the tools: the C locale keeps their
// English wording, which the parsers read.
var macEnv = []string{"LC_ALL=C", "LANG=C", "PATH=/usr/bin:/bin:/usr/sbin:/sbin"}

// collectSlow runs fdesetup, socketfilterfw, csrutil, spctl, sw_vers,
// sysadminctl, ioreg and defaults concurrently, each by absolute path and with a timeout, and
// parses what they print (macparse.go). A tool that fails or times out
// leaves its fact unknown with the reason.
func collectSlow(ctx context.Context) slowFacts {
	f := slowFacts{OSName: knownStringFrom("macos", "GOOS")}
	var wg sync.WaitGroup
	// Each goroutine writes its own fields of f only.
	wg.Go(func() { f.DiskEncryption = runMacTool(ctx, srcFileVault, parseFileVault) })
	wg.Go(func() { f.Firewall = runMacTool(ctx, srcAppFirewall, parseAppFirewall) })
	wg.Go(func() { f.SIP = runMacTool(ctx, srcSIP, parseSIP) })
	wg.Go(func() { f.Gatekeeper = runMacTool(ctx, srcGatekeeper, parseGatekeeper) })
	wg.Go(func() { f.ScreenLock = macScreenLock(ctx) })
	wg.Go(func() {
		out := runMacCommand(ctx, strings.Fields(srcIoreg))
		if f.MachineID = parseIoregUUID(out.stdout); !f.MachineID.Known && out.err != nil {
			f.MachineID.Reason = out.failure()
		}
	})
	wg.Go(func() {
		// defaults says a missing domain on stderr.
		out := runMacCommand(ctx, []string{"/usr/bin/defaults", "read", "/Library/Preferences/com.apple.SoftwareUpdate"})
		f.AutoUpdates = parseMacSoftwareUpdate(out.stdout + out.stderr)
	})
	wg.Go(func() {
		out := runMacCommand(ctx, strings.Fields(srcSwVers))
		f.OSVersion, f.OSBuild = parseSwVers(out.stdout)
		if !f.OSVersion.Known && out.err != nil {
			f.OSVersion.Reason = out.failure()
			f.OSBuild.Reason = out.failure()
		}
	})
	wg.Wait()
	markMoreFactsUnread(&f)
	if !f.OSVersion.Known {
		if _, _, version, err := host.PlatformInformationWithContext(ctx); err == nil && version != "" {
			f.OSVersion = knownStringFrom(version, "gopsutil host.PlatformInformation")
		}
	}
	return f
}

// runMacTool runs the command named by source (its words are the argv; no
// shell) and parses its stdout. When the output says nothing and the run
// failed, the failure is the reason.
func runMacTool(ctx context.Context, source string, parse func(string) api.BoolFact) api.BoolFact {
	out := runMacCommand(ctx, strings.Fields(source))
	fact := parse(out.stdout)
	if !fact.Known && out.err != nil {
		fact.Reason = out.failure()
	}
	return fact
}

func runMacCommand(ctx context.Context, argv []string) commandOutput {
	return runCommand(ctx, macToolTimeout, macEnv, argv[0], argv[1:]...)
}

// macScreenLock asks sysadminctl for the signed-in user's screen lock. The
// setting is per user and the agent runs as root from launchd, so it runs
// the tool as the owner of /dev/console (the user at the screen) through
// launchctl asuser and sudo. No one signed in (console owned by root) is
// unknown.
func macScreenLock(ctx context.Context) api.BoolFact {
	argv := strings.Fields(srcMacScreenLck)
	fi, err := os.Stat("/dev/console")
	if err != nil {
		return unknownBool(srcMacScreenLck, "cannot tell who is at the screen: "+err.Error())
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return unknownBool(srcMacScreenLck, "cannot tell who is at the screen: no owner of /dev/console")
	}
	uid := int(st.Uid)
	switch {
	case uid == 0:
		return unknownBool(srcMacScreenLck, "no user signed in at the screen")
	case os.Geteuid() == 0:
		u, err := user.LookupId(strconv.Itoa(uid))
		if err != nil {
			return unknownBool(srcMacScreenLck, "console user "+strconv.Itoa(uid)+": "+err.Error())
		}
		argv = append([]string{"/bin/launchctl", "asuser", strconv.Itoa(uid), "/usr/bin/sudo", "-n", "-u", u.Username}, argv...)
	case os.Geteuid() != uid:
		return unknownBool(srcMacScreenLck, "the agent runs as neither root nor the user at the screen")
	}
	out := runMacCommand(ctx, argv)
	// sysadminctl writes its answer to stderr.
	fact := parseSysadminctlScreenLock(out.stderr + out.stdout)
	if !fact.Known && out.err != nil {
		fact.Reason = out.failure()
	}
	return fact
}
