package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// TestAdminCLIBootstrapAndRolesThroughTheRealController runs the real
// controller with stdout on a pipe, as under systemd: the bootstrap token
// must not be printed but written to a 0600 file, and every file the
// controller made must be private. The bootstrap token only bootstraps;
// `gatehouse admin bootstrap` puts the owner's API token in its file, and
// from there the CLI issues role-scoped API tokens, whose roles hold
// (auditor reads only, helpdesk only devices and sessions, admin cannot
// issue an owner token), manages users' sign-in state, devices and
// settings, revokes enrollment tokens, and prints a hostname with
// terminal escapes harmlessly.
func TestAdminCLIBootstrapAndRolesThroughTheRealController(t *testing.T) {
	bin := binaries(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	url := "https://127.0.0.1:" + strconv.Itoa(freePort(t, "tcp"))
	ctrl := startProc(t, nil, filepath.Join(bin, "gatehouse-controller"), "--data-dir", data,
		"--listen", strings.TrimPrefix(url, "https://"), "--gateway-port", strconv.Itoa(freePort(t, "udp")))
	tokenFile := filepath.Join(data, "admin-token")
	line := ctrl.awaitLine(t, "admin token written to ", 20*time.Second)
	if !strings.Contains(line, tokenFile) {
		t.Errorf("controller said %q, want it to name %s", line, tokenFile)
	}
	if out := ctrl.stdout.String() + ctrl.stderr.String(); strings.Contains(out, "gha_") {
		t.Errorf("controller output holds an admin token:\n%s", out)
	}
	first, err := os.ReadFile(tokenFile)
	Must(t, err)
	if !strings.HasPrefix(string(first), "gha_") {
		t.Fatalf("%s = %q, want the bootstrap token", tokenFile, first)
	}
	privateTree(t, data) // the umask: every file born private, ca.pem and the database included

	gh := filepath.Join(bin, "gatehouse")
	env := []string{"GATEHOUSE_CONTROLLER=" + url, "GATEHOUSE_CA=" + filepath.Join(data, "ca.pem")}
	admin := func(wantErr bool, extraEnv []string, args ...string) string {
		t.Helper()
		return runCmd(t, append(env, extraEnv...), wantErr, append([]string{gh, "admin"}, args...)...)
	}
	refused := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("gatehouse admin = %q, want it to contain %q", out, w)
			}
		}
	}
	withFile := []string{"GATEHOUSE_ADMIN_TOKEN_FILE=" + tokenFile}
	boot := []string{"GATEHOUSE_ADMIN_TOKEN=" + strings.TrimSpace(string(first))}
	pw := passwordFile(t, dir)

	// The bootstrap token may only bootstrap.
	refused(admin(true, withFile, "users", "list"), "403", "may only create the first owner")
	out := admin(false, nil, "--admin-token-file", tokenFile, "bootstrap", "--user", "root", "--password-file", pw)
	refused(out, "first owner root created", "written to "+tokenFile)
	if strings.Contains(out, "ghk_") {
		t.Errorf("gatehouse admin bootstrap printed the token it wrote to the file: %q", out)
	}
	second, err := os.ReadFile(tokenFile)
	Must(t, err)
	if info, err := os.Stat(tokenFile); err != nil || info.Mode().Perm() != 0o600 || !strings.HasPrefix(string(second), "ghk_") {
		t.Fatalf("%s after bootstrap = %q (%v), want the owner's ghk_ API token, mode 0600", tokenFile, second, err)
	}
	refused(admin(true, boot, "users", "list"), "401", "bootstrap token is spent")
	refused(admin(true, boot, "bootstrap", "--user", "eve", "--password-file", pw), "401", "bootstrap token is spent")

	admin(false, withFile, "users", "create", "bob", "--groups", "ops")
	refused(admin(false, withFile, "users", "list"), "bob", "root")
	refused(admin(false, withFile, "admins", "list"), "root  owner")

	// API tokens, each held to its role.
	token := func(name, role string) (api.APIToken, []string) {
		t.Helper()
		var tok api.APIToken
		Must(t, json.Unmarshal([]byte(admin(false, withFile, "--json", "api-tokens", "create", name, "--role", role, "--ttl", "1d")), &tok))
		if !strings.HasPrefix(tok.Token, "ghk_") || tok.Role != role {
			t.Fatalf("api-tokens create %s --role %s = %+v, want a ghk_ token with that role", name, role, tok)
		}
		return tok, []string{"GATEHOUSE_ADMIN_TOKEN=" + tok.Token}
	}
	aud, audEnv := token("ci-audit", "auditor")
	_, hdEnv := token("desk", "helpdesk")
	_, admEnv := token("ops-admin", "admin")
	refused(admin(false, audEnv, "users", "list"), "bob")
	refused(admin(true, audEnv, "users", "create", "mallory"), "403", `role "auditor") may not write users`)
	refused(admin(true, audEnv, "api-tokens", "create", "more", "--role", "auditor"), "403")
	refused(admin(true, hdEnv, "apps", "list"), "403", `role "helpdesk") may not read apps`)
	refused(admin(true, admEnv, "api-tokens", "create", "escalate", "--role", "owner"), "403", `may not issue a token with role "owner"`)
	admin(false, admEnv, "api-tokens", "create", "ci-helpdesk", "--role", "helpdesk")
	refused(admin(true, admEnv, "users", "set-role", "bob", "owner"), "403")
	admin(false, withFile, "api-tokens", "revoke", aud.ID)
	refused(admin(true, audEnv, "users", "list"), "401", "expired or revoked")
	refused(admin(false, withFile, "api-tokens", "list"), "ci-audit", "revoked", "ci-helpdesk", "token:ops-admin")

	// Users' sign-in state and roles.
	refused(admin(false, withFile, "users", "set-password", "bob", "--password-file", pw), "password of bob set")
	short := filepath.Join(dir, "short")
	Must(t, os.WriteFile(short, []byte("short\n"), 0o600))
	refused(admin(true, withFile, "users", "set-password", "bob", "--password-file", short), "400", "password")
	admin(false, withFile, "users", "disable", "bob")
	refused(admin(false, withFile, "users", "set-role", "bob", "helpdesk"), "bob now has role helpdesk")
	refused(admin(false, withFile, "admins", "list"), "bob   helpdesk  true")
	admin(false, withFile, "users", "enable", "bob")
	admin(false, hdEnv, "users", "unlock", "bob")
	admin(false, withFile, "users", "set-role", "bob", "none")
	refused(admin(true, withFile, "users", "delete", "root"), "409", "last owner")
	refused(admin(true, withFile, "users", "set-role", "root", "admin"), "409", "last owner")
	var e api.TOTPEnrolment
	Must(t, json.Unmarshal([]byte(admin(false, withFile, "--json", "users", "totp", "begin", "bob")), &e))
	if !strings.HasPrefix(e.URL, "otpauth://totp/") || e.Secret == "" {
		t.Fatalf("users totp begin = %+v, want an otpauth URL and a seed", e)
	}
	code, err := totp.GenerateCode(e.Secret, time.Now())
	Must(t, err)
	refused(admin(false, withFile, "users", "totp", "confirm", "bob", code), "TOTP of bob confirmed")

	// Settings, and devices as they enroll: pending until approved.
	refused(admin(false, withFile, "settings", "set", "device-approval", "on"), "device-approval  on")
	refused(admin(true, hdEnv, "settings", "set", "device-approval", "off"), "403")

	// Enrollment tokens: at most 7 days, and revocable.
	if out := admin(true, withFile, "tokens", "create", "--user", "bob", "--ttl", "169h"); !strings.Contains(out, "must be between 1s and 168h0m0s (7 days)") {
		t.Errorf("gatehouse admin tokens create --ttl 169h = %q, want the 7-day limit named", out)
	}
	var tok api.EnrollmentToken
	Must(t, json.Unmarshal([]byte(admin(false, withFile, "--json", "tokens", "create", "--user", "bob", "--ttl", "168h")), &tok))
	if out := admin(false, withFile, "tokens", "revoke", tok.ID); !strings.Contains(out, "revoked enrollment token "+tok.ID) {
		t.Errorf("gatehouse admin tokens revoke = %q, want it confirmed", out)
	}
	if out := admin(false, withFile, "tokens", "list"); strings.Contains(out, tok.ID) {
		t.Errorf("gatehouse admin tokens list after revoke = %q, want %s gone", out, tok.ID)
	}
	if out := admin(true, withFile, "tokens", "revoke", tok.ID); !strings.Contains(out, "404") || !strings.Contains(out, "gatehouse admin tokens list") {
		t.Errorf("gatehouse admin tokens revoke twice = %q, want 404 and where to find IDs", out)
	}

	// A device stored before enrollment validated hostnames prints escaped.
	Must(t, json.Unmarshal([]byte(admin(false, withFile, "--json", "tokens", "create", "--user", "bob")), &tok))
	evil := "evil\x1b[2J\x1b]52;c;aGk=\a"
	storeDeviceDirectly(t, filepath.Join(data, "gatehouse.db"), tok.Token, evil)
	list := admin(false, withFile, "devices", "list")
	if strings.ContainsAny(list, "\x1b\a") || !strings.Contains(list, strconv.Quote(evil)) {
		t.Errorf("gatehouse admin devices list = %q, want the hostname as %s and no raw escapes", list, strconv.Quote(evil))
	}
	refused(list, "pending")
	refused(admin(false, hdEnv, "devices", "approve", "dev_legacy"), "approved device dev_legacy")
	admin(false, hdEnv, "devices", "label", "dev_legacy", "--name", "bobs-laptop", "--tag", "eng", "--tag", "lab")
	refused(admin(false, audEnv[:0], "--admin-token-file", tokenFile, "devices", "list"), "bobs-laptop", "approved", "eng,lab")
	admin(false, withFile, "devices", "block", "dev_legacy")
	refused(admin(false, withFile, "devices", "list"), "blocked")

	// Sessions: none yet (nobody signed in); ending them is helpdesk work.
	refused(admin(false, hdEnv, "sessions", "list", "--user", "bob"), "ID", "STATE")
	refused(admin(false, hdEnv, "sessions", "revoke", "--user", "bob"), "0 session(s) of bob ended")
	refused(admin(true, hdEnv, "sessions", "revoke", "nope"), "404", "gatehouse admin sessions list")
	refused(admin(true, audEnv[:0], "--admin-token-file", tokenFile, "sessions", "revoke"), "give either a session ID or --user")
}

// storeDeviceDirectly enrolls a device with hostname straight into the
// store, as a controller from before hostname validation would have.
func storeDeviceDirectly(t *testing.T, db, token, hostname string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, db)
	Must(t, err)
	defer st.Close()
	pub, _, err := ed25519.GenerateKey(nil)
	Must(t, err)
	h := sha256.Sum256([]byte(token))
	_, err = st.EnrollDevice(ctx, hex.EncodeToString(h[:]), time.Now(), api.Device{ID: "dev_legacy", Hostname: hostname,
		PublicKey: base64.StdEncoding.EncodeToString(pub)})
	Must(t, err)
}
