package posture

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestFirewallInNetns loads real rule sets into a network namespace of
// its own and checks the collector's verdict, read through the real nft
// in that namespace, against what `nft list ruleset` shows there.
func TestFirewallInNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to create a network namespace")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, fmt.Sprintf("needs %s: %v", tool, err))
		}
	}
	ns := fmt.Sprintf("gh-fw-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	inNS := func(ctx context.Context, name string, args ...string) (string, bool) {
		if _, err := exec.LookPath(name); err != nil {
			return "", false
		}
		return execTool(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	}
	nft := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v in %s: %v: %s", args, ns, err, out)
		}
		return string(out)
	}
	load := func(t *testing.T, rules string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), "rules.nft")
		if err := os.WriteFile(f, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		nft(t, "-f", f)
	}
	steps := []struct {
		name      string
		rules     string
		want      bool
		wantInNft string // what `nft list ruleset` must show for the verdict to be right
	}{
		{
			name: "nat only",
			rules: `table ip nat {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth0" masquerade
	}
}
`,
			want:      false,
			wantInNft: "masquerade",
		},
		{
			name: "input chain with policy drop",
			rules: `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
	}
}
`,
			want:      true,
			wantInNft: "hook input priority filter; policy drop;",
		},
	}
	for _, s := range steps {
		load(t, s.rules)
		got := firewall(context.Background(), inNS)
		listed := nft(t, "list", "ruleset")
		if !strings.Contains(listed, s.wantInNft) {
			t.Fatalf("%s: nft list ruleset lacks %q:\n%s", s.name, s.wantInNft, listed)
		}
		if !got.Fact.Known || got.Fact.Value != s.want {
			t.Errorf("%s: firewall() = %+v, want known %v; nft list ruleset:\n%s", s.name, got, s.want, listed)
		}
		t.Logf("%s: firewall() = %v (%s)", s.name, got.Fact.Value, got.Reason)
	}
	nft(t, "flush", "ruleset")
	if got := firewall(context.Background(), inNS); !got.Fact.Known || got.Fact.Value {
		t.Errorf("after flush: firewall() = %+v, want known false", got)
	}
}
