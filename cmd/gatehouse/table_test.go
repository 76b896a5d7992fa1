package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestPrintable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "plain", in: "alice-laptop", want: "alice-laptop"},
		{name: "spaces and unicode letters print", in: "Bäckerei Müller", want: "Bäckerei Müller"},
		{name: "empty", in: "", want: ""},
		{name: "clear screen", in: "x\x1b[2J", want: `"x\x1b[2J"`},
		{name: "OSC 52 clipboard write", in: "\x1b]52;c;ZXZpbA==\a", want: `"\x1b]52;c;ZXZpbA==\a"`},
		{name: "newline", in: "a\nb", want: `"a\nb"`},
		{name: "tab", in: "a\tb", want: `"a\tb"`},
		{name: "carriage return", in: "evil\rgood", want: `"evil\rgood"`},
		{name: "bidi override", in: "abc\u202edef", want: `"abc\u202edef"`},
		{name: "C1 CSI", in: "a\u009b2J", want: `"a\u009b2J"`},
		{name: "invalid UTF-8", in: "a\xffb", want: `"a\xffb"`},
		{name: "a quote alone is printable", in: `say "hi"`, want: `say "hi"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := printable(tt.in); got != tt.want {
				t.Errorf("printable(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestTableEscapesCells(t *testing.T) {
	// A device stored before enrollment validated hostnames.
	rows := [][]string{
		{"dev_1", "alice", "x\x1b[2J\x1b[H", "true"},
		{"dev_2", "bob", "fine", "false\nforged-row\tx"},
	}
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	table(cmd, "ID\tUSER\tHOSTNAME\tONLINE", rows)
	got := out.String()
	for _, bad := range []string{"\x1b", "\r", "forged-row\t"} {
		if strings.Contains(got, bad) {
			t.Errorf("table(%q) = %q, want no raw %q", rows, got, bad)
		}
	}
	if lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n"); len(lines) != 3 {
		t.Errorf("table(%q) printed %d lines, want a header and 2 rows:\n%s", rows, len(lines), got)
	}
	for _, want := range []string{`"x\x1b[2J\x1b[H"`, `"false\nforged-row\tx"`, "fine"} {
		if !strings.Contains(got, want) {
			t.Errorf("table(%q) = %q, want it to contain %s", rows, got, want)
		}
	}
}
