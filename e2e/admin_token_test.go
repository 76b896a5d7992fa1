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

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// TestAdminTokenFileRotateAndRevokeThroughCLI runs the real controller with
// stdout on a pipe, as under systemd: the admin token must not be printed
// but written to a 0600 file, every file the controller made must be
// private, and the admin CLI must work from that file, rotate the token
// (the old one dies), revoke enrollment tokens, and print a hostname with
// terminal escapes harmlessly.
func TestAdminTokenFileRotateAndRevokeThroughCLI(t *testing.T) {
	bin := binaries(t)
	data := filepath.Join(t.TempDir(), "data")
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
		t.Fatalf("%s = %q, want the admin token", tokenFile, first)
	}
	privateTree(t, data) // the umask: every file born private, ca.pem and the database included

	gh := filepath.Join(bin, "gatehouse")
	env := []string{"GATEHOUSE_CONTROLLER=" + url, "GATEHOUSE_CA=" + filepath.Join(data, "ca.pem")}
	admin := func(wantErr bool, extraEnv []string, args ...string) string {
		t.Helper()
		return runCmd(t, append(env, extraEnv...), wantErr, append([]string{gh, "admin"}, args...)...)
	}
	admin(false, nil, "--admin-token-file", tokenFile, "users", "create", "bob", "--groups", "ops")
	if out := admin(false, []string{"GATEHOUSE_ADMIN_TOKEN_FILE=" + tokenFile}, "users", "list"); !strings.Contains(out, "bob") {
		t.Errorf("gatehouse admin users list (GATEHOUSE_ADMIN_TOKEN_FILE) = %q, want bob", out)
	}

	// Rotate: the file gets the new token; the old one is refused.
	out := admin(false, nil, "--admin-token-file", tokenFile, "token", "rotate")
	if !strings.Contains(out, "new admin token written to "+tokenFile) || strings.Contains(out, "gha_") {
		t.Errorf("gatehouse admin token rotate = %q, want it to name the file and not print the token", out)
	}
	second, err := os.ReadFile(tokenFile)
	Must(t, err)
	if info, err := os.Stat(tokenFile); err != nil || info.Mode().Perm() != 0o600 || !strings.HasPrefix(string(second), "gha_") || string(second) == string(first) {
		t.Fatalf("%s after rotate = %q (%v), want a new token, mode 0600", tokenFile, second, err)
	}
	old := "GATEHOUSE_ADMIN_TOKEN=" + strings.TrimSpace(string(first))
	if out := admin(true, []string{old}, "users", "list"); !strings.Contains(out, "controller answered 401") {
		t.Errorf("gatehouse admin users list with the old token = %q, want 401", out)
	}
	if out := admin(false, []string{"GATEHOUSE_ADMIN_TOKEN=" + strings.TrimSpace(string(second))}, "users", "list"); !strings.Contains(out, "bob") {
		t.Errorf("gatehouse admin users list with the new token = %q, want bob", out)
	}
	withFile := []string{"GATEHOUSE_ADMIN_TOKEN_FILE=" + tokenFile}

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
