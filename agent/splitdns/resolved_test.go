package splitdns

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeRunner records each command line and fails those whose line
// contains fail.
type fakeRunner struct {
	lines []string
	fail  string
}

func (f *fakeRunner) run(_ context.Context, name string, args ...string) ([]byte, error) {
	line := strings.Join(append([]string{name}, args...), " ")
	f.lines = append(f.lines, line)
	if f.fail != "" && strings.Contains(line, f.fail) {
		return []byte("Failed to set: no such link"), errors.New("exit status 1")
	}
	return nil, nil
}

func TestLinkDNSCommands(t *testing.T) {
	addr := netip.MustParseAddr("169.254.53.8")
	tests := []struct {
		name    string
		fail    string
		do      func(context.Context, *LinkDNS) error
		want    []string
		wantErr bool
	}{
		{name: "register", do: func(ctx context.Context, l *LinkDNS) error { return l.Register(ctx, "corp.gatehouse") },
			want: []string{
				"/usr/bin/resolvectl dns gh0 169.254.53.8",
				"/usr/bin/resolvectl domain gh0 ~corp.gatehouse",
				"/usr/bin/resolvectl default-route gh0 false",
			}},
		{name: "domain changes", do: func(ctx context.Context, l *LinkDNS) error {
			if err := l.Register(ctx, "gatehouse"); err != nil {
				return err
			}
			return l.Register(ctx, "corp.gatehouse")
		}, want: []string{
			"/usr/bin/resolvectl dns gh0 169.254.53.8",
			"/usr/bin/resolvectl domain gh0 ~gatehouse",
			"/usr/bin/resolvectl default-route gh0 false",
			"/usr/bin/resolvectl dns gh0 169.254.53.8",
			"/usr/bin/resolvectl domain gh0 ~corp.gatehouse",
			"/usr/bin/resolvectl default-route gh0 false",
		}},
		{name: "revert", do: func(ctx context.Context, l *LinkDNS) error { return l.Revert(ctx) },
			want: []string{"/usr/bin/resolvectl revert gh0"}},
		{name: "dns fails: stop there", fail: " dns ", do: func(ctx context.Context, l *LinkDNS) error { return l.Register(ctx, "gatehouse") },
			want: []string{"/usr/bin/resolvectl dns gh0 169.254.53.8"}, wantErr: true},
		{name: "old resolvectl without default-route", fail: "default-route",
			do: func(ctx context.Context, l *LinkDNS) error { return l.Register(ctx, "gatehouse") },
			want: []string{
				"/usr/bin/resolvectl dns gh0 169.254.53.8",
				"/usr/bin/resolvectl domain gh0 ~gatehouse",
				"/usr/bin/resolvectl default-route gh0 false",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRunner{fail: tt.fail}
			err := tt.do(context.Background(), NewLinkDNS(f.run, "gh0", addr))
			if (err != nil) != tt.wantErr {
				t.Errorf("error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "no such link") {
				t.Errorf("error = %v, want resolvectl's output in it", err)
			}
			if !slices.Equal(f.lines, tt.want) {
				t.Errorf("commands = %q, want %q", f.lines, tt.want)
			}
		})
	}
}

func TestFallbackHint(t *testing.T) {
	h := FallbackHint("corp.gatehouse", netip.MustParseAddr("169.254.53.8"))
	for _, want := range []string{"server=/corp.gatehouse/169.254.53.8", "nameserver 169.254.53.8", "/etc/netns/"} {
		if !strings.Contains(h, want) {
			t.Errorf("FallbackHint = %q, want it to contain %q", h, want)
		}
	}
}
