package posture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Where package ownership is read.
const (
	dpkgInfoDir = "/var/lib/dpkg/info"
	srcDpkgOwn  = "dpkg: /var/lib/dpkg/info/PKG.list and PKG.md5sums"
	srcRPMOwn   = "rpm -qf PATH; rpm -V PKG"
)

// rpmDBPaths are rpm's database files (sqlite since rpm 4.16, Berkeley
// DB before; newer systems keep it under sysimage); their modification
// time marks a package change.
var rpmDBPaths = []string{"/usr/lib/sysimage/rpm/rpmdb.sqlite", "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages"}

// packageDB answers "does package P own this file, unmodified?" from dpkg's
// own records or by asking rpm. Tests point it at recorded files.
type packageDB struct {
	dpkgInfo string
	rpm      string
	run      func(ctx context.Context, path string, args ...string) commandOutput
}

func realPackageDB() packageDB {
	return packageDB{dpkgInfo: dpkgInfoDir, rpm: rpmPath, run: realUpdateSystem().run}
}

// packageVerdict is the answer, with the reason; Known false when the
// package manager could not tell.
type packageVerdict struct {
	Owned, Known bool
	Reason       string
}

// owns checks the executable at path (its real file real, opened as f)
// against pkg: the package lists the path (or its /usr-merged twin), and
// the file's digest is the one the package manager recorded.
func (db packageDB) owns(ctx context.Context, path, real string, f *os.File, fi os.FileInfo, pkg string) packageVerdict {
	paths := pathAliases(path, real)
	if fileExists(db.dpkgInfo) {
		return db.dpkgOwns(paths, f, fi, pkg)
	}
	if fileExists(db.rpm) {
		return rpmVerdicts.get(ctx, db, paths, fi, pkg)
	}
	return packageVerdict{Reason: "no dpkg or rpm database to ask which package owns " + path}
}

// pathAliases are the names a package may list a file under: the asked
// path, where its symlinks lead, and each one's twin across the /usr
// merge (/bin/bash is listed; /usr/bin/bash is the same file).
func pathAliases(path, real string) []string {
	var out []string
	for _, p := range []string{path, real} {
		out = append(out, p)
		for _, d := range []string{"/bin/", "/sbin/", "/lib/", "/lib64/"} {
			if rest, ok := strings.CutPrefix(p, "/usr"+d); ok {
				out = append(out, d+rest)
			} else if rest, ok := strings.CutPrefix(p, d); ok {
				out = append(out, "/usr"+d+rest)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (db packageDB) dpkgOwns(paths []string, f *os.File, fi os.FileInfo, pkg string) packageVerdict {
	lists, _ := filepath.Glob(filepath.Join(db.dpkgInfo, pkg+".list"))
	arch, _ := filepath.Glob(filepath.Join(db.dpkgInfo, pkg+":*.list"))
	lists = append(lists, arch...)
	if len(lists) == 0 {
		return packageVerdict{Known: true, Reason: "package " + pkg + " is not installed (dpkg)"}
	}
	for _, list := range lists {
		listed, err := dpkgListHas(list, paths)
		if err != nil {
			return packageVerdict{Reason: err.Error()}
		}
		if listed == "" {
			continue
		}
		sumsPath := strings.TrimSuffix(list, ".list") + ".md5sums"
		want, err := dpkgMD5For(sumsPath, listed)
		if err != nil {
			return packageVerdict{Reason: err.Error()}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return packageVerdict{Reason: err.Error()}
		}
		got, err := md5Sums.of(f, fi)
		if err != nil {
			return packageVerdict{Reason: err.Error()}
		}
		if got != want {
			return packageVerdict{Known: true, Reason: fmt.Sprintf("%s differs from package %s (md5 %s, dpkg recorded %s): modified or replaced", listed, pkg, got, want)}
		}
		return packageVerdict{Owned: true, Known: true, Reason: fmt.Sprintf("%s belongs to package %s, unmodified (md5 as dpkg recorded)", listed, pkg)}
	}
	return packageVerdict{Known: true, Reason: fmt.Sprintf("%s does not belong to package %s (dpkg -S %s names its owner)", paths[0], pkg, paths[0])}
}

// dpkgListHas returns which of paths the dpkg file list (PKG.list, one
// path a line) holds, or "".
func dpkgListHas(list string, paths []string) (string, error) {
	f, err := rootOnlyFile(list)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return parseDpkgList(f, paths)
}

func parseDpkgList(r io.Reader, paths []string) (string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if line := sc.Text(); slices.Contains(paths, line) {
			return line, nil
		}
	}
	return "", sc.Err()
}

// dpkgMD5For returns the md5 dpkg recorded for path in PKG.md5sums
// ("<md5>  usr/sbin/nft" lines, paths without the leading slash).
func dpkgMD5For(sums, path string) (string, error) {
	f, err := rootOnlyFile(sums)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sum, ok, err := parseMD5Sums(f, path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", sums, err)
	}
	if !ok {
		return "", fmt.Errorf("%s has no md5sum for %s: the file cannot be verified", sums, path)
	}
	return sum, nil
}

func parseMD5Sums(r io.Reader, path string) (string, bool, error) {
	want := strings.TrimPrefix(path, "/")
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		sum, p, ok := strings.Cut(sc.Text(), "  ")
		if ok && p == want && len(sum) == 32 {
			return strings.ToLower(sum), true, nil
		}
	}
	return "", false, sc.Err()
}

// rootOnlyFile opens a package database file that must be root's alone:
// a user who could write it could make any file "unmodified".
func rootOnlyFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		if why := rootOnly(path, fi, false); why != "" {
			err = errors.New(why)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// rpmOwns asks rpm which packages own the file, then verifies pkg's files
// and reads the line, if any, about this one.
func (db packageDB) rpmOwns(ctx context.Context, paths []string, pkg string) packageVerdict {
	out := db.run(ctx, db.rpm, "-qf", "--qf", "%{NAME}\n", paths[0])
	if out.err != nil {
		if strings.Contains(out.stdout, "not owned") {
			return packageVerdict{Known: true, Reason: strings.TrimSpace(out.stdout)}
		}
		return packageVerdict{Reason: "rpm -qf " + paths[0] + ": " + out.failure()}
	}
	owners := strings.Fields(out.stdout)
	if !slices.Contains(owners, pkg) {
		return packageVerdict{Known: true, Reason: fmt.Sprintf("%s belongs to %s, not %s", paths[0], strings.Join(owners, ", "), pkg)}
	}
	out = db.run(ctx, db.rpm, "-V", pkg)
	var exit *exec.ExitError
	if out.err != nil && !(errors.As(out.err, &exit) && exit.ExitCode() == 1) {
		return packageVerdict{Reason: "rpm -V " + pkg + ": " + out.failure()}
	}
	return parseRPMVerify(out.stdout, paths, pkg)
}

// parseRPMVerify reads `rpm -V PKG`: a line per differing file, nine
// flags (S size, M mode, 5 digest, D device, L link, U user, G group,
// T mtime, P capabilities; "." same, "?" could not tell) or "missing",
// an optional attribute letter, and the path. No line for the file: it is
// as packaged. A changed mtime alone does not count.
func parseRPMVerify(out string, paths []string, pkg string) packageVerdict {
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 2 || !slices.Contains(paths, f[len(f)-1]) {
			continue
		}
		flags := f[0]
		switch {
		case flags == "missing":
			return packageVerdict{Known: true, Reason: f[len(f)-1] + " is missing from package " + pkg}
		case strings.Contains(flags, "?"):
			return packageVerdict{Reason: "rpm could not verify " + f[len(f)-1] + " (" + flags + ")"}
		case strings.Trim(flags, ".T") != "":
			return packageVerdict{Known: true, Reason: fmt.Sprintf("%s differs from package %s (rpm -V: %s): modified or replaced", f[len(f)-1], pkg, flags)}
		}
	}
	return packageVerdict{Owned: true, Known: true, Reason: fmt.Sprintf("%s belongs to package %s, unmodified (rpm -V)", paths[0], pkg)}
}

// rpmVerdicts caches rpm's answers: rpm -V reads every file of the
// package, too slow for every report. The key holds the file's version
// and the database's change time, so an update or a changed file asks
// again.
var rpmVerdicts = verdictCache{m: map[verdictKey]packageVerdict{}}

type verdictKey struct {
	file fileVersion
	pkg  string
	db   time.Time
}

type verdictCache struct {
	mu sync.Mutex
	m  map[verdictKey]packageVerdict // guarded by mu
}

func (c *verdictCache) get(ctx context.Context, db packageDB, paths []string, fi os.FileInfo, pkg string) packageVerdict {
	v, ok := versionOf(fi)
	if !ok {
		return db.rpmOwns(ctx, paths, pkg)
	}
	k := verdictKey{file: v, pkg: pkg}
	for _, p := range rpmDBPaths {
		if st, err := os.Stat(p); err == nil {
			k.db = st.ModTime()
			break
		}
	}
	c.mu.Lock()
	got, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return got
	}
	got = db.rpmOwns(ctx, paths, pkg)
	if !got.Known {
		return got // a failed run is asked again
	}
	c.mu.Lock()
	if len(c.m) >= 64 {
		clear(c.m)
	}
	c.m[k] = got
	c.mu.Unlock()
	return got
}

// packaged checks a trusted executable (trustedExecutable passed) against
// the package that must own it.
func packaged(ctx context.Context, db packageDB, path, pkg string) packageVerdict {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return packageVerdict{Reason: err.Error()}
	}
	f, err := os.Open(real)
	if err != nil {
		return packageVerdict{Reason: err.Error()}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return packageVerdict{Reason: err.Error()}
	}
	return db.owns(ctx, path, real, f, fi, pkg)
}
