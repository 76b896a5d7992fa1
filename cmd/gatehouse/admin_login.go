package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/internal/devicelogin"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// `gatehouse admin login|logout` (docs/identity.md "Admins"): a person
// signs the CLI in through the device flow as api.ClientAdmin with the
// CLI's own Ed25519 key; the session is bound to that key, and every
// admin request carries its proof (api/adminclient's Session). The key
// and the tokens live in the OS keyring, or 0600 files under the user's
// config dir where there is none — one key and session per controller.

// Keystore entries of the admin CLI.
const (
	adminKeyName    = "admin-cli-key"
	adminTokensName = "admin-session"
)

// hostnameShown is a hostname the controller takes (its device rule).
var hostnameShown = regexp.MustCompile(`^[A-Za-z0-9._-]{1,253}$`)

// adminStore is where the admin CLI keeps its key and session for the
// controller at base.
func adminStore(base string) (keystore.Store, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return nil, fmt.Errorf("find the user's config dir for the admin CLI's key: %w", err)
	}
	h := sha256.Sum256([]byte(base))
	return keystore.Open("gatehouse-admin "+base, filepath.Join(dir, "gatehouse", "admin", hex.EncodeToString(h[:8]))), nil
}

// adminKey loads the admin CLI's key from st, or makes and stores one.
func adminKey(st keystore.Store) (ed25519.PrivateKey, error) {
	b, err := st.Get(adminKeyName)
	if err == nil && len(b) == ed25519.PrivateKeySize {
		return ed25519.PrivateKey(b), nil
	}
	if err == nil {
		return nil, fmt.Errorf("the admin CLI's key in %s is corrupt: run gatehouse admin logout, then login", st.Where())
	}
	if !errors.Is(err, keystore.ErrNotFound) {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	return key, st.Set(adminKeyName, key)
}

// loadAdminSession reads the stored session's tokens; keystore.ErrNotFound
// when none is.
func loadAdminSession(st keystore.Store) (adminclient.SessionTokens, error) {
	var t adminclient.SessionTokens
	b, err := st.Get(adminTokensName)
	if err != nil {
		return t, err
	}
	if json.Unmarshal(b, &t) != nil || t.Access == "" || t.Refresh == "" {
		return adminclient.SessionTokens{}, fmt.Errorf("the admin session in %s is corrupt: run gatehouse admin login", st.Where())
	}
	return t, nil
}

func saveAdminSession(st keystore.Store, t adminclient.SessionTokens) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return st.Set(adminTokensName, b)
}

// adminSessionClient is the client of the session stored for base;
// keystore.ErrNotFound when nobody signed in.
func adminSessionClient(base string, caPEM []byte) (*adminclient.Client, error) {
	st, err := adminStore(base)
	if err != nil {
		return nil, err
	}
	tokens, err := loadAdminSession(st)
	if err != nil {
		return nil, err
	}
	key, err := adminKey(st)
	if err != nil {
		return nil, err
	}
	s := adminclient.NewSession(key, tokens, func(t adminclient.SessionTokens) error { return saveAdminSession(st, t) })
	return adminclient.NewWithSession(base, caPEM, s)
}

// adminFlags are --controller and the CA it is trusted with.
func adminFlags(cmd *cobra.Command) (base string, caPEM []byte, err error) {
	base, _ = cmd.Flags().GetString("controller")
	caFile, _ := cmd.Flags().GetString("ca")
	if base == "" {
		return "", nil, errors.New("set --controller (or GATEHOUSE_CONTROLLER)")
	}
	if err := adminclient.CheckURL(base); err != nil {
		return "", nil, err
	}
	if caFile != "" {
		if caPEM, err = os.ReadFile(caFile); err != nil {
			return "", nil, fmt.Errorf("read --ca: %w", err)
		}
	}
	return base, caPEM, nil
}

func adminLoginCmd() *cobra.Command {
	var noBrowser bool
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign the admin CLI in as you (password and second factor, passkey or IdP in the browser)",
		Long: "Starts a sign-in (OAuth device authorization) for this CLI's own key, shows the page and code,\n" +
			"opens the browser where there is a desktop, and waits. Admin commands then act as you, with your\n" +
			"role, while your second factor is under 12 hours old; each request is signed by the key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, caPEM, err := adminFlags(cmd)
			if err != nil {
				return err
			}
			st, err := adminStore(base)
			if err != nil {
				return err
			}
			key, err := adminKey(st)
			if err != nil {
				return err
			}
			hc, err := wire.HTTPClient(caPEM, "this admin CLI")
			if err != nil {
				return err
			}
			pub := key.Public().(ed25519.PublicKey)
			host, _ := os.Hostname()
			if !hostnameShown.MatchString(host) {
				host = "" // only shown on the confirm page: leave out what the controller would refuse
			}
			ctx := cmd.Context()
			da, err := wire.StartDeviceAuthorization(ctx, hc, base, wire.DeviceAuthorizationForm{
				ClientID: api.ClientAdmin, DeviceKey: base64.StdEncoding.EncodeToString(pub), Hostname: host})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			p := devicelogin.Prompt{Page: da.VerificationURI, PageWithCode: da.VerificationURIComplete, Code: da.UserCode}
			if err := devicelogin.Show(out, p, !noBrowser); err != nil {
				return err
			}
			fmt.Fprintf(out, "Check that the page shows this CLI's key %s, then approve.\nWaiting…\n", api.AdminBinding(pub)[len(api.AdminBindingPrefix):])
			wait, cancel := context.WithTimeout(ctx, time.Duration(da.ExpiresIn)*time.Second)
			defer cancel()
			tok, err := wire.PollTokenAs(wait, hc, base, api.ClientAdmin, da.DeviceCode, da.Interval)
			if err != nil {
				return err
			}
			if tok.DeviceID != api.AdminBinding(pub) {
				return fmt.Errorf("the controller bound the session to %q, not to this CLI's key: not kept", printable(tok.DeviceID))
			}
			if old, err := adminSessionClient(base, caPEM); err == nil {
				old.Logout(ctx) // the session this one replaces; best effort (it may be over already)
			}
			if err := saveAdminSession(st, adminclient.TokensOf(tok, time.Now())); err != nil {
				return fmt.Errorf("keep the admin session: %w", err)
			}
			fmt.Fprintf(out, "signed in as %s for admin commands at %s\nkey and session kept in %s\n", printable(tok.User), base, st.Where())
			return nil
		},
	}
	cmd.Flags().BoolVar(&noBrowser, "no-browser", false, "only print the page and code; do not open a browser")
	return cmd
}

func adminLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "End the admin CLI's session at the controller and forget it here",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, caPEM, err := adminFlags(cmd)
			if err != nil {
				return err
			}
			c, err := adminSessionClient(base, caPEM)
			if errors.Is(err, keystore.ErrNotFound) {
				fmt.Fprintf(cmd.OutOrStdout(), "not signed in at %s\n", base)
				return nil
			}
			if err != nil {
				return err
			}
			ended := c.Logout(cmd.Context())
			st, _ := adminStore(base)
			if err := st.Delete(adminTokensName); err != nil {
				return err
			}
			if ae, ok := errors.AsType[*adminclient.Error](ended); ok && ae.Status == 401 {
				ended = nil // the controller had ended it already
			}
			if ended != nil {
				return fmt.Errorf("forgot the session here, but the controller did not end it (%w): an admin can (gatehouse admin sessions revoke)", ended)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed out of %s\n", base)
			return nil
		},
	}
}
