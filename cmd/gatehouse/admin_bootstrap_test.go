package main

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

func TestParseTTL(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "1d", want: 24 * time.Hour},
		{in: "12h", want: 12 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "0d", wantErr: true},
		{in: "-1d", wantErr: true},
		{in: "1.5d", wantErr: true},
		{in: "0s", wantErr: true},
		{in: "forever", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseTTL(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseTTL(%q) = %v, %v, want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadPasswordFromStdin(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "one line", in: "a long passphrase\n", want: "a long passphrase"},
		{name: "no newline", in: "a long passphrase", want: "a long passphrase"},
		{name: "CRLF", in: "pw of mine\r\n", want: "pw of mine"},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := &cobra.Command{}
			cmd.SetIn(strings.NewReader(tt.in))
			got, err := readPassword(cmd, "", "password")
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("readPassword(stdin %q) = %q, %v, want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
