package controller

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// TestProfileValidation: a profile with a bad newer field is refused
// with ErrInvalid and an error naming what is wrong; nothing is stored,
// on create or on update. A good one is stored as it was sent.
func TestProfileValidation(t *testing.T) {
	c := newCore(t)
	ctx := context.Background()
	sum := strings.Repeat("ab", 32)
	good := api.PostureProfile{Name: "strict", MinOSVersions: map[string]string{"ubuntu": "22.04", "darwin": "14.2", "windows": "10.0.22631"},
		ScreenLock: true, SecureBoot: true, AutoUpdates: true, MaxDaysSinceUpdate: 30, MinAgentVersion: "v1.4.2",
		ForbiddenSoftware: []string{"/usr/bin/nc", "/opt/x/bin/anydesk:" + sum, "teamviewer", "sha256:" + sum}, RequiredFiles: []string{"/etc/corp/ca.pem", "/etc/corp/id:" + sum},
		SIP: true, Gatekeeper: true, Antivirus: true, DomainJoined: true, Condition: "'corp' in device.tags"}
	if _, _, err := c.PostureProfiles.Create(ctx, testOwner, good); err != nil {
		t.Fatalf("PostureProfiles.Create(good) = %v", err)
	}
	got, err := c.PostureProfiles.Get(ctx, testOwner, "strict")
	if err != nil || !reflect.DeepEqual(got.MinOSVersions, good.MinOSVersions) || got.Condition != good.Condition ||
		!reflect.DeepEqual(got.RequiredFiles, good.RequiredFiles) || got.MaxDaysSinceUpdate != 30 || !got.DomainJoined {
		t.Fatalf("PostureProfiles.Get = %+v, %v; want %+v", got, err, good)
	}
	tests := []struct {
		name    string
		change  func(p *api.PostureProfile)
		wantErr string
	}{
		{"bad version", func(p *api.PostureProfile) { p.MinOSVersions = map[string]string{"ubuntu": "jammy"} }, "not a version"},
		{"unknown os key", func(p *api.PostureProfile) { p.MinOSVersions = map[string]string{"ubunto": "22.04"} }, "not an OS family"},
		{"os key with escapes", func(p *api.PostureProfile) { p.MinOSVersions = map[string]string{"\x1b[2J": "1"} }, "not an OS family"},
		{"negative days", func(p *api.PostureProfile) { p.MaxDaysSinceUpdate = -1 }, "--max-days-since-update -1"},
		{"absurd days", func(p *api.PostureProfile) { p.MaxDaysSinceUpdate = 100000 }, "--max-days-since-update"},
		{"dev agent version", func(p *api.PostureProfile) { p.MinAgentVersion = "dev" }, "--min-agent-version"},
		{"relative forbidden path", func(p *api.PostureProfile) { p.ForbiddenSoftware = []string{"bin/nc"} }, "--forbid"},
		{"unclean forbidden path", func(p *api.PostureProfile) { p.ForbiddenSoftware = []string{"/usr/bin/../bin/nc"} }, "absolute and clean"},
		{"short forbidden sha", func(p *api.PostureProfile) { p.ForbiddenSoftware = []string{"/usr/bin/nc:abc"} }, "64 hex"},
		{"duplicate forbidden", func(p *api.PostureProfile) { p.ForbiddenSoftware = []string{"nc", "nc"} }, "listed twice"},
		{"forbidden by package", func(p *api.PostureProfile) { p.ForbiddenSoftware = []string{"/usr/bin/nc:pkg=netcat"} }, "not a package"},
		{"forbidden content, short sha", func(p *api.PostureProfile) { p.ForbiddenSoftware = []string{"sha256:abc"} }, "64 hex"},
		{"relative file", func(p *api.PostureProfile) { p.RequiredFiles = []string{"etc/ca.pem"} }, "--require-file"},
		{"unclean file", func(p *api.PostureProfile) { p.RequiredFiles = []string{"/etc//ca.pem"} }, "absolute and clean"},
		{"bad file sha", func(p *api.PostureProfile) { p.RequiredFiles = []string{"/etc/ca.pem:" + strings.Repeat("g", 64)} }, "64 hex"},
		{"bad condition", func(p *api.PostureProfile) { p.Condition = "device.colour == 'red'" }, "undeclared reference"},
		{"condition not a bool", func(p *api.PostureProfile) { p.Condition = "device.os" }, "must give a bool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			p.Name = "new"
			tt.change(&p)
			_, _, err := c.PostureProfiles.Create(ctx, testOwner, p)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("PostureProfiles.Create(%s) = %v, want ErrInvalid mentioning %q", tt.name, err, tt.wantErr)
			}
			if _, err := c.PostureProfiles.Get(ctx, testOwner, "new"); !errors.Is(err, ErrNotFound) {
				t.Errorf("after a refused create, Get = %v, want ErrNotFound", err)
			}
			p.Name = "strict"
			if _, _, err := c.PostureProfiles.Update(ctx, testOwner, p); !errors.Is(err, ErrInvalid) {
				t.Fatalf("PostureProfiles.Update(%s) = %v, want ErrInvalid", tt.name, err)
			}
			if after, _ := c.PostureProfiles.Get(ctx, testOwner, "strict"); !reflect.DeepEqual(after, got) {
				t.Errorf("after a refused update, Get = %+v, want it unchanged %+v", after, got)
			}
		})
	}
}
