package devicelogin

import (
	"bytes"
	"strings"
	"testing"
)

func TestNoDesktopNoBrowser(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	var out bytes.Buffer
	if err := Show(&out, Prompt{Page: "https://x/device", Code: "BCDF-GHJK"}, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "could not open a browser") {
		t.Errorf("Show without a desktop printed %q, want it to say no browser was opened", out.String())
	}
}
