package posture

import (
	"context"
	"encoding/json"
	"fmt"
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

// firewallVerdict is the firewall fact with the reason behind it, so a
// user told "firewall off" learns what was seen.
type firewallVerdict struct {
	Fact   api.BoolFact
	Reason string
}

// firewall says whether inbound traffic is filtered: an input path drops
// by default or holds drop/reject rules. nftables is read first, then
// iptables-save and ip6tables-save, then their -legacy- twins (which see
// iptables-legacy rules nft cannot). ufw and firewalld write into one of these, so they are read
// there. NAT-only, accept-all and Docker-only (FORWARD) rule sets are
// off; no tool that could be run is unknown.
func firewall(ctx context.Context, run runTool) firewallVerdict {
	var seen, notes []string // seen: rule sets read and found not filtering
	if out, ok := run(ctx, "nft", "-j", "list", "ruleset"); ok {
		on, why, err := nftFiltersInput([]byte(out))
		switch {
		case err != nil:
			notes = append(notes, "nft: unreadable output")
		case on:
			return firewallVerdict{api.KnownBool(true), "nftables: " + why}
		default:
			seen = append(seen, "nftables: "+why)
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save", "iptables-legacy-save", "ip6tables-legacy-save"} {
		out, ok := run(ctx, tool)
		if !ok {
			continue
		}
		on, why := iptablesFiltersInput(out)
		if on {
			return firewallVerdict{api.KnownBool(true), tool + ": " + why}
		}
		seen = append(seen, tool+": "+why)
	}
	if len(seen) == 0 {
		return firewallVerdict{api.BoolFact{}, strings.Join(append(notes, "no firewall tool could be read (nft, iptables-save: missing or not permitted)"), "; ")}
	}
	return firewallVerdict{api.KnownBool(false), strings.Join(seen, "; ")}
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

// nftRuleset is the part of `nft -j list ruleset` we read.
type nftRuleset struct {
	Nftables []struct {
		Chain *struct {
			Family string `json:"family"`
			Table  string `json:"table"`
			Name   string `json:"name"`
			Type   string `json:"type"`
			Hook   string `json:"hook"`
			Policy string `json:"policy"`
		} `json:"chain"`
		Rule *struct {
			Family string            `json:"family"`
			Table  string            `json:"table"`
			Chain  string            `json:"chain"`
			Expr   []json.RawMessage `json:"expr"`
		} `json:"rule"`
	} `json:"nftables"`
}

// nftChainKey names a chain uniquely: jumps stay inside a table.
func nftChainKey(family, table, chain string) string { return family + "\x00" + table + "\x00" + chain }

// nftFiltersInput reads `nft -j list ruleset`: on when a filter base
// chain hooked at input has policy drop, or it (or a chain it jumps or
// goes to) holds a drop or reject rule.
func nftFiltersInput(out []byte) (on bool, why string, err error) {
	if strings.TrimSpace(string(out)) == "" {
		return false, "empty ruleset", nil
	}
	var rs nftRuleset
	if err := json.Unmarshal(out, &rs); err != nil {
		return false, "", fmt.Errorf("parse nft -j output: %w", err)
	}
	type chainInfo struct{ drops, jumps []string }
	chains := make(map[string]*chainInfo)
	var inputs []string
	for _, o := range rs.Nftables {
		if c := o.Chain; c != nil {
			key := nftChainKey(c.Family, c.Table, c.Name)
			if chains[key] == nil {
				chains[key] = &chainInfo{}
			}
			if c.Hook == "input" && c.Type == "filter" {
				if c.Policy == "drop" {
					return true, fmt.Sprintf("chain %s %s %s hooks input with policy drop", c.Family, c.Table, c.Name), nil
				}
				inputs = append(inputs, key)
			}
		}
		if r := o.Rule; r != nil {
			key := nftChainKey(r.Family, r.Table, r.Chain)
			ci := chains[key]
			if ci == nil {
				ci = &chainInfo{}
				chains[key] = ci
			}
			for _, e := range r.Expr {
				var stmt map[string]json.RawMessage
				if json.Unmarshal(e, &stmt) != nil {
					continue
				}
				if _, ok := stmt["drop"]; ok {
					ci.drops = append(ci.drops, "drop")
				}
				if _, ok := stmt["reject"]; ok {
					ci.drops = append(ci.drops, "reject")
				}
				for _, verb := range []string{"jump", "goto"} {
					var target struct {
						Target string `json:"target"`
					}
					if raw, ok := stmt[verb]; ok && json.Unmarshal(raw, &target) == nil && target.Target != "" {
						ci.jumps = append(ci.jumps, nftChainKey(r.Family, r.Table, target.Target))
					}
				}
			}
		}
	}
	if len(inputs) == 0 {
		return false, "no filter chain hooks input (NAT-only or forward-only rules filter nothing inbound)", nil
	}
	seen := make(map[string]bool)
	var walk func(key string) string
	walk = func(key string) string {
		if seen[key] || chains[key] == nil {
			return ""
		}
		seen[key] = true
		if len(chains[key].drops) > 0 {
			return chains[key].drops[0]
		}
		for _, j := range chains[key].jumps {
			if v := walk(j); v != "" {
				return v
			}
		}
		return ""
	}
	for _, key := range inputs {
		if v := walk(key); v != "" {
			name := strings.ReplaceAll(key, "\x00", " ")
			return true, fmt.Sprintf("input chain %s has %s rules", name, v), nil
		}
	}
	return false, "input chains accept everything (policy accept, no drop or reject rules)", nil
}

// iptablesFiltersInput reads iptables-save output: on when the filter
// table's INPUT policy is DROP, or INPUT (or a chain it jumps or goes
// to) has a DROP or REJECT rule. Docker's chains hang off FORWARD and
// filter nothing inbound to the host.
func iptablesFiltersInput(out string) (on bool, why string) {
	table := ""
	policy := ""
	targets := make(map[string][]string) // chain → rule targets
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], "*"):
			table = f[0][1:]
		case table != "filter":
		case f[0] == ":INPUT" && len(f) >= 2:
			policy = f[1]
		case f[0] == "-A" && len(f) >= 2:
			for i := 2; i+1 < len(f); i++ {
				if f[i] == "-j" || f[i] == "-g" || f[i] == "--jump" || f[i] == "--goto" {
					targets[f[1]] = append(targets[f[1]], f[i+1])
				}
			}
		}
	}
	if policy == "DROP" {
		return true, "INPUT policy DROP"
	}
	seen := make(map[string]bool)
	var walk func(chain string) string
	walk = func(chain string) string {
		if seen[chain] {
			return ""
		}
		seen[chain] = true
		for _, t := range targets[chain] {
			switch t {
			case "DROP", "REJECT":
				return fmt.Sprintf("%s rule in %s", t, chain)
			case "ACCEPT", "RETURN", "LOG", "MARK", "CONNMARK", "NFLOG":
			default:
				if v := walk(t); v != "" {
					return v
				}
			}
		}
		return ""
	}
	if v := walk("INPUT"); v != "" {
		return true, v
	}
	if policy == "" {
		return false, "no filter table INPUT chain"
	}
	return false, "INPUT accepts everything (policy " + policy + ", no DROP or REJECT rules)"
}
