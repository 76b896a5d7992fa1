// Package enrollflags is what the enroll commands share
// (`gatehouse-agent enroll`, `gatehouse-gateway enroll`, and
// `gatehouse-agent login`, which enrolls by signing in): the flags that
// name the controller, the single-use token (--token, or --token-file to
// keep it out of ps; not for a sign-in) and the controller's CA, and the
// check that what is needed was given. It knows no kind of credential: a
// device's token goes on to agent.Enroll and a gateway's to link.Enroll,
// each spent at its own path with its own request type (see wire).
//
// Imported by cmd/gatehouse-agent and cmd/gatehouse-gateway.
package enrollflags

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Flags are an enroll command's inputs.
type Flags struct {
	Controller string // --controller: the controller's URL
	CAFile     string // --ca: the controller's CA (PEM); empty for the system roots
	token      string // --token
	tokenFile  string // --token-file, read instead of --token when given
}

// Add registers the flags on cmd; token names the kind of token in the
// help ("enrollment token", "gateway token").
func Add(cmd *cobra.Command, token string) *Flags {
	f := AddController(cmd)
	fs := cmd.Flags()
	fs.StringVar(&f.token, "token", "", "single-use "+token+" from your admin (visible in ps; prefer --token-file)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the "+token)
	return f
}

// AddController registers only --controller and --ca: an enrollment by
// signing in needs no token.
func AddController(cmd *cobra.Command) *Flags {
	f := &Flags{}
	fs := cmd.Flags()
	fs.StringVar(&f.Controller, "controller", "", "controller URL, e.g. https://gatehouse.example.com:8443")
	fs.StringVar(&f.CAFile, "ca", "", "controller CA certificate (PEM) to trust instead of the system roots")
	return f
}

// NeedController fails without --controller; the error ends with where.
func (f *Flags) NeedController(where string) error {
	if f.Controller == "" {
		return fmt.Errorf("--controller is needed; %s", where)
	}
	return nil
}

// Token is the token given, from --token-file (trimmed) when set, else
// from --token. Without a controller or a token it fails, and the error
// ends with where, how to get one.
func (f *Flags) Token(where string) (string, error) {
	tok := f.token
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return "", fmt.Errorf("read --token-file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if f.Controller == "" || tok == "" {
		return "", fmt.Errorf("both --controller and --token (or --token-file) are needed; %s", where)
	}
	return tok, nil
}

// CAPEM reads --ca; nil when it is not given.
func (f *Flags) CAPEM() ([]byte, error) {
	if f.CAFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read --ca: %w", err)
	}
	return b, nil
}
