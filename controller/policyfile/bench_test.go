package policyfile

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// bigFile is a realistic large policy: 100 apps, 50 groups of 20 users,
// 20 profiles, 100 policies (a CEL condition each), 1000 tests.
func bigFile() ([]byte, []api.User) {
	var b strings.Builder
	var users []api.User
	b.WriteString("{\n\"groups\": [\n")
	for g := 0; g < 50; g++ {
		var members []string
		for u := 0; u < 20; u++ {
			name := fmt.Sprintf("u%d-%d", g, u)
			members = append(members, fmt.Sprintf("%q", name))
			users = append(users, api.User{Name: name})
		}
		fmt.Fprintf(&b, "  {\"name\": \"g%d\", \"members\": [%s]}, // group %d\n", g, strings.Join(members, ", "), g)
	}
	b.WriteString("],\n\"apps\": [\n")
	for a := 0; a < 100; a++ {
		fmt.Fprintf(&b, "  {\"name\": \"app%d\", \"upstreams\": [\"10.0.%d.1:443\"]},\n", a, a)
	}
	b.WriteString("],\n\"posture_profiles\": [\n")
	for p := 0; p < 20; p++ {
		fmt.Fprintf(&b, "  {\"name\": \"prof%d\", \"os_family\": \"linux\", \"disk_encryption\": true, \"firewall\": %v},\n", p, p%2 == 0)
	}
	b.WriteString("],\n\"policies\": [\n")
	for p := 0; p < 100; p++ {
		fmt.Fprintf(&b, "  {\"name\": \"pol%d\", \"groups\": [\"g%d\"], \"apps\": [\"app%d\"], \"posture_profiles\": [\"prof%d\"], \"condition\": \"'g%d' in user.groups\"},\n",
			p, p%50, p, p%20, p%50)
	}
	b.WriteString("],\n\"exceptions\": [],\n\"tests\": [\n")
	for i := 0; i < 1000; i++ {
		p := i % 100
		fmt.Fprintf(&b, "  {\"name\": \"t%d\", \"user\": \"u%d-%d\", \"app\": \"app%d\", \"posture\": {\"os_family\": \"linux\", \"disk_encryption\": true, \"firewall\": true}, \"expect\": \"allow\"},\n",
			i, p%50, i%20, p)
	}
	b.WriteString("],\n}\n")
	return []byte(b.String()), users
}

// TestBigFile: a realistic large file parses and its 1000 tests pass
// well within the request's 20 s.
func TestBigFile(t *testing.T) {
	src, users := bigFile()
	start := time.Now()
	f, err := Parse("big.hujson", src)
	if err != nil {
		t.Fatalf("Parse(big) = %v", err)
	}
	parsed := time.Since(start)
	for _, r := range f.Run(context.Background(), users, time.Now()) {
		if !r.Passed {
			t.Fatalf("test %s: %s", r.Name, r.Failure)
		}
	}
	t.Logf("%d bytes: parse %v, parse and 1000 tests %v", len(src), parsed, time.Since(start))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("parse and tests took %v, want well under the 20 s request limit", d)
	}
}

func BenchmarkParseAndRun(b *testing.B) {
	src, users := bigFile()
	for b.Loop() {
		f, err := Parse("big.hujson", src)
		if err != nil {
			b.Fatal(err)
		}
		f.Run(context.Background(), users, time.Now())
	}
}
