package posture

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// procRoot is where running processes are listed.
const procRoot = "/proc"

// runningSoftware reports, for each spec (/path[:sha256|:pkg=NAME]),
// whether a process runs the very file at that path (same device and inode
// as /proc/PID/exe), and that file is root-owned, not writable by group or
// others (nor its directories) and, when asked, has the given SHA-256 or
// belongs unmodified to the named package (package_linux.go). A
// copy of another program named like the required one is another file and
// does not count. Specs stay unknown when some process's executable could
// not be read and none matched.
func runningSoftware(ctx context.Context, specs []string) map[string]softwareVerdict {
	if len(specs) == 0 {
		return nil
	}
	out := make(map[string]softwareVerdict, len(specs))
	targets := make(map[string]os.FileInfo)
	for _, spec := range specs {
		s, err := api.ParseSoftware(spec)
		if err != nil || s.Path == "" {
			out[spec] = softwareVerdict{api.BoolFact{}, fmt.Sprintf("not an executable spec: %v", err)}
			continue
		}
		fi, why := trustedExecutable(s.Path, s.SHA256)
		if fi == nil {
			out[spec] = softwareVerdict{api.KnownBool(false), why}
			continue
		}
		if s.Package != "" {
			if v := packaged(ctx, realPackageDB(), s.Path, s.Package); !v.Owned {
				out[spec] = softwareVerdict{api.BoolFact{Known: v.Known}, v.Reason}
				continue
			}
		}
		targets[spec] = fi
	}
	if len(targets) == 0 {
		return out
	}
	pids, unreadable := executables(ctx)
	for spec, fi := range targets {
		path, _, _ := api.ParseSoftwareSpec(spec)
		pid, userPid := runningFile(pids, fi)
		switch {
		case pid > 0:
			out[spec] = softwareVerdict{api.KnownBool(true), fmt.Sprintf("process %d runs %s as root (root-owned, not writable by others)", pid, path)}
		case userPid > 0:
			out[spec] = softwareVerdict{api.KnownBool(false), fmt.Sprintf("process %d runs %s, but not as root (any user can start a root-owned program; required software runs as a root service)", userPid, path)}
		case ctx.Err() != nil:
			out[spec] = softwareVerdict{api.BoolFact{}, "the process list was cut short"}
		case unreadable[""] > 0:
			out[spec] = softwareVerdict{api.BoolFact{}, "could not list the running processes"}
		case unreadable[commName(path)] > 0:
			out[spec] = softwareVerdict{api.BoolFact{}, fmt.Sprintf("could not read the executable of %d processes named %q (is the agent running as root?)", unreadable[commName(path)], commName(path))}
		default:
			out[spec] = softwareVerdict{api.KnownBool(false), fmt.Sprintf("no running process executes %s (a process of the same name from another file does not count)", path)}
		}
	}
	return out
}

// trustedExecutable returns the file at path when it is one only root can
// change: a regular file owned by root, not writable by group or others,
// in directories owned by root and not writable by group or others
// (a sticky root directory such as /tmp is fine: others cannot replace
// root's entries there). sum, when set, must be its SHA-256. Otherwise
// it returns nil and why.
func trustedExecutable(path, sum string) (os.FileInfo, string) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", path, err)
	}
	for _, p := range append(parents(path), parents(real)...) {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Sprintf("%s: %v", p, err)
		}
		if why := rootOnly(p, fi, true); why != "" {
			return nil, why
		}
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Sprintf("%s is not a regular file", path)
	}
	if why := rootOnly(path, fi, false); why != "" {
		return nil, why
	}
	if sum != "" {
		got, err := fileSums.of(f, fi)
		if err != nil {
			return nil, fmt.Sprintf("%s: %v", path, err)
		}
		if got != sum {
			return nil, fmt.Sprintf("%s has sha256 %s, want %s (a different build or a modified file)", path, got, sum)
		}
	}
	return fi, ""
}

// fileSums remembers the SHA-256 of the executables checked, so a report
// (about once a second) does not read a large binary again while it is
// unchanged. The key is the file's identity and change time: the file is
// root-only (checked first), and only root can change it, which moves its
// ctime, which no one can set back. (A forbidden program's file, hashed
// here too, may be anyone's: any write still moves its ctime.)
var fileSums = newSumCache(sha256.New, 64) // a profile names a handful of files

// exeSums remembers the SHA-256 of every running executable the forbidden
// software check hashed; a desktop runs a few hundred distinct ones. Any
// user can write such a file, but not without moving its change time.
var exeSums = newSumCache(sha256.New, 2048)

// md5Sums remembers the MD5 of packaged executables (dpkg's md5sums).
var md5Sums = newSumCache(md5.New, 64)

func newSumCache(h func() hash.Hash, max int) *sumCache {
	return &sumCache{newHash: h, max: max, sums: map[fileVersion]string{}}
}

type fileVersion struct {
	dev, ino            uint64
	size                int64
	ctimeSec, ctimeNsec int64
}

// versionOf names this version of a file: its identity, size and change
// time.
func versionOf(fi os.FileInfo) (fileVersion, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileVersion{}, false
	}
	return fileVersion{dev: uint64(st.Dev), ino: st.Ino, size: fi.Size(), ctimeSec: int64(st.Ctim.Sec), ctimeNsec: int64(st.Ctim.Nsec)}, true
}

type sumCache struct {
	newHash func() hash.Hash
	max     int // entries; the cache is emptied when full

	mu   sync.Mutex
	sums map[fileVersion]string // guarded by mu
}

// of returns the hex digest of f (whose Stat is fi), from the cache when
// this version of the file was hashed before.
func (c *sumCache) of(f *os.File, fi os.FileInfo) (string, error) {
	v, ok := versionOf(fi)
	if !ok {
		return "", errors.New("cannot read its inode")
	}
	c.mu.Lock()
	sum, ok := c.sums[v]
	c.mu.Unlock()
	if ok {
		return sum, nil
	}
	h := c.newHash()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	if len(c.sums) >= c.max {
		clear(c.sums)
	}
	c.sums[v] = sum
	c.mu.Unlock()
	return sum, nil
}

// rootOnly says why a file or directory could be changed by someone other
// than root, or "" when it cannot.
func rootOnly(path string, fi os.FileInfo, dir bool) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Sprintf("%s: cannot read its owner", path)
	}
	if st.Uid != 0 {
		return fmt.Sprintf("%s is owned by uid %d, not root", path, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 && !(dir && fi.Mode()&fs.ModeSticky != 0) {
		return fmt.Sprintf("%s is writable by group or others (mode %v)", path, fi.Mode())
	}
	return ""
}

// parents lists the directories above path, from / down.
func parents(path string) []string {
	var ds []string
	for d := filepath.Dir(path); ; d = filepath.Dir(d) {
		ds = append([]string{d}, ds...)
		if d == "/" || d == "." {
			return ds
		}
	}
}

// commName is the name the kernel gives a process that execs path: the
// file name, cut to 15 bytes.
func commName(path string) string {
	n := filepath.Base(path)
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// executables stats /proc/PID/exe of every process: the file each one
// runs. unreadable counts, by process name, live processes whose
// executable could not be read (permission; a process of another name is
// not running the asked file under its own name, and a renamed one fails
// closed as not running); kernel threads and processes gone meanwhile
// are skipped.
func executables(ctx context.Context) (map[int]os.FileInfo, map[string]int) {
	unreadable := make(map[string]int)
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		unreadable[""] = 1 // the whole list: every name counts
		return nil, unreadable
	}
	out := make(map[int]os.FileInfo)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || ctx.Err() != nil {
			continue
		}
		fi, err := os.Stat(filepath.Join(procRoot, e.Name(), "exe"))
		switch {
		case err == nil:
			out[pid] = fi
		case errors.Is(err, fs.ErrNotExist):
		default:
			comm, _ := os.ReadFile(filepath.Join(procRoot, e.Name(), "comm"))
			unreadable[strings.TrimSpace(string(comm))]++
		}
	}
	return out, unreadable
}

// runningFile returns the lowest pid running the file fi as root (real
// and effective user ID 0, from /proc/PID/status: a process's /proc
// directory can show root as its owner for a user's process that made
// itself non-dumpable), or 0; and, when none does, the lowest pid
// running it as someone else, or 0. The lowest, so the reason naming it
// stays the same from one report to the next (the agent sends a report
// when anything in it changes).
func runningFile(pids map[int]os.FileInfo, fi os.FileInfo) (root, other int) {
	lowest := func(cur, pid int) int {
		if cur == 0 || pid < cur {
			return pid
		}
		return cur
	}
	for pid, exe := range pids {
		if !os.SameFile(exe, fi) {
			continue
		}
		if runsAsRoot(pid) {
			root = lowest(root, pid)
		} else {
			other = lowest(other, pid)
		}
	}
	return root, other
}

// runsAsRoot reports whether process pid's real and effective user IDs
// are both 0 (the "Uid:" line of /proc/PID/status: real, effective,
// saved, filesystem). Unreadable counts as not.
func runsAsRoot(pid int) bool {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			f := strings.Fields(rest)
			return len(f) >= 2 && f[0] == "0" && f[1] == "0"
		}
	}
	return false
}
