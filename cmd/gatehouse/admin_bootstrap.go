package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse-ztna/gatehouse/api"
)

func bootstrapCmd() *cobra.Command {
	var user, email, pwFile, ttl string
	cmd := &cobra.Command{
		Use:   "bootstrap --user NAME",
		Short: "Create the first owner with the controller's bootstrap token (once)",
		Long: `Create the first owner: a user with a password and the owner role, and an
owner API token to administer with. Only the bootstrap token the controller
made on its first start may do this, once; it is spent afterwards.

The password is read from --password-file, else asked for on the terminal
(or read as one line from stdin). When the bootstrap token came from
--admin-token-file (or GATEHOUSE_ADMIN_TOKEN_FILE), the owner's API token
replaces it in that file (0600), so the same setting keeps working;
otherwise the token is printed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return fmt.Errorf("name the first owner: --user NAME")
			}
			tokenTTL, err := parseTTL(ttl)
			if err != nil {
				return err
			}
			_, file, err := adminToken(cmd)
			if err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd, pwFile, "password for "+user)
			if err != nil {
				return err
			}
			var tmp *os.File
			if file != "" { // make sure the file can be replaced before the token is spent
				if tmp, err = os.CreateTemp(filepath.Dir(file), ".admin-token-*"); err != nil {
					return fmt.Errorf("cannot write next to %s, so nothing was done: %w", file, err)
				}
				defer os.Remove(tmp.Name())
			}
			res, err := c.Bootstrap(cmd.Context(), api.BootstrapRequest{User: user, Password: pw, Email: email, TokenTTL: api.Duration(tokenTTL)})
			if err != nil {
				if tmp != nil {
					tmp.Close()
				}
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "first owner %s created; the bootstrap token is spent\n", res.User)
			if tmp != nil {
				if err := writeTokenFile(tmp, file, res.Token.Token); err != nil {
					fmt.Fprintf(out, "%s\n(the owner's API token; store it now)\n", res.Token.Token)
					return fmt.Errorf("writing the owner's API token to %s failed: %w; it is printed above", file, err)
				}
				fmt.Fprintf(out, "owner API token %q (expires %s) written to %s in place of the bootstrap token\n",
					res.Token.Name, res.Token.ExpiresAt.Local().Format(time.RFC1123), file)
				return nil
			}
			fmt.Fprintf(out, "%s\n(the owner's API token %q, shown once, expires %s: pass it with GATEHOUSE_ADMIN_TOKEN or --admin-token-file)\n",
				res.Token.Token, res.Token.Name, res.Token.ExpiresAt.Local().Format(time.RFC1123))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&user, "user", "", "the first owner's user name (made if missing)")
	f.StringVar(&email, "email", "", "the first owner's email address")
	f.StringVar(&pwFile, "password-file", "", "file holding the owner's password (else asked for)")
	f.StringVar(&ttl, "token-ttl", "30d", "lifetime of the owner's first API token (e.g. 30d, 12h)")
	return cmd
}

// readPassword reads a password from file, else from the terminal (asked
// twice, not echoed), else as one line of stdin.
func readPassword(cmd *cobra.Command, file, what string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read --password-file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: ", prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			return string(b), err
		}
		pw, err := ask(what)
		if err != nil {
			return "", err
		}
		again, err := ask("again")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", fmt.Errorf("the two passwords differ: nothing was changed, try again")
		}
		return pw, nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	if line = strings.TrimRight(line, "\r\n"); line == "" {
		return "", fmt.Errorf("no password: give --password-file, type it on a terminal, or pipe it on stdin")
	}
	return line, nil
}

// parseTTL is time.ParseDuration that also takes whole days ("30d").
func parseTTL(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("lifetime %q: give whole days like 30d, or a duration like 12h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("lifetime %q: give whole days like 30d, or a duration like 12h", s)
	}
	return d, nil
}
