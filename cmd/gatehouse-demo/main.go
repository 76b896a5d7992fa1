// Command gatehouse-demo is what `make run` starts: a controller with
// embedded SQLite and gateway, two demo apps, and an enrolled agent — real
// processes on loopback. The demo user signs in through the controller's
// own pages (password + TOTP, driven by the demo as a browser would),
// and then it shows access granted, cut by a posture change and by a
// logout, and restored.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/api/adminclient"
)

const (
	goodPosture = `{"disk_encryption": true, "firewall": true}`
	badPosture  = `{"disk_encryption": false, "firewall": true}`
)

func main() {
	dir := flag.String("dir", ".demo", "where the demo keeps its controller and agent state (wiped at start)")
	listen := flag.String("listen", "127.0.0.1:8443", "controller address")
	gwPort := flag.Int("gateway-port", 51820, "embedded gateway UDP port")
	portBase := flag.Int("port-base", 17000, "first local port of the agent's app proxies")
	once := flag.Bool("once", false, "show the demo and exit instead of running until Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *listen, *gwPort, *portBase, *once); err != nil {
		fmt.Fprintln(os.Stderr, "gatehouse-demo:", err)
		os.Exit(1)
	}
}

type demo struct {
	dir, bin string
	procs    []*exec.Cmd
}

func run(ctx context.Context, dir, listen string, gwPort, portBase int, once bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, _ = filepath.Abs(dir)
	d := &demo{dir: dir, bin: filepath.Dir(self)}
	defer d.stop()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	grafana, err := upstream("grafana")
	if err != nil {
		return err
	}
	wiki, err := upstream("wiki")
	if err != nil {
		return err
	}

	step("starting gatehouse-controller (SQLite + embedded gateway) on https://%s", listen)
	ctrlDir := filepath.Join(dir, "controller")
	tokenFile := filepath.Join(ctrlDir, "admin-token")
	token, err := d.startController(ctx, tokenFile, "--data-dir", ctrlDir, "--listen", listen, "--gateway-port", fmt.Sprint(gwPort),
		"--trust-posture-overrides",    // the demo flips posture with the agent's override file
		"--device-poll-interval", "1s") // the agent asks for its tokens every second, not every 5 s
	if err != nil {
		return err
	}
	url := "https://" + listen
	caFile := filepath.Join(ctrlDir, "ca.pem")
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	admin, err := bootstrapOwner(ctx, url, token, ca, tokenFile)
	if err != nil {
		return err
	}

	step("policy: group eng (alice) may reach grafana, signed in with MFA in the last 12h, on a device with disk encryption and a firewall; wiki is in no policy")
	for _, err := range []error{
		adminclient.Create(ctx, admin, api.PathUsers, &api.User{Name: "alice", Groups: []string{"eng"}}),
		adminclient.Create(ctx, admin, api.PathPostureProfiles, &api.PostureProfile{Name: "secure", DiskEncryption: true, Firewall: true}),
		adminclient.Create(ctx, admin, api.PathApps, &api.App{Name: "grafana", Upstreams: []string{grafana}}),
		adminclient.Create(ctx, admin, api.PathApps, &api.App{Name: "wiki", Upstreams: []string{wiki}}),
		adminclient.Create(ctx, admin, api.PathPolicies, &api.Policy{Name: "eng-grafana", Groups: []string{"eng"}, Apps: []string{"grafana"}, PostureProfiles: []string{"secure"},
			RequireMFA: true, MFAMaxAge: api.Duration(12 * time.Hour)}),
	} {
		if err != nil {
			return err
		}
	}
	alice, totpURL, err := setCredentials(ctx, admin, "alice", ca)
	if err != nil {
		return err
	}
	tok, err := admin.EnrollmentToken(ctx, "alice", 10*time.Minute)
	if err != nil {
		return err
	}

	agentDir := filepath.Join(dir, "agent")
	override := filepath.Join(dir, "posture.json")
	if err := os.WriteFile(override, []byte(goodPosture), 0o644); err != nil {
		return err
	}
	step("enrolling alice's device and starting gatehouse-agent (posture override file: %s)", override)
	enroll := exec.CommandContext(ctx, filepath.Join(d.bin, "gatehouse-agent"), "enroll", "--state-dir", agentDir,
		"--controller", url, "--token", tok.Token, "--ca", caFile, "--hostname", "alice-laptop")
	enroll.Stdout, enroll.Stderr = os.Stdout, os.Stderr
	if err := enroll.Run(); err != nil {
		return fmt.Errorf("enroll: %w", err)
	}
	sock := localapi.StateSocket(agentDir)
	args := []string{"run", "--state-dir", agentDir, "--posture-override", override, "--port-base", fmt.Sprint(portBase)}
	if uid := os.Getuid(); uid >= 0 {
		// The demo itself makes the requests, even when started through
		// sudo (where enroll would record the sudoing user).
		args = append(args, "--local-user", fmt.Sprint(uid))
	}
	if err := d.start(ctx, "agent.log", filepath.Join(d.bin, "gatehouse-agent"), args...); err != nil {
		return err
	}
	client := localapi.NewClient(sock)
	st, err := awaitAgent(ctx, client)
	if err != nil {
		return err
	}
	step("the agent keeps its device key and session tokens in: %s", st.SecretsIn)
	if why := awaitDenial(ctx, client, "grafana", api.CodeSignInRequired); why != "" {
		step("before signing in, gatehouse apps says grafana is denied: %s", why)
	}
	if err := signIn(ctx, client, alice); err != nil {
		return err
	}
	apps, err := awaitApps(ctx, client, "grafana")
	if err != nil {
		return err
	}

	body, err := get(apps["grafana"])
	if err != nil {
		return fmt.Errorf("grafana through Gatehouse: %w", err)
	}
	step("GET http://%s/ (grafana, through its own WireGuard tunnel) → %q", apps["grafana"], body)
	// wiki is in no policy for alice: her agent does not list it, and
	// asking for it by name is refused with the reason.
	if wiki, err := client.Connect(ctx, "wiki"); err == nil && !wiki.Allowed && len(wiki.Reasons) > 0 {
		step("gatehouse connect wiki → refused, as the policy says: %s", wiki.Reasons[0].Message)
	}

	step("turning disk encryption off (posture override) while a connection is open…")
	cut, err := showCut(apps["grafana"], func() error { return os.WriteFile(override, []byte(badPosture), 0o644) })
	if err != nil {
		return err
	}
	step("the open connection was cut %s after the posture change", cut.Round(time.Millisecond))
	// The revocation cuts first; the decision that says why follows it.
	awaitDenial(ctx, client, "grafana", api.CodePostureDiskEncryption)
	printApps(ctx, client)
	if err := os.WriteFile(override, []byte(goodPosture), 0o644); err != nil {
		return err
	}
	if err := awaitGet(apps["grafana"], 5*time.Second); err != nil {
		return fmt.Errorf("access did not come back: %w", err)
	}
	step("disk encryption back on: grafana is reachable again")

	step("gatehouse logout while a connection is open…")
	cut, err = showCut(apps["grafana"], func() error {
		_, err := client.Logout(ctx)
		return err
	})
	if err != nil {
		return err
	}
	step("the open connection was cut %s after the logout", cut.Round(time.Millisecond))
	// The agent relinks without a session; the controller's answer then
	// says why grafana is denied.
	awaitDenial(ctx, client, "grafana", api.CodeSignInRequired)
	printApps(ctx, client)
	if st, err := client.Status(ctx); err == nil && st.Session.Ended != nil {
		fmt.Printf("    `gatehouse status` says the last session ended: %s\n", st.Session.Ended.Message)
	}
	if err := signIn(ctx, client, alice); err != nil {
		return err
	}
	if err := awaitGet(apps["grafana"], 10*time.Second); err != nil {
		return fmt.Errorf("access did not come back after signing in again: %w", err)
	}
	step("signed in again: grafana is reachable again")

	fmt.Printf(`
Gatehouse is running. Try:
  curl http://%[1]s/                    # grafana through Gatehouse
  %[3]s/gatehouse --socket %[4]s connect wiki   # %[2]s: denied, and why
  %[3]s/gatehouse --socket %[4]s apps      # who may reach what, and why
  %[3]s/gatehouse --socket %[4]s posture   # every fact and check
  %[3]s/gatehouse --socket %[4]s status    # tunnels, leases, keys
Cut access:   echo '%[5]s' > %[6]s
Restore:      echo '%[7]s' > %[6]s
Admin:        export GATEHOUSE_CONTROLLER=%[8]s GATEHOUSE_CA=%[9]s GATEHOUSE_ADMIN_TOKEN_FILE=%[10]s
              %[3]s/gatehouse admin grants
Sign in by hand (grafana's policy wants a sign-in with MFA):
  %[3]s/gatehouse --socket %[4]s logout
  %[3]s/gatehouse --socket %[4]s login --no-browser
  then open the page it prints (%[8]s%[12]s; the browser does not know the
  demo's CA %[9]s: trust it, or accept the warning once) and sign in as
  user:     %[13]s
  password: %[14]s
  TOTP:     seed %[15]s, or add this to an authenticator app:
            %[16]s
            (codes work from %[17]s on: the demo spent the ones before)
Logs: %[11]s/controller.log %[11]s/agent.log. Ctrl-C stops everything.
`, apps["grafana"], "wiki", d.bin, sock, badPosture, override, goodPosture, url, caFile, tokenFile, dir,
		api.PathDevicePage, alice.user, alice.password, alice.app.seed, totpURL, alice.app.unspentFrom().Format(time.TimeOnly))
	if once {
		return nil
	}
	<-ctx.Done()
	return nil
}

// bootstrapOwner spends the bootstrap token on the first owner ("admin",
// with a random password: the demo acts with the owner's API token) and
// writes that token over tokenFile (0600), so GATEHOUSE_ADMIN_TOKEN_FILE
// keeps working; it returns a client holding it.
func bootstrapOwner(ctx context.Context, url, token string, ca []byte, tokenFile string) (*adminclient.Client, error) {
	boot, err := adminclient.New(url, token, ca)
	if err != nil {
		return nil, err
	}
	res, err := boot.Bootstrap(ctx, api.BootstrapRequest{User: "admin", Password: rand.Text()})
	if err != nil {
		return nil, fmt.Errorf("bootstrap the first owner: %w", err)
	}
	if err := os.WriteFile(tokenFile, []byte(res.Token.Token+"\n"), 0o600); err != nil {
		return nil, err
	}
	step("first owner %q bootstrapped; its API token replaces the spent bootstrap token in %s", res.User, tokenFile)
	return boot.WithToken(res.Token.Token), nil
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

// startController runs the controller and reads the admin token it writes
// to tokenFile on its first start.
func (d *demo) startController(ctx context.Context, tokenFile string, args ...string) (string, error) {
	args = append(args, "--admin-token-file", tokenFile)
	cmd := exec.CommandContext(ctx, filepath.Join(d.bin, "gatehouse-controller"), args...)
	logf, err := os.Create(filepath.Join(d.dir, "controller.log"))
	if err != nil {
		return "", err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	d.procs = append(d.procs, cmd)
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if strings.HasPrefix(lines.Text(), "admin token written to ") {
			go io.Copy(logf, out)
			tok, err := os.ReadFile(tokenFile)
			return strings.TrimSpace(string(tok)), err
		}
	}
	return "", fmt.Errorf("controller exited before writing its admin token; see %s", logf.Name())
}

func (d *demo) start(ctx context.Context, logName, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	logf, err := os.Create(filepath.Join(d.dir, logName))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return err
	}
	d.procs = append(d.procs, cmd)
	return nil
}

func (d *demo) stop() {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		p.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			p.Process.Kill()
		}
	}
}

// upstream serves a tiny demo app on loopback.
func upstream(name string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			for {
				if _, err := fmt.Fprintf(w, "%s %s\n", name, time.Now().Format(time.StampMilli)); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		}
		fmt.Fprintf(w, "hello from %s\n", name)
	}))
	return l.Addr().String(), nil
}

// setCredentials gives user a random password and a confirmed TOTP seed,
// as `gatehouse admin users set-password` and `users totp begin|confirm`
// do, and returns the person who knows them and the seed's otpauth:// URL.
func setCredentials(ctx context.Context, admin *adminclient.Client, user string, ca []byte) (person, string, error) {
	p := person{user: user, password: rand.Text(), ca: ca}
	if err := admin.SetPassword(ctx, user, p.password); err != nil {
		return person{}, "", err
	}
	e, err := admin.BeginTOTP(ctx, user)
	if err != nil {
		return person{}, "", err
	}
	p.app = &authenticator{seed: e.Secret}
	code, err := p.app.code(ctx, time.Now())
	if err != nil {
		return person{}, "", err
	}
	if err := admin.ConfirmTOTP(ctx, user, code); err != nil {
		return person{}, "", err
	}
	step("%s has a password and a TOTP seed (admin users set-password, users totp begin|confirm)", user)
	return p, e.URL, nil
}

// awaitAgent waits for the agent's local API to answer.
func awaitAgent(ctx context.Context, c *localapi.Client) (localapi.Status, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err == nil || time.Now().After(deadline) {
			return st, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitDenial waits briefly for the agent to list app as denied for a
// reason of this code, and returns the reason's words ("" when it does
// not).
func awaitDenial(ctx context.Context, c *localapi.Client, app, code string) string {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		apps, _ := c.Apps(ctx)
		for _, a := range apps {
			if a.Name != app || a.Allowed {
				continue
			}
			for _, r := range a.Reasons {
				if r.Code == code {
					return r.Message
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ""
}

// awaitApps waits for the agent to list names as allowed and returns
// each one's first local address.
func awaitApps(ctx context.Context, c *localapi.Client, names ...string) (map[string]string, error) {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		apps, err := c.Apps(ctx)
		found := map[string]string{}
		if err == nil {
			for _, a := range apps {
				if a.Allowed && len(a.LocalAddrs) > 0 && len(a.Reasons) > 0 {
					found[a.Name] = a.LocalAddrs[0]
				}
			}
		}
		if len(found) == len(names) {
			return found, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("the agent did not list %v as allowed within 15s; see the logs under the demo dir", names)
}

func get(addr string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func awaitGet(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		_, err := get(addr)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// showCut opens a streaming connection, cuts access with cut, and times
// how long the open connection lives on.
func showCut(addr string, cut func() error) (time.Duration, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: grafana\r\n\r\n")
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		return 0, fmt.Errorf("stream did not start: %w", err)
	}
	start := time.Now()
	if err := cut(); err != nil {
		return 0, err
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := r.ReadString('\n'); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, fmt.Errorf("the open connection was still alive 5s after the cut")
			}
			return time.Since(start), nil
		}
	}
}

func printApps(ctx context.Context, c *localapi.Client) {
	apps, err := c.Apps(ctx)
	if err != nil {
		return
	}
	fmt.Println("    `gatehouse apps` now says:")
	for _, a := range apps {
		verdict := "denied"
		if a.Allowed {
			verdict = "allowed"
		}
		fmt.Printf("      %s: %s\n", a.Name, verdict)
		for _, r := range a.Reasons {
			fmt.Printf("        - %s (fix: %s)\n", r.Message, r.Remediation)
		}
	}
}
