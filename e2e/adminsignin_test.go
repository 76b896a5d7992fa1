package e2e

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
	"github.com/gatehouse-ztna/gatehouse/controller/httpapi"
)

// TestAdminLoginCLI: the real `gatehouse admin login` against a real
// controller: the owner signs in through the pages (password, then the
// TOTP code) and approves; the CLI keeps its key and session in 0600
// files (no keyring here) and admin commands then work without any
// token; `gatehouse admin logout` ends the session at the controller.
func TestAdminLoginCLI(t *testing.T) {
	env := New(t, Options{Server: func(c *httpapi.Config) { c.SignIn.DeviceFlow.Interval = time.Second }})
	ctx := context.Background()
	vars, home, gh := ownerAdminLogin(t, env)
	secrets, err := filepath.Glob(filepath.Join(home, "gatehouse", "admin", "*", "secrets", "*"))
	Must(t, err)
	for _, f := range secrets {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("secret file %s: %v %v, want 0600", f, st.Mode(), err)
		}
	}
	if len(secrets) != 2 {
		t.Errorf("secret files = %v, want the key and the session", secrets)
	}

	if users := runCmd(t, vars, false, gh, "admin", "users", "list"); !strings.Contains(users, OwnerName) {
		t.Errorf("gatehouse admin users list = %q, want the owner", users)
	}
	runCmd(t, vars, false, gh, "admin", "users", "create", "erin")
	if _, err := adminclient.Get[api.User](ctx, env.Admin, api.PathUsers, "erin"); err != nil {
		t.Errorf("user erin the CLI created: %v", err)
	}
	ss, err := env.Ctrl.Identity.Sessions(ctx, OwnerName)
	Must(t, err)
	if len(ss) != 1 || !strings.HasPrefix(ss[0].Device, api.AdminBindingPrefix) || !ss[0].RevokedAt.IsZero() {
		t.Fatalf("owner's sessions = %+v, want one live admin CLI session", ss)
	}
	if out := runCmd(t, vars, false, gh, "admin", "logout"); !strings.Contains(out, "signed out") {
		t.Errorf("gatehouse admin logout = %q", out)
	}
	ss, err = env.Ctrl.Identity.Sessions(ctx, OwnerName)
	Must(t, err)
	if len(ss) != 1 || ss[0].RevokedAt.IsZero() {
		t.Errorf("owner's sessions after logout = %+v, want it revoked", ss)
	}
	if out := runCmd(t, vars, true, gh, "admin", "users", "list"); !strings.Contains(out, "gatehouse admin login") {
		t.Errorf("admin users list after logout = %q, want the hint to sign in", out)
	}
}

// ownerAdminLogin gives the owner a TOTP seed and runs the real
// `gatehouse admin login` for them through the pages (password, code,
// approve). It returns the environment the CLI ran in (its home holds
// the key and session) and the CLI's path.
func ownerAdminLogin(t *testing.T, env *Env) (vars []string, home, gh string) {
	t.Helper()
	ctx := context.Background()
	enr, err := env.Ctrl.Identity.BeginTOTP(ctx, OwnerName)
	Must(t, err)
	code, _ := totp.GenerateCode(enr.Secret, time.Now())
	Must(t, env.Ctrl.Identity.ConfirmTOTP(ctx, OwnerName, code))

	home = t.TempDir()
	vars = []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "DBUS_SESSION_BUS_ADDRESS=", "XDG_RUNTIME_DIR=",
		"GATEHOUSE_CONTROLLER=" + env.Server.URL(), "GATEHOUSE_CA=" + env.Server.CAFile()}
	gh = filepath.Join(binaries(t), "gatehouse")
	login := startProc(t, vars, gh, "admin", "login", "--no-browser")
	line := login.awaitLine(t, "Open ", 30*time.Second)
	fields := strings.Fields(line) // Open URL and enter code CODE
	userCode := fields[len(fields)-1]

	b := newPageBrowser(t, env)
	b.get(api.PathDevicePage + "?user_code=" + url.QueryEscape(userCode))
	b.post(api.PathDevicePage, url.Values{"user_code": {userCode}})
	b.post(api.PathLogin, url.Values{"user": {OwnerName}, "password": {OwnerPassword}})
	next, _ := totp.GenerateCode(enr.Secret, time.Now().Add(30*time.Second))
	if res := b.post("/login/totp", url.Values{"code": {next}}); res.Request.URL.Path != "/device/confirm" || !strings.Contains(b.body, "admin CLI") {
		t.Fatalf("after the code: at %s (%d), want the confirm page naming the admin CLI:\n%s", res.Request.URL.Path, res.StatusCode, b.body)
	}
	b.post("/device/confirm", url.Values{"action": {"approve"}})
	select {
	case <-login.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse admin login did not finish after the approval")
	}
	out := login.stdout.String()
	if login.cmd.ProcessState.ExitCode() != 0 || !strings.Contains(out, "signed in as owner") || !strings.Contains(out, "0600 files under") {
		t.Fatalf("gatehouse admin login = %v\n%s\n%s", login.cmd.ProcessState, out, login.stderr)
	}
	return vars, home, gh
}
