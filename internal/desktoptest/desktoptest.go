// Package desktoptest is a user's desktop session for tests of the tray:
// a virtual X display (Debian's Xvfb) whose screen can be read back, a
// session bus of its own (nothing on it plays a tray host), a runtime dir
// and a home; and what a test measures of a running process (CPU, wake-ups,
// RSS). Imported by tests only (cmd/gatehouse-tray's and e2e).
package desktoptest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-ztna/gatehouse/internal/testenv"
)

// Desktop is a running session: Env is what a program started in it needs.
type Desktop struct {
	Display, Bus, Home string
	Env                []string
	fb                 string
}

// New starts a desktop that ends with the test; dir holds its runtime
// dir, home and screen file.
func New(t testing.TB, dir string) *Desktop {
	t.Helper()
	for _, tool := range []string{"Xvfb", "xwininfo", "dbus-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, tool+" is not installed (Debian: xvfb, x11-utils, dbus-daemon)")
		}
	}
	d := &Desktop{Home: filepath.Join(dir, "home"), fb: filepath.Join(dir, "fb")}
	if err := os.Mkdir(d.fb, 0o700); err != nil {
		t.Fatal(err)
	}
	d.Display, d.Bus = startXvfb(t, d.fb), startBus(t)
	d.Env = append(os.Environ(), "DISPLAY="+d.Display, "DBUS_SESSION_BUS_ADDRESS="+d.Bus,
		"XDG_RUNTIME_DIR="+dir, "HOME="+d.Home, "XDG_CONFIG_HOME="+filepath.Join(d.Home, ".config"), "WAYLAND_DISPLAY=")
	return d
}

// HasWindow reports whether a window titled title is on the display.
func (d *Desktop) HasWindow(title string) bool {
	out, _ := exec.Command("xwininfo", "-display", d.Display, "-root", "-tree").Output()
	return bytes.Contains(out, []byte(fmt.Sprintf("%q", title)))
}

// Windows lists the titles of the display's windows (xwininfo's tree).
func (d *Desktop) Windows() string {
	out, _ := exec.Command("xwininfo", "-display", d.Display, "-root", "-tree").Output()
	return string(out)
}

// Screen is what the display shows now.
func (d *Desktop) Screen() (image.Image, error) {
	return readXWD(filepath.Join(d.fb, "Xvfb_screen0"))
}

// startXvfb starts a virtual display (the first free one, -displayfd)
// keeping its screen as an XWD file in fb.
func startXvfb(t testing.TB, fb string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	x := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "800x600x24", "-fbdir", fb, "-nolisten", "tcp")
	x.ExtraFiles = []*os.File{w}
	if err := x.Start(); err != nil {
		t.Fatalf("starting Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { _ = x.Process.Kill(); _ = x.Wait() })
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatalf("Xvfb named no display: %v", err)
	}
	return ":" + strings.TrimSpace(line)
}

// startBus starts a session bus of the test's own: nothing on it plays a
// tray host.
func startBus(t testing.TB) string {
	t.Helper()
	d := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address")
	out, err := d.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("starting dbus-daemon: %v", err)
	}
	t.Cleanup(func() { _ = d.Process.Kill(); _ = d.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// readXWD decodes the 24/32-bit TrueColor XWD file Xvfb keeps its screen
// in (-fbdir).
func readXWD(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 100 {
		return nil, errors.New("short XWD header")
	}
	var order binary.ByteOrder = binary.BigEndian
	if order.Uint32(data[4:]) != 7 { // file_version
		order = binary.LittleEndian
	}
	field := func(i int) int { return int(order.Uint32(data[4*i:])) }
	headerSize, width, height, byteOrder := field(0), field(4), field(5), field(7)
	bpp, stride, ncolors := field(11), field(12), field(19)
	if field(1) != 7 || bpp != 32 {
		return nil, fmt.Errorf("XWD version %d, %d bits per pixel: want version 7, 32 bits", field(1), bpp)
	}
	off := headerSize + 12*ncolors
	if len(data) < off+stride*height {
		return nil, errors.New("short XWD pixels")
	}
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	for y := 0; y < height; y++ {
		for x := 0; x < width; x++ {
			p := data[off+y*stride+4*x:]
			var v uint32
			if byteOrder == 0 { // LSBFirst
				v = binary.LittleEndian.Uint32(p)
			} else {
				v = binary.BigEndian.Uint32(p)
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 0xff})
		}
	}
	return img, nil
}

// Colours counts the colours of every other pixel: a drawn window has
// many, a blank one few.
func Colours(img image.Image) int {
	seen := map[color.Color]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			seen[img.At(x, y)] = true
		}
	}
	return len(seen)
}

// SavePNG writes img to path, making its directory.
func SavePNG(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// BusOnly is a desktop with a session bus and nothing else (no display):
// for tests of what talks D-Bus alone (the tray host, notifications).
func BusOnly(t testing.TB) *Desktop {
	t.Helper()
	if _, err := exec.LookPath("dbus-daemon"); err != nil {
		testenv.SkipOrFail(t, "dbus-daemon is not installed (Debian: dbus-daemon)")
	}
	d := &Desktop{Bus: startBus(t)}
	d.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+d.Bus)
	return d
}
