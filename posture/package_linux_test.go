package posture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

func TestParseDpkgList(t *testing.T) {
	list := linuxTestdata(t, "dpkginfo/nftables.list")
	tests := []struct {
		paths []string
		want  string
	}{
		{paths: []string{"/usr/sbin/nft"}, want: "/usr/sbin/nft"},
		{paths: []string{"/sbin/nft", "/usr/sbin/nft"}, want: "/usr/sbin/nft"},
		{paths: []string{"/usr/bin/nft"}, want: ""},
		{paths: []string{"/usr/sbin"}, want: "/usr/sbin"}, // directories are listed too; the md5sums have none
	}
	for _, tt := range tests {
		if got, err := parseDpkgList(strings.NewReader(list), tt.paths); got != tt.want || err != nil {
			t.Errorf("parseDpkgList(nftables.list, %v) = %q, %v, want %q", tt.paths, got, err, tt.want)
		}
	}
}

func TestParseMD5Sums(t *testing.T) {
	sums := linuxTestdata(t, "dpkginfo/nftables.md5sums")
	tests := []struct {
		path   string
		want   string
		wantOK bool
	}{
		{path: "/usr/sbin/nft", want: "da35da396673e26ac4f07ccc5d970ba2", wantOK: true},
		{path: "/usr/sbin", wantOK: false},
		{path: "/usr/bin/nft", wantOK: false},
	}
	for _, tt := range tests {
		got, ok, err := parseMD5Sums(strings.NewReader(sums), tt.path)
		if got != tt.want || ok != tt.wantOK || err != nil {
			t.Errorf("parseMD5Sums(nftables.md5sums, %q) = %q, %v, %v, want %q, %v", tt.path, got, ok, err, tt.want, tt.wantOK)
		}
	}
}

func TestParseRPMVerify(t *testing.T) {
	paths := []string{"/usr/sbin/sshd"}
	tests := []struct {
		file             string
		wantOwned, known bool
		wantWhy          string
	}{
		{file: "verify-clean.txt", wantOwned: true, known: true, wantWhy: "unmodified"},
		{file: "verify-mtime-only.txt", wantOwned: true, known: true, wantWhy: "unmodified"},
		{file: "verify-modified.txt", known: true, wantWhy: "S.5....T."},
		{file: "verify-missing.txt", known: true, wantWhy: "missing"},
		{file: "verify-unreadable.txt", wantWhy: "could not verify"},
	}
	for _, tt := range tests {
		got := parseRPMVerify(linuxTestdata(t, "rpm/"+tt.file), paths, "openssh-server")
		if got.Owned != tt.wantOwned || got.Known != tt.known || !strings.Contains(got.Reason, tt.wantWhy) {
			t.Errorf("parseRPMVerify(%s) = %+v, want owned %v known %v with %q", tt.file, got, tt.wantOwned, tt.known, tt.wantWhy)
		}
	}
}

func TestRPMOwns(t *testing.T) {
	tests := []struct {
		name      string
		qf, v     commandOutput
		wantOwned bool
		wantKnown bool
		wantWhy   string
	}{
		{name: "owned, clean", qf: commandOutput{stdout: "openssh-server\n"}, wantOwned: true, wantKnown: true, wantWhy: "unmodified"},
		{name: "owned, modified (rpm -V exits 1)", qf: commandOutput{stdout: "openssh-server\n"},
			v: commandOutput{stdout: linuxTestdata(t, "rpm/verify-modified.txt"), err: exitError(t, 1)}, wantKnown: true, wantWhy: "differs"},
		{name: "another package", qf: commandOutput{stdout: "evil-sshd\n"}, wantKnown: true, wantWhy: "belongs to evil-sshd"},
		{name: "no package", qf: commandOutput{stdout: "file /usr/sbin/sshd is not owned by any package\n", err: exitError(t, 1)}, wantKnown: true, wantWhy: "not owned"},
		{name: "rpm broken", qf: commandOutput{err: errors.New("timed out after 3s")}, wantWhy: "timed out"},
	}
	for _, tt := range tests {
		db := packageDB{rpm: "/usr/bin/rpm", run: func(_ context.Context, _ string, args ...string) commandOutput {
			if args[0] == "-qf" {
				return tt.qf
			}
			return tt.v
		}}
		got := db.rpmOwns(context.Background(), []string{"/usr/sbin/sshd"}, "openssh-server")
		if got.Owned != tt.wantOwned || got.Known != tt.wantKnown || !strings.Contains(got.Reason, tt.wantWhy) {
			t.Errorf("%s: rpmOwns() = %+v, want owned %v known %v with %q", tt.name, got, tt.wantOwned, tt.wantKnown, tt.wantWhy)
		}
	}
}

// exitError is a real *exec.ExitError with the given status.
func exitError(t *testing.T, code int) error {
	t.Helper()
	err := exec.Command("/bin/sh", "-c", "exit "+itoa(code)).Run()
	if err == nil {
		t.Fatal("sh exited 0")
	}
	return err
}

func TestPathAliases(t *testing.T) {
	got := pathAliases("/usr/bin/bash", "/usr/bin/bash")
	want := []string{"/bin/bash", "/usr/bin/bash"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pathAliases(/usr/bin/bash) = %v, want %v", got, want)
	}
}

// TestPackagedMatchesDpkg checks real executables against this machine's
// dpkg database and compares with what dpkg -S and dpkg --verify say. A
// copy of the database with another md5 for the file stands for a
// modified binary.
func TestPackagedMatchesDpkg(t *testing.T) {
	if _, err := os.Stat(dpkgInfoDir); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("needs dpkg: %v", err))
	}
	ctx := context.Background()
	db := realPackageDB()
	for _, tt := range []struct{ path, pkg string }{{"/usr/bin/sleep", "coreutils"}, {"/usr/bin/bash", "bash"}} {
		out, err := exec.Command("dpkg", "-S", tt.path).CombinedOutput()
		if err != nil {
			// dpkg -S knows the /usr-merged twin only; ask it that way.
			out, err = exec.Command("dpkg", "-S", strings.TrimPrefix(tt.path, "/usr")).CombinedOutput()
		}
		owner, _, _ := strings.Cut(string(out), ":")
		verify, verr := exec.Command("dpkg", "--verify", tt.pkg).CombinedOutput()
		if err != nil || owner != tt.pkg || verr != nil {
			t.Skipf("dpkg -S %s = %q, %v; dpkg --verify %s = %q, %v: not the expected install", tt.path, out, err, tt.pkg, verify, verr)
		}
		if got := packaged(ctx, db, tt.path, tt.pkg); !got.Owned || !got.Known {
			t.Errorf("packaged(%s, %s) = %+v, want owned (dpkg -S: %q, dpkg --verify: clean)", tt.path, tt.pkg, got, strings.TrimSpace(string(out)))
		}
		if got := packaged(ctx, db, tt.path, "nftables-not-"+tt.pkg); got.Owned || !got.Known {
			t.Errorf("packaged(%s, another package) = %+v, want known not owned", tt.path, got)
		}
	}

	// A database that recorded another md5 for sleep: the file on disk is
	// then "modified".
	fake := t.TempDir()
	for _, ext := range []string{".list", ".md5sums"} {
		b, err := os.ReadFile(filepath.Join(dpkgInfoDir, "coreutils"+ext))
		if err != nil {
			t.Skip(err)
		}
		if ext == ".md5sums" {
			var lines []string
			for line := range strings.Lines(string(b)) {
				if _, path, _ := strings.Cut(strings.TrimSpace(line), "  "); strings.HasSuffix(path, "bin/sleep") {
					line = strings.Repeat("0", 32) + "  " + path + "\n"
				}
				lines = append(lines, line)
			}
			b = []byte(strings.Join(lines, ""))
		}
		if err := os.WriteFile(filepath.Join(fake, "coreutils"+ext), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := packaged(ctx, packageDB{dpkgInfo: fake}, "/usr/bin/sleep", "coreutils"); got.Owned || !got.Known || !strings.Contains(got.Reason, "modified") {
		t.Errorf("packaged(sleep, md5 recorded differently) = %+v, want known modified", got)
	}
	// A database file a user could write proves nothing.
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(fake, "coreutils.md5sums"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if got := packaged(ctx, packageDB{dpkgInfo: fake}, "/usr/bin/sleep", "coreutils"); got.Owned || got.Known {
			t.Errorf("packaged(sleep, md5sums owned by nobody) = %+v, want unknown", got)
		}
	}
}

// TestRunningPackagedSoftware: a required-software spec with :pkg= holds
// when the process runs the packaged, unmodified file.
func TestRunningPackagedSoftware(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to read every /proc/PID/exe")
	}
	if _, err := os.Stat(filepath.Join(dpkgInfoDir, "coreutils.md5sums")); err != nil {
		testenv.SkipOrFail(t, fmt.Sprintf("needs dpkg's coreutils: %v", err))
	}
	sleep, err := filepath.EvalSymlinks("/usr/bin/sleep")
	if err != nil {
		t.Skip(err)
	}
	startProcess(t, sleep, 0)
	ctx := context.Background()
	for spec, want := range map[string]bool{sleep + ":pkg=coreutils": true, sleep + ":pkg=bash": false} {
		got := runningSoftware(ctx, []string{spec})[spec]
		if !got.Fact.Known || got.Fact.Value != want {
			t.Errorf("runningSoftware(%q) = %+v, want known %v", spec, got, want)
		}
	}
}
