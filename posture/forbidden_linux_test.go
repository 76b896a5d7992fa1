package posture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// TestForbiddenSoftwareRenamedCopy runs a renamed copy of a forbidden
// program (/bin/sleep standing in for a tool IT forbids) from a user's
// directory, as that user: the path spec still catches it, by content.
func TestForbiddenSoftwareRenamedCopy(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to run the copy as another user and read every /proc/PID/exe")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("needs setpriv: %v", err))
	}
	const nobody = 65534
	// The forbidden tool: /bin/sleep with a trailer of its own (the
	// kernel ignores bytes after the ELF segments), so no other sleep on
	// this machine matches it.
	forbidden := filepath.Join(t.TempDir(), "forbidden-tool")
	copySleep(t, forbidden, 0)
	f, err := os.OpenFile(forbidden, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\x00gatehouse forbidden " + t.Name() + forbidden); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(forbidden)
	if err != nil {
		t.Fatal(err)
	}
	raw := sha256.Sum256(b)
	sum := hex.EncodeToString(raw[:])

	// The user's renamed copy, in the user's directory.
	dir, err := os.MkdirTemp("", "gh-forbidden-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "totally-innocent")
	if err := os.WriteFile(copyPath, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(copyPath, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	startProcess(t, copyPath, nobody)

	specs := []string{forbidden, "sha256:" + sum, forbidden + ":" + sum, "/nonexistent/tool:" + sum, "totally-innocent"}
	got := forbiddenSoftware(context.Background(), specs)
	for _, spec := range specs {
		f := got[spec]
		if !f.Known || !f.Value || !strings.Contains(f.Reason, copyPath) {
			t.Errorf("forbiddenSoftware(%q) = %+v, want known true naming %s", spec, f, copyPath)
		}
	}
	if f := got[forbidden]; !strings.Contains(f.Reason, "sha256") {
		t.Errorf("forbiddenSoftware(%q).Reason = %q, want the match said to be by sha256", forbidden, f.Reason)
	}
}

// fakeProc builds a /proc-like tree: pid → executable (a symlink, as in
// /proc, so opening it opens the file) and comm.
func fakeProc(t *testing.T, procs map[string][2]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, p := range procs {
		dir := filepath.Join(root, pid)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p[0], filepath.Join(dir, "exe")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(p[1]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestForbiddenIn(t *testing.T) {
	bin := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(bin, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tool := write("nc", "forbidden tool")
	copyOf := write("editor", "forbidden tool") // same bytes, another name
	other := write("bash", "an allowed shell")
	toolSum := sha256.Sum256([]byte("forbidden tool"))
	sum := hex.EncodeToString(toolSum[:])
	loop := filepath.Join(bin, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		procs   map[string][2]string
		spec    string
		want    api.BoolFact
		wantWhy string
	}{
		{name: "nothing forbidden runs", procs: map[string][2]string{"10": {other, "bash"}}, spec: tool, want: api.KnownBool(false), wantWhy: "no running executable matches"},
		{name: "the file itself", procs: map[string][2]string{"10": {other, "bash"}, "11": {tool, "nc"}}, spec: tool, want: api.KnownBool(true), wantWhy: "process 11"},
		{name: "a renamed copy, by the path's content", procs: map[string][2]string{"12": {copyOf, "editor"}}, spec: tool, want: api.KnownBool(true), wantWhy: "sha256 " + sum},
		{name: "by sha256 alone", procs: map[string][2]string{"12": {copyOf, "editor"}}, spec: "sha256:" + sum, want: api.KnownBool(true), wantWhy: "process 12"},
		{name: "by name", procs: map[string][2]string{"13": {other, "nc"}}, spec: "nc", want: api.KnownBool(true), wantWhy: "process name"},
		{name: "lowest pid named", procs: map[string][2]string{"30": {tool, "nc"}, "7": {copyOf, "editor"}}, spec: tool, want: api.KnownBool(true), wantWhy: "process 7 "},
		{name: "unreadable executable, no match", procs: map[string][2]string{"10": {other, "bash"}, "14": {loop, "mystery"}}, spec: tool, want: api.BoolFact{}, wantWhy: "14 (mystery)"},
		{name: "unreadable executable, but a match", procs: map[string][2]string{"11": {tool, "nc"}, "14": {loop, "mystery"}}, spec: tool, want: api.KnownBool(true), wantWhy: "process 11"},
		{name: "package form refused", procs: map[string][2]string{"10": {other, "bash"}}, spec: tool + ":pkg=netcat", want: api.BoolFact{}, wantWhy: "package form"},
		{name: "bad spec", procs: map[string][2]string{"10": {other, "bash"}}, spec: "sha256:xyz", want: api.BoolFact{}, wantWhy: "64 hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeProc(t, tt.procs)
			got := forbiddenIn(context.Background(), root, []string{tt.spec})[tt.spec]
			if got.Known != tt.want.Known || got.Value != tt.want.Value || !strings.Contains(got.Reason, tt.wantWhy) || got.Source != srcForbidden {
				t.Errorf("forbiddenIn(%v, %q) = %+v, want %+v with %q", tt.procs, tt.spec, got, tt.want, tt.wantWhy)
			}
		})
	}
}

// TestForbiddenHugeExecutable: an executable too big to hash (a sparse
// file a user could touch every second) is not hashed; a content spec is
// then unknown, while a path spec still matches it by place.
func TestForbiddenHugeExecutable(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxHashSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	root := fakeProc(t, map[string][2]string{"20": {huge, "huge"}})
	spec := "sha256:" + strings.Repeat("ab", 32)
	got := forbiddenIn(context.Background(), root, []string{spec, huge})
	if f := got[spec]; f.Known || !strings.Contains(f.Reason, "20 (huge)") {
		t.Errorf("forbiddenIn(huge, %q) = %+v, want unknown naming process 20", spec, f)
	}
	if f := got[huge]; !f.Known || !f.Value {
		t.Errorf("forbiddenIn(huge, %q) = %+v, want known true (by path)", huge, f)
	}
}
