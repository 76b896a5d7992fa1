package main

import (
	"io"
	"strings"
	"testing"
)

func TestServiceLocalUserName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"alice", true},
		{"1000", true},
		{"j.doe_2", true},
		{"a b", false},
		{`a"b`, false},
		{"-rf", false},
		{"alice;reboot", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := userName.MatchString(tt.in); got != tt.want {
			t.Errorf("userName.MatchString(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestServiceInstallTUNNameNeedsTUN: a bad or lone --tun-name is refused
// before anything is installed.
func TestServiceInstallTUNNameNeedsTUN(t *testing.T) {
	for _, args := range [][]string{
		{"install", "--tun-name", "gh1"},
		{"install", "--tun", "--tun-name", "gh1;reboot"},
	} {
		cmd := serviceCmd()
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--tun-name") {
			t.Errorf("gatehouse service %q = %v, want an error about --tun-name", args, err)
		}
	}
}
