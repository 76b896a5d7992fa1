package main

import "testing"

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
