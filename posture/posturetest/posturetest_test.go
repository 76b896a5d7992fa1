package posturetest_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/posture/posturetest"
)

func TestSourceCollect(t *testing.T) {
	s := posturetest.New(api.PostureReport{
		Firewall:  api.KnownBool(true),
		Processes: map[string]api.BoolFact{"sshd": api.KnownBool(true), "unasked": api.KnownBool(true)},
	})
	tests := []struct {
		name string
		in   []string
		want map[string]api.BoolFact
	}{
		{name: "none asked", in: nil, want: nil},
		{name: "set and unset", in: []string{"sshd", "falcon-sensor"}, want: map[string]api.BoolFact{
			"sshd": api.KnownBool(true), "falcon-sensor": {},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Collect(context.Background(), api.PostureQuery{Processes: tt.in}).Processes
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Collect(%q).Processes = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestSourceSetAndCopy(t *testing.T) {
	s := posturetest.New(api.PostureReport{Firewall: api.KnownBool(true)})
	q := api.PostureQuery{Processes: []string{"sshd"}}
	r := s.Collect(context.Background(), q)
	r.Processes["sshd"] = api.KnownBool(true) // must not reach the source

	s.Set(func(r *api.PostureReport) { r.Firewall = api.KnownBool(false) })
	got := s.Collect(context.Background(), q)
	if want := api.KnownBool(false); got.Firewall != want {
		t.Errorf("Collect().Firewall after Set = %+v, want %+v", got.Firewall, want)
	}
	if want := (api.BoolFact{}); got.Processes["sshd"] != want {
		t.Errorf("Collect().Processes[%q] = %+v, want %+v", "sshd", got.Processes["sshd"], want)
	}
}

// TestCollectForbiddenAndFiles: the forbidden-software and file maps hold
// exactly the asked specs, like Processes.
func TestCollectForbiddenAndFiles(t *testing.T) {
	s := posturetest.New(api.PostureReport{
		Forbidden: map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(true), "unasked": api.KnownBool(true)},
		Files:     map[string]api.BoolFact{"/etc/ca.pem": api.KnownBool(true)},
	})
	r := s.Collect(context.Background(), api.PostureQuery{Forbidden: []string{"/usr/bin/nc", "sha256:ab"}, Files: []string{"/etc/ca.pem"}})
	wantForbidden := map[string]api.BoolFact{"/usr/bin/nc": api.KnownBool(true), "sha256:ab": {}}
	if !reflect.DeepEqual(r.Forbidden, wantForbidden) {
		t.Errorf("Collect().Forbidden = %v, want %v", r.Forbidden, wantForbidden)
	}
	if want := map[string]api.BoolFact{"/etc/ca.pem": api.KnownBool(true)}; !reflect.DeepEqual(r.Files, want) {
		t.Errorf("Collect().Files = %v, want %v", r.Files, want)
	}
	if r := s.Collect(context.Background(), api.PostureQuery{}); r.Forbidden != nil || r.Files != nil {
		t.Errorf("Collect(nothing asked) = forbidden %v, files %v, want nil", r.Forbidden, r.Files)
	}
}
