package posture

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// mount is one line of /proc/<pid>/mountinfo, the parts we need.
type mount struct {
	Major, Minor int
	MountPoint   string
	FSType       string
	Source       string
}

// rootDiskEncryption says whether the root volume sits on dm-crypt. It is
// unknown whenever the stack below / cannot be followed to real block
// devices: overlay and other container roots, ZFS, network filesystems,
// loop files, unreadable sysfs.
func rootDiskEncryption(mountinfo, sysfs, dev string) api.BoolFact {
	f, err := os.Open(mountinfo)
	if err != nil {
		return api.BoolFact{}
	}
	defer f.Close()
	root, ok := rootMount(f)
	if !ok {
		return api.BoolFact{}
	}
	name, ok := blockDevice(root, sysfs, dev)
	if !ok {
		return api.BoolFact{}
	}
	return dmCrypt(sysfs, name)
}

// rootMount returns the mount that is visible at /: the last one listed,
// since later mounts stack over earlier ones.
func rootMount(mountinfo io.Reader) (mount, bool) {
	var root mount
	found := false
	sc := bufio.NewScanner(mountinfo)
	for sc.Scan() {
		m, ok := parseMountinfoLine(sc.Text())
		if ok && m.MountPoint == "/" {
			root, found = m, true
		}
	}
	return root, found && sc.Err() == nil
}

// parseMountinfoLine parses a line of proc(5) mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// A variable number of optional fields precede the "-" separator.
func parseMountinfoLine(line string) (mount, bool) {
	fields := strings.Fields(line)
	if len(fields) < 7 {
		return mount{}, false
	}
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+2 >= len(fields) {
		return mount{}, false
	}
	maj, min, ok := strings.Cut(fields[2], ":")
	if !ok {
		return mount{}, false
	}
	major, err1 := strconv.Atoi(maj)
	minor, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil {
		return mount{}, false
	}
	return mount{
		Major:      major,
		Minor:      minor,
		MountPoint: unescapeMountinfo(fields[4]),
		FSType:     fields[sep+1],
		Source:     unescapeMountinfo(fields[sep+2]),
	}, true
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// blockDevice finds the sysfs name (vda, nvme0n1p2, dm-0) of the block
// device behind a mount. A real block device shows its number in
// mountinfo; btrfs shows an anonymous 0:N, so its source path is followed
// instead (/dev/mapper/luks-… → /dev/dm-0).
func blockDevice(m mount, sysfs, dev string) (string, bool) {
	if m.Major != 0 {
		link := filepath.Join(sysfs, "dev", "block", strconv.Itoa(m.Major)+":"+strconv.Itoa(m.Minor))
		target, err := os.Readlink(link)
		if err != nil {
			return "", false
		}
		return filepath.Base(target), true
	}
	rel, ok := strings.CutPrefix(m.Source, "/dev/")
	if !ok || rel == "" {
		return "", false // overlay, tmpfs, zfs datasets, network filesystems
	}
	path, err := filepath.EvalSymlinks(filepath.Join(dev, rel))
	if err != nil {
		return "", false
	}
	name := filepath.Base(path)
	if _, err := os.Stat(filepath.Join(sysfs, "class", "block", name)); err != nil {
		return "", false
	}
	return name, true
}

// maxStackDepth bounds the walk down a device stack; real stacks
// (crypt on LVM on RAID on a partition) are a handful of layers.
const maxStackDepth = 16

// dmCrypt says whether block device name is encrypted with dm-crypt: it
// is a dm-crypt mapping itself, or every device it is built on is.
// ("Every", not "any": an LVM volume spanning one encrypted and one plain
// disk keeps part of the root volume in plain text.)
func dmCrypt(sysfs, name string) api.BoolFact {
	return dmCryptDepth(sysfs, name, 0)
}

func dmCryptDepth(sysfs, name string, depth int) api.BoolFact {
	if depth > maxStackDepth || name == "" {
		return api.BoolFact{}
	}
	dir := filepath.Join(sysfs, "class", "block", name)
	if _, err := os.Stat(dir); err != nil {
		return api.BoolFact{}
	}
	if exists(filepath.Join(dir, "loop")) {
		// A loop device is as encrypted as the filesystem holding its
		// backing file; we do not follow files.
		return api.BoolFact{}
	}
	uuid, err := os.ReadFile(filepath.Join(dir, "dm", "uuid"))
	isDM := err == nil
	if err != nil && exists(filepath.Join(dir, "dm")) {
		return api.BoolFact{} // a dm device we cannot read
	}
	if isDM && strings.HasPrefix(strings.TrimSpace(string(uuid)), "CRYPT-") {
		return api.KnownBool(true)
	}
	if exists(filepath.Join(dir, "partition")) {
		// A partition is built on its parent device (sda for sda2, md0
		// for md0p1): sysfs nests the partition inside it.
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return api.BoolFact{}
		}
		return dmCryptDepth(sysfs, filepath.Base(filepath.Dir(real)), depth+1)
	}
	slaves, err := os.ReadDir(filepath.Join(dir, "slaves"))
	if err != nil && (isDM || !os.IsNotExist(err)) {
		return api.BoolFact{}
	}
	if len(slaves) == 0 {
		if isDM {
			return api.BoolFact{} // a mapping on nothing we can see
		}
		return api.KnownBool(false) // a plain disk
	}
	result := api.KnownBool(true)
	for _, s := range slaves {
		f := dmCryptDepth(sysfs, s.Name(), depth+1)
		switch {
		case f.Known && !f.Value:
			return f // one plain layer is enough to say no
		case !f.Known:
			result = api.BoolFact{}
		}
	}
	return result
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
