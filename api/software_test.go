package api

import (
	"strings"
	"testing"
)

func TestParseSoftware(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		in      string
		want    SoftwareSpec
		wantErr bool
	}{
		{name: "process name", in: "falcon-sensor", want: SoftwareSpec{Name: "falcon-sensor"}},
		{name: "path", in: "/usr/sbin/sshd", want: SoftwareSpec{Path: "/usr/sbin/sshd"}},
		{name: "path and sha256", in: "/usr/sbin/sshd:" + strings.ToUpper(sum), want: SoftwareSpec{Path: "/usr/sbin/sshd", SHA256: sum}},
		{name: "path and package", in: "/usr/sbin/sshd:pkg=openssh-server", want: SoftwareSpec{Path: "/usr/sbin/sshd", Package: "openssh-server"}},
		{name: "rpm package name", in: "/usr/bin/python3:pkg=python3.11_x-Z+", want: SoftwareSpec{Path: "/usr/bin/python3", Package: "python3.11_x-Z+"}},
		{name: "sha256 alone", in: "sha256:" + sum, want: SoftwareSpec{SHA256: sum}},
		{name: "short sha256", in: "/usr/sbin/sshd:abc", wantErr: true},
		{name: "sha256 alone, short", in: "sha256:abc", wantErr: true},
		{name: "empty package", in: "/usr/sbin/sshd:pkg=", wantErr: true},
		{name: "package with slash", in: "/usr/sbin/sshd:pkg=a/b", wantErr: true},
		{name: "package starting with dash", in: "/usr/sbin/sshd:pkg=-x", wantErr: true},
		{name: "unclean path", in: "/usr/../sbin/sshd", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "name with colon", in: "a:b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSoftware(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseSoftware(%q) = %+v, %v, want %+v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestParseSoftwareSpecKeepsItsForms: the legacy two-value form still
// reads names, paths and sums as before, and accepts the package form.
func TestParseSoftwareSpecKeepsItsForms(t *testing.T) {
	sum := strings.Repeat("0f", 32)
	tests := []struct {
		in              string
		wantPath, wantS string
		wantErr         bool
	}{
		{in: "sshd"},
		{in: "sha256:" + sum}, // a name to legacy callers, as it always was
		{in: "/usr/sbin/sshd", wantPath: "/usr/sbin/sshd"},
		{in: "/usr/sbin/sshd:" + sum, wantPath: "/usr/sbin/sshd", wantS: sum},
		{in: "/usr/sbin/sshd:pkg=openssh-server", wantPath: "/usr/sbin/sshd"},
		{in: "/usr/sbin/sshd:zz", wantErr: true},
	}
	for _, tt := range tests {
		path, s, err := ParseSoftwareSpec(tt.in)
		if path != tt.wantPath || s != tt.wantS || (err != nil) != tt.wantErr {
			t.Errorf("ParseSoftwareSpec(%q) = %q, %q, %v, want %q, %q (error %v)", tt.in, path, s, err, tt.wantPath, tt.wantS, tt.wantErr)
		}
	}
}

func TestParseFileSpec(t *testing.T) {
	sum := strings.Repeat("12", 32)
	tests := []struct {
		in              string
		wantPath, wantS string
		wantErr         bool
	}{
		{in: "/etc/gatehouse/ca.pem", wantPath: "/etc/gatehouse/ca.pem"},
		{in: "/etc/gatehouse/ca.pem:" + sum, wantPath: "/etc/gatehouse/ca.pem", wantS: sum},
		{in: "ca.pem", wantErr: true},
		{in: "sha256:" + sum, wantErr: true},
		{in: "/etc/x:pkg=base-files", wantErr: true},
		{in: "/etc//x", wantErr: true},
	}
	for _, tt := range tests {
		path, s, err := ParseFileSpec(tt.in)
		if path != tt.wantPath || s != tt.wantS || (err != nil) != tt.wantErr {
			t.Errorf("ParseFileSpec(%q) = %q, %q, %v, want %q, %q (error %v)", tt.in, path, s, err, tt.wantPath, tt.wantS, tt.wantErr)
		}
	}
}
