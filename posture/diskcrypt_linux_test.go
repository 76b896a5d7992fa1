package posture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func TestParseMountinfoLine(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   mount
		wantOK bool
	}{
		{
			name:   "proc(5) example with optional field",
			in:     "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
			want:   mount{Major: 98, Minor: 0, MountPoint: "/mnt2", FSType: "ext3", Source: "/dev/root"},
			wantOK: true,
		},
		{
			name:   "root without optional fields",
			in:     "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
			want:   mount{Major: 254, Minor: 0, MountPoint: "/", FSType: "ext4", Source: "/dev/vda"},
			wantOK: true,
		},
		{
			name:   "several optional fields",
			in:     "29 1 0:26 /@ / rw,relatime shared:1 master:2 propagate_from:3 - btrfs /dev/mapper/luks-1 rw,ssd",
			want:   mount{Major: 0, Minor: 26, MountPoint: "/", FSType: "btrfs", Source: "/dev/mapper/luks-1"},
			wantOK: true,
		},
		{
			name:   "escaped space",
			in:     `40 27 8:17 / /media/my\040disk rw - vfat /dev/sdb1 rw`,
			want:   mount{Major: 8, Minor: 17, MountPoint: "/media/my disk", FSType: "vfat", Source: "/dev/sdb1"},
			wantOK: true,
		},
		{name: "no separator", in: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw"},
		{name: "bad device number", in: "36 35 98 / / rw - ext3 /dev/root rw"},
		{name: "short", in: "36 35 98:0 /"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseMountinfoLine(tt.in)
			if ok != tt.wantOK || (ok && got != tt.want) {
				t.Errorf("parseMountinfoLine(%q) = %+v, %v, want %+v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRootMount(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   string // source of the root mount
		wantOK bool
	}{
		{
			name: "plain",
			in: "22 27 0:21 / /proc rw,relatime - proc proc rw\n" +
				"27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n",
			want:   "/dev/vda",
			wantOK: true,
		},
		{
			name: "later mount stacks over earlier",
			in: "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n" +
				"2 1 0:50 / / rw - overlay overlay rw,lowerdir=/a\n",
			want:   "overlay",
			wantOK: true,
		},
		{name: "no root", in: "22 27 0:21 / /proc rw,relatime - proc proc rw\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := rootMount(strings.NewReader(tt.in))
			if ok != tt.wantOK || got.Source != tt.want {
				t.Errorf("rootMount(%q) = %q, %v, want %q, %v", tt.in, got.Source, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// fakeDev is one block device in a fake sysfs tree.
type fakeDev struct {
	name   string
	devnum string   // "253:0"; empty for none
	parent string   // a partition's disk
	dmUUID string   // set for device-mapper devices
	slaves []string // devices it is built on
	loop   bool
}

// fakeSysfs lays devices out the way the kernel does: real directories
// under devices/, partitions nested in their disk, class/block and
// dev/block symlinks to them.
func fakeSysfs(t *testing.T, devs ...fakeDev) string {
	t.Helper()
	root := t.TempDir()
	mkdir := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	symlink := func(target, link string) {
		mkdir(filepath.Dir(link))
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range devs {
		real := filepath.Join(root, "devices", "pci0000:00", "block", d.name)
		if d.dmUUID != "" || d.loop {
			real = filepath.Join(root, "devices", "virtual", "block", d.name)
		}
		if d.parent != "" {
			real = filepath.Join(root, "devices", "pci0000:00", "block", d.parent, d.name)
		}
		mkdir(real)
		if d.parent != "" {
			write(filepath.Join(real, "partition"), "2\n")
		} else {
			mkdir(filepath.Join(real, "slaves"))
		}
		for _, s := range d.slaves {
			write(filepath.Join(real, "slaves", s), "")
		}
		if d.dmUUID != "" {
			mkdir(filepath.Join(real, "dm"))
			write(filepath.Join(real, "dm", "uuid"), d.dmUUID+"\n")
		}
		if d.loop {
			mkdir(filepath.Join(real, "loop"))
		}
		symlink(real, filepath.Join(root, "class", "block", d.name))
		if d.devnum != "" {
			symlink(real, filepath.Join(root, "dev", "block", d.devnum))
		}
	}
	return root
}

func TestDMCrypt(t *testing.T) {
	unknown := api.BoolFact{}
	yes, no := api.KnownBool(true), api.KnownBool(false)
	sda := fakeDev{name: "sda"}
	sda2 := fakeDev{name: "sda2", parent: "sda"}
	sdb := fakeDev{name: "sdb"}
	sdb1 := fakeDev{name: "sdb1", parent: "sdb"}
	luks := fakeDev{name: "dm-0", dmUUID: "CRYPT-LUKS2-0123-luks", slaves: []string{"sda2"}}
	tests := []struct {
		name string
		devs []fakeDev
		in   string
		want api.BoolFact
	}{
		{name: "plain disk", devs: []fakeDev{{name: "vda"}}, in: "vda", want: no},
		{name: "plain partition", devs: []fakeDev{sda, sda2}, in: "sda2", want: no},
		{name: "luks on partition", devs: []fakeDev{sda, sda2, luks}, in: "dm-0", want: yes},
		{
			name: "lvm on luks",
			devs: []fakeDev{sda, sda2, luks, {name: "dm-1", dmUUID: "LVM-abc", slaves: []string{"dm-0"}}},
			in:   "dm-1", want: yes,
		},
		{
			name: "luks on lvm",
			devs: []fakeDev{sda, sda2,
				{name: "dm-0", dmUUID: "LVM-abc", slaves: []string{"sda2"}},
				{name: "dm-1", dmUUID: "CRYPT-LUKS2-1-root", slaves: []string{"dm-0"}}},
			in: "dm-1", want: yes,
		},
		{
			name: "lvm on plain partition",
			devs: []fakeDev{sda, sda2, {name: "dm-0", dmUUID: "LVM-abc", slaves: []string{"sda2"}}},
			in:   "dm-0", want: no,
		},
		{
			name: "lvm over one encrypted and one plain disk",
			devs: []fakeDev{sda, sda2, luks, sdb, sdb1,
				{name: "dm-1", dmUUID: "LVM-abc", slaves: []string{"dm-0", "sdb1"}}},
			in: "dm-1", want: no,
		},
		{
			name: "lvm over two encrypted disks",
			devs: []fakeDev{sda, sda2, luks, sdb, sdb1,
				{name: "dm-1", dmUUID: "CRYPT-PLAIN-x", slaves: []string{"sdb1"}},
				{name: "dm-2", dmUUID: "LVM-abc", slaves: []string{"dm-0", "dm-1"}}},
			in: "dm-2", want: yes,
		},
		{
			name: "partition of raid on encrypted disks",
			devs: []fakeDev{sda, sda2, luks, sdb, sdb1,
				{name: "dm-1", dmUUID: "CRYPT-LUKS2-2", slaves: []string{"sdb1"}},
				{name: "md0", slaves: []string{"dm-0", "dm-1"}},
				{name: "md0p1", parent: "md0"}},
			in: "md0p1", want: yes,
		},
		{name: "loop device", devs: []fakeDev{{name: "loop0", loop: true}}, in: "loop0", want: unknown},
		{
			name: "lvm over encrypted disk and loop",
			devs: []fakeDev{sda, sda2, luks, {name: "loop0", loop: true},
				{name: "dm-1", dmUUID: "LVM-abc", slaves: []string{"dm-0", "loop0"}}},
			in: "dm-1", want: unknown,
		},
		{name: "dm device on nothing", devs: []fakeDev{{name: "dm-0", dmUUID: "LVM-abc"}}, in: "dm-0", want: unknown},
		{name: "missing device", devs: []fakeDev{sda}, in: "nvme0n1", want: unknown},
		{name: "slave missing from sysfs", devs: []fakeDev{{name: "dm-0", dmUUID: "LVM-abc", slaves: []string{"sdz"}}}, in: "dm-0", want: unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sysfs := fakeSysfs(t, tt.devs...)
			if got := dmCrypt(sysfs, tt.in); got != tt.want {
				t.Errorf("dmCrypt(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDMCryptUnreadableDM(t *testing.T) {
	sysfs := fakeSysfs(t, fakeDev{name: "sda"}, fakeDev{name: "dm-0", dmUUID: "CRYPT-LUKS2-1", slaves: []string{"sda"}})
	// A dm directory without a readable uuid cannot be classified.
	if err := os.Remove(filepath.Join(sysfs, "class", "block", "dm-0", "dm", "uuid")); err != nil {
		t.Fatal(err)
	}
	if got, want := dmCrypt(sysfs, "dm-0"), (api.BoolFact{}); got != want {
		t.Errorf("dmCrypt(%q) = %+v, want %+v", "dm-0", got, want)
	}
}

func TestRootDiskEncryption(t *testing.T) {
	sysfs := fakeSysfs(t,
		fakeDev{name: "vda", devnum: "254:0"},
		fakeDev{name: "nvme0n1"},
		fakeDev{name: "nvme0n1p2", parent: "nvme0n1", devnum: "259:2"},
		fakeDev{name: "dm-0", devnum: "253:0", dmUUID: "CRYPT-LUKS2-77-luks", slaves: []string{"nvme0n1p2"}},
	)
	dev := t.TempDir()
	if err := os.WriteFile(filepath.Join(dev, "dm-0"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dev, "mapper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../dm-0", filepath.Join(dev, "mapper", "luks-77")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string // mountinfo; "" for a missing file
		want api.BoolFact
	}{
		{name: "ext4 on plain disk", in: "27 1 254:0 / / rw - ext4 /dev/vda rw\n", want: api.KnownBool(false)},
		{name: "ext4 on luks", in: "27 1 253:0 / / rw - ext4 /dev/mapper/luks-77 rw\n", want: api.KnownBool(true)},
		{name: "btrfs on luks, anonymous device number", in: "27 1 0:35 /@ / rw - btrfs /dev/mapper/luks-77 rw\n", want: api.KnownBool(true)},
		{name: "plain partition", in: "27 1 259:2 / / rw - xfs /dev/nvme0n1p2 rw\n", want: api.KnownBool(false)},
		{name: "container overlay", in: "500 400 0:52 / / rw - overlay overlay rw,lowerdir=/l\n", want: api.BoolFact{}},
		{name: "zfs", in: "27 1 0:24 / / rw - zfs rpool/ROOT/ubuntu rw\n", want: api.BoolFact{}},
		{name: "device not in sysfs", in: "27 1 8:1 / / rw - ext4 /dev/sda1 rw\n", want: api.BoolFact{}},
		{name: "no root mount", in: "22 27 0:21 / /proc rw - proc proc rw\n", want: api.BoolFact{}},
		{name: "missing mountinfo", in: "", want: api.BoolFact{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mountinfo := filepath.Join(t.TempDir(), "mountinfo")
			if tt.in != "" {
				if err := os.WriteFile(mountinfo, []byte(tt.in), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := rootDiskEncryption(mountinfo, sysfs, dev); got != tt.want {
				t.Errorf("rootDiskEncryption(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
