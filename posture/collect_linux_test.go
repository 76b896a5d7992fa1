package posture

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{
			name: "debian",
			in:   "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n",
			want: map[string]string{"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "VERSION_ID": "12", "ID": "debian"},
		},
		{
			name: "comments, single quotes, escapes",
			in:   "# comment\n\nID='arch'\nNAME=\"say \\\"hi\\\"\"\nBROKEN\n",
			want: map[string]string{"ID": "arch", "NAME": `say "hi"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseOSRelease(strings.NewReader(tt.in))
			if len(got) != len(tt.want) {
				t.Fatalf("parseOSRelease(%q) = %v, want %v", tt.in, got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("parseOSRelease(%q) = %v, want %v", tt.in, got, tt.want)
				}
			}
		})
	}
}

func TestReadSerial(t *testing.T) {
	tests := []struct {
		name string
		in   *string // nil: no file
		want api.StringFact
	}{
		{name: "serial", in: ptr("PF3ABCDE\n"), want: api.KnownString("PF3ABCDE")},
		{name: "placeholder", in: ptr("To Be Filled By O.E.M.\n"), want: api.StringFact{}},
		{name: "empty", in: ptr("\n"), want: api.StringFact{}},
		{name: "missing", in: nil, want: api.StringFact{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "product_serial")
			if tt.in != nil {
				if err := os.WriteFile(path, []byte(*tt.in), 0o400); err != nil {
					t.Fatal(err)
				}
			}
			if got := readSerial(path); got != tt.want {
				t.Errorf("readSerial(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestSystemCollect collects for real on this machine.
func TestSystemCollect(t *testing.T) {
	// gopsutil names a process by /proc/<pid>/comm, which the kernel cuts
	// to 15 bytes; for a cut name it takes the base of argv[0] instead when
	// that starts with comm. So the full base name is the reported name.
	self := filepath.Base(os.Args[0])
	const madeUp = "gatehouse-no-such-process-xyz"
	q := api.PostureQuery{Processes: []string{self, madeUp}}

	r := NewSystem("1.2.3").Collect(context.Background(), q)
	t.Logf("report: %+v", r)

	if got, want := r.OSFamily, api.KnownString("linux"); got != want {
		t.Errorf("Collect().OSFamily = %+v, want %+v", got, want)
	}
	if r.AgentVersion != "1.2.3" {
		t.Errorf("Collect().AgentVersion = %q, want %q", r.AgentVersion, "1.2.3")
	}
	if !r.Kernel.Known || r.Kernel.Value == "" {
		t.Errorf("Collect().Kernel = %+v, want known and non-empty", r.Kernel)
	}
	if !r.Hostname.Known || r.Hostname.Value == "" {
		t.Errorf("Collect().Hostname = %+v, want known and non-empty", r.Hostname)
	}
	if !r.UptimeSeconds.Known {
		t.Errorf("Collect().UptimeSeconds = %+v, want known", r.UptimeSeconds)
	}
	if r.CollectedAt.IsZero() {
		t.Errorf("Collect().CollectedAt is zero")
	}
	if len(r.Processes) != 2 {
		t.Errorf("Collect().Processes = %v, want exactly %v", r.Processes, q.Processes)
	}
	if got, want := r.Processes[self], api.KnownBool(true); got != want {
		t.Errorf("Collect().Processes[%q] = %+v, want %+v", self, got, want)
	}
	if got, want := r.Processes[madeUp], api.KnownBool(false); got != want {
		t.Errorf("Collect().Processes[%q] = %+v, want %+v", madeUp, got, want)
	}

	if r := NewSystem("").Collect(context.Background(), api.PostureQuery{}); r.Processes != nil {
		t.Errorf("Collect(no processes).Processes = %v, want nil", r.Processes)
	}
}

func TestSystemCachesSlowFacts(t *testing.T) {
	now := time.Unix(1000, 0)
	s := &System{now: func() time.Time { return now }}
	s.Collect(context.Background(), api.PostureQuery{})
	first := s.slowAt
	now = now.Add(slowFactsTTL / 2)
	s.Collect(context.Background(), api.PostureQuery{})
	if s.slowAt != first {
		t.Errorf("slow facts refreshed after %v, want cached for %v", slowFactsTTL/2, slowFactsTTL)
	}
	now = now.Add(slowFactsTTL)
	s.Collect(context.Background(), api.PostureQuery{})
	if !s.slowAt.Equal(now) {
		t.Errorf("slow facts taken at %v after %v, want refreshed at %v", s.slowAt, slowFactsTTL*3/2, now)
	}
}

func ptr[T any](v T) *T { return &v }
