// Package devicelogin is what both sign-in commands (`gatehouse login`,
// `gatehouse-agent login`) show the user of the device authorization
// grant: the page to open and the code to enter, and the page opened in
// the browser where there is a desktop. The page and the code come from
// the controller, so both are checked before they reach the terminal or a
// launcher: an http(s) URL and a code of printable ASCII, nothing else.
//
// Imported by cmd/gatehouse and cmd/gatehouse-agent.
package devicelogin

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os/exec"
)

// errNoDesktop: this host has no desktop to open a browser on.
var errNoDesktop = errors.New("no desktop session here")

// Prompt is one sign-in's page and code.
type Prompt struct {
	Page         string // verification_uri
	PageWithCode string // verification_uri_complete; may be empty
	Code         string // user_code
}

// Check refuses a page that is not an http(s) URL or a page or code with
// anything but printable ASCII (escape sequences, bidi overrides).
func (p Prompt) Check() error {
	for i, s := range []string{p.Page, p.PageWithCode} {
		if i == 1 && s == "" {
			continue // the page with the code is optional
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !printableASCII(s) {
			return fmt.Errorf("the controller sent a sign-in page that is not a plain http(s) URL (%q); check the controller URL", s)
		}
	}
	if p.Code == "" || !printableASCII(p.Code) {
		return fmt.Errorf("the controller sent a malformed sign-in code %q", p.Code)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Show writes the page and code to w and, when openBrowser is set and
// there is a desktop, opens the page (the one with the code in it when
// there is one). It says when the browser could not be opened.
func Show(w io.Writer, p Prompt, openBrowser bool) error {
	if err := p.Check(); err != nil {
		return err
	}
	fmt.Fprintf(w, "Open %s and enter code %s\n", p.Page, p.Code)
	if !openBrowser {
		return nil
	}
	page := p.Page
	if p.PageWithCode != "" {
		page = p.PageWithCode
	}
	if err := open(page); err != nil {
		fmt.Fprintf(w, "(could not open a browser: %v; open the page by hand, on any device)\n", err)
		return nil
	}
	fmt.Fprintln(w, "(opened in your browser)")
	return nil
}

// start runs a launcher without waiting for it; its exit is collected in
// the background.
func start(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
