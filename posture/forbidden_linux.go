package posture

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

const srcForbidden = "/proc/*/exe (path and sha256)"

// maxHashSize bounds the executables hashed: a user could otherwise run a
// huge sparse file and touch it every second to keep the agent hashing.
// A bigger one counts as unreadable (the spec is then unknown, failing
// closed) unless something else matches.
const maxHashSize = 1 << 30

// runningExe is one process's executable, opened through /proc/PID/exe
// (so a deleted or renamed file is still the file the process runs).
type runningExe struct {
	pid    int
	comm   string
	link   string // readlink /proc/PID/exe, " (deleted)" cut
	fi     os.FileInfo
	sha256 string // "" when not hashed (no asked size matched)
}

// forbiddenTarget is what one forbidden spec matches.
type forbiddenTarget struct {
	spec  api.SoftwareSpec
	paths []string    // the spec's path and where it leads
	file  os.FileInfo // the file at the path now, if any
	sums  []string    // SHA-256s that mark a forbidden executable
	size  int64       // the forbidden file's size when every sum's size is known, else -1
}

// forbiddenSoftware reports, for each forbidden spec, whether a running
// process executes it. A user can copy a forbidden program anywhere and
// rename it, so a path spec matches a process whose executable is at that
// path, is that very file, or has the SHA-256 of the file at that path (or
// the SHA-256 given); "sha256:HEX" matches by content alone; a name
// matches the process name (names are easy to change, so a name alone
// catches only the careless). A spec with no match while some process's
// executable could not be read is unknown.
func forbiddenSoftware(ctx context.Context, specs []string) map[string]api.BoolFact {
	return forbiddenIn(ctx, procRoot, specs)
}

// forbiddenIn is forbiddenSoftware over the proc tree at root.
func forbiddenIn(ctx context.Context, root string, specs []string) map[string]api.BoolFact {
	if len(specs) == 0 {
		return nil
	}
	out := make(map[string]api.BoolFact, len(specs))
	targets := make(map[string]forbiddenTarget)
	for _, spec := range specs {
		t, err := newForbiddenTarget(spec)
		if err != nil {
			out[spec] = unknownBool(srcForbidden, err.Error())
			continue
		}
		targets[spec] = t
	}
	if len(targets) == 0 {
		return out
	}
	exes, unreadable, err := runningExes(ctx, root, targets)
	for spec, t := range targets {
		switch e, how := t.match(exes); {
		case e != nil:
			out[spec] = api.BoolFact{Value: true, Known: true, Source: srcForbidden,
				Reason: fmt.Sprintf("process %d (%s, %s) runs it: %s", e.pid, e.comm, e.link, how)}
		case err != nil:
			out[spec] = unknownBool(srcForbidden, err.Error())
		case ctx.Err() != nil:
			out[spec] = unknownBool(srcForbidden, "the process list was cut short")
		case len(unreadable) > 0:
			out[spec] = unknownBool(srcForbidden, fmt.Sprintf("could not read the executable of processes %s (is the agent running as root?)", strings.Join(unreadable, ", ")))
		default:
			out[spec] = api.BoolFact{Known: true, Source: srcForbidden, Reason: "no running executable matches " + t.describe()}
		}
	}
	return out
}

func newForbiddenTarget(spec string) (forbiddenTarget, error) {
	s, err := api.ParseSoftware(spec)
	if err != nil {
		return forbiddenTarget{}, err
	}
	if s.Package != "" {
		return forbiddenTarget{}, fmt.Errorf("forbidden software %q: a package form means nothing here; give the path, path:sha256 or sha256:HEX", spec)
	}
	t := forbiddenTarget{spec: s, size: -1}
	if s.SHA256 != "" {
		t.sums = append(t.sums, s.SHA256)
	}
	if s.Path == "" {
		return t, nil
	}
	t.paths = []string{s.Path}
	if real, err := filepath.EvalSymlinks(s.Path); err == nil && real != s.Path {
		t.paths = append(t.paths, real)
	}
	f, err := os.Open(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil // not installed: its copies are caught by a given sha256 only
	}
	if err != nil {
		return forbiddenTarget{}, fmt.Errorf("forbidden software %s: %w", s.Path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return forbiddenTarget{}, fmt.Errorf("forbidden software %s: not a readable regular file", s.Path)
	}
	t.file = fi
	if fi.Size() > maxHashSize {
		return t, nil // matched by place only
	}
	sum, err := fileSums.of(f, fi)
	if err != nil {
		return forbiddenTarget{}, fmt.Errorf("forbidden software %s: %w", s.Path, err)
	}
	if s.SHA256 == "" || s.SHA256 == sum {
		t.size = fi.Size()
	}
	if s.SHA256 == "" {
		t.sums = append(t.sums, sum)
	}
	return t, nil
}

func (t forbiddenTarget) describe() string {
	var what []string
	if t.spec.Name != "" {
		what = append(what, "the name "+strconv.Quote(t.spec.Name))
	}
	if len(t.paths) > 0 {
		what = append(what, strings.Join(t.paths, " or "))
	}
	for _, s := range t.sums {
		what = append(what, "sha256 "+s)
	}
	return strings.Join(what, ", ")
}

// match returns the lowest-pid process that runs the target and how.
func (t forbiddenTarget) match(exes []runningExe) (*runningExe, string) {
	var found *runningExe
	var how string
	for i := range exes {
		e := &exes[i]
		if found != nil && e.pid > found.pid {
			continue
		}
		if h := t.matchOne(e); h != "" {
			found, how = e, h
		}
	}
	return found, how
}

func (t forbiddenTarget) matchOne(e *runningExe) string {
	switch {
	case t.spec.Name != "" && (e.comm == commName(t.spec.Name) || filepath.Base(e.link) == t.spec.Name):
		return "process name " + strconv.Quote(t.spec.Name)
	case t.file != nil && e.fi != nil && os.SameFile(t.file, e.fi):
		return "the very file " + t.spec.Path
	}
	for _, p := range t.paths {
		if e.link == p {
			return "executable path " + p
		}
	}
	for _, s := range t.sums {
		if e.sha256 == s {
			return "sha256 " + s + " (a copy, whatever its name or place)"
		}
	}
	return ""
}

// runningExes opens /proc/PID/exe of every process and hashes the files
// the targets could match: all of them when some target's size is not
// known, else only those of a matching size. unreadable names the live
// processes whose executable could not be read; kernel threads and
// processes gone meanwhile are skipped.
func runningExes(ctx context.Context, root string, targets map[string]forbiddenTarget) ([]runningExe, []string, error) {
	sizes := make(map[int64]bool)
	hashAll := false
	for _, t := range targets {
		if len(t.sums) == 0 {
			continue
		}
		if t.size < 0 {
			hashAll = true
		}
		sizes[t.size] = true
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, fmt.Errorf("could not list the running processes: %w", err)
	}
	var exes []runningExe
	var unreadable []string
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		dir := filepath.Join(root, ent.Name())
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		e := runningExe{pid: pid, comm: strings.TrimSpace(string(comm))}
		e.link, _ = os.Readlink(filepath.Join(dir, "exe"))
		e.link = strings.TrimSuffix(e.link, " (deleted)")
		f, err := os.Open(filepath.Join(dir, "exe"))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			if _, serr := os.Stat(dir); serr == nil {
				unreadable = append(unreadable, fmt.Sprintf("%d (%s)", pid, e.comm))
			}
			continue
		}
		e.fi, err = f.Stat()
		if err != nil {
			e.fi = nil
		} else if e.fi.Mode().IsRegular() && (hashAll || sizes[e.fi.Size()]) {
			if e.fi.Size() > maxHashSize {
				err = fmt.Errorf("larger than %d bytes", maxHashSize)
			} else {
				e.sha256, err = exeSums.of(f, e.fi)
			}
		}
		f.Close()
		if err != nil {
			// Its content is unknown; its path may still match.
			unreadable = append(unreadable, fmt.Sprintf("%d (%s)", pid, e.comm))
		}
		exes = append(exes, e)
	}
	return exes, unreadable, nil
}
