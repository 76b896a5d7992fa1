package posture

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// toolTimeout bounds each firewall tool run; Collect must stay quick.
const toolTimeout = 3 * time.Second

// runTool runs a command and returns its output; ok is false when the
// tool is missing or fails (not root, no kernel support, timeout).
type runTool func(ctx context.Context, name string, args ...string) (out string, ok bool)

// firewall says whether a packet filter is active: nftables first, then
// iptables (which catches iptables-legacy rules nft cannot see). It is
// known false only when a tool ran and showed nothing filtering; unknown
// when no tool could be run. Any rule counts: we report that filtering is
// configured, not how good it is.
func firewall(ctx context.Context, run runTool) api.BoolFact {
	ran := false
	if out, ok := run(ctx, "nft", "list", "ruleset"); ok {
		if nftActive(out) {
			return api.KnownBool(true)
		}
		ran = true
	}
	if out, ok := run(ctx, "iptables", "-S"); ok {
		if iptablesActive(out) {
			return api.KnownBool(true)
		}
		ran = true
	}
	if ran {
		return api.KnownBool(false)
	}
	return api.BoolFact{}
}

// execTool runs a system tool with a short timeout. Services often start
// with a PATH that lacks the sbin directories, so those are tried too.
func execTool(ctx context.Context, name string, args ...string) (string, bool) {
	path, err := exec.LookPath(name)
	if err != nil {
		path = ""
		for _, dir := range []string{"/usr/sbin/", "/sbin/"} {
			if fi, err := os.Stat(dir + name); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				path = dir + name
				break
			}
		}
		if path == "" {
			return "", false
		}
	}
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return "", false
	}
	return string(out), true
}

// nftActive reads `nft list ruleset` output: true when some chain holds a
// rule, or a base chain (one with a hook) has policy drop. Sets, maps and
// flowtables are not rules.
func nftActive(out string) bool {
	depth := 0
	chainDepth := -1 // depth of the open chain's contents; -1 outside chains
	hook, drop := false, false
	for _, raw := range strings.Split(out, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		opens, closes := countBraces(line)
		if chainDepth >= 0 && depth == chainDepth && !strings.HasPrefix(line, "}") {
			if !chainDeclaration(line, &hook, &drop) {
				return true // a rule
			}
			if hook && drop {
				return true
			}
		}
		if chainDepth < 0 && strings.HasPrefix(line, "chain ") && opens > closes {
			chainDepth = depth + 1
			hook, drop = false, false
		}
		depth += opens - closes
		if chainDepth >= 0 && depth < chainDepth {
			chainDepth = -1
		}
	}
	return false
}

// chainDeclaration reports whether a line inside a chain declares the
// chain rather than being a rule, noting a hook and a drop policy, e.g.
// "type filter hook input priority filter; policy drop;".
func chainDeclaration(line string, hook, drop *bool) bool {
	decl := false
	for _, stmt := range strings.Split(line, ";") {
		f := strings.Fields(stmt)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "type":
			decl = true
			for _, w := range f {
				if w == "hook" {
					*hook = true
				}
			}
		case "policy":
			decl = true
			if len(f) > 1 && f[1] == "drop" {
				*drop = true
			}
		case "comment", "devices", "flags", "priority", "hook":
			decl = true
		default:
			return false
		}
	}
	return decl
}

// countBraces counts { and } outside double-quoted strings.
func countBraces(line string) (opens, closes int) {
	quoted := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '{' && !quoted:
			opens++
		case c == '}' && !quoted:
			closes++
		}
	}
	return opens, closes
}

// iptablesActive reads `iptables -S` output: true when INPUT's policy is
// DROP or any rule is appended to any chain.
func iptablesActive(out string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "-A":
			return true
		case f[0] == "-P" && len(f) >= 3 && f[1] == "INPUT" && f[2] == "DROP":
			return true
		}
	}
	return false
}
