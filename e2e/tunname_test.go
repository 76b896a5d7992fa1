package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The by-name proof's Debian servers and clients, and the apt package
// each comes from.
var tunNameTools = []struct{ path, pkg string }{
	{"/usr/sbin/nginx", "nginx"},
	{"/usr/lib/postgresql/15/bin/initdb", "postgresql (PostgreSQL 15)"},
	{"/usr/lib/postgresql/15/bin/postgres", "postgresql (PostgreSQL 15)"},
	{"/usr/bin/psql", "postgresql-client"},
	{"/usr/bin/curl", "curl"},
}

const (
	tunNameDomain = "corp.gatehouse"
	tunResolver   = "169.254.53.8"
	pgRole        = "gh"
	nginxBody     = "hello from nginx"
)

// TestTUNByNameWithNginxAndPostgres: the agent in TUN mode, its split DNS
// resolver answering APP.corp.gatehouse (the controller's --dns-domain),
// a standalone gateway in a site and real nginx and PostgreSQL behind it.
// From the client namespace (resolv.conf naming the agent's resolver, the
// documented fallback where systemd-resolved does not run) the device's
// user reaches both apps by name with curl and psql; a posture flip drops
// an open psql session and new connections by name fail within 1 s; back,
// both work again. Another uid reaches nothing, by name or by address; a
// query routed in from another host gets no answer.
func TestTUNByNameWithNginxAndPostgres(t *testing.T) {
	for _, tool := range tunNameTools {
		if _, err := os.Stat(tool.path); err != nil {
			t.Fatalf("%s is missing: install the Debian package %s (apt-get install %s)", tool.path, tool.pkg, strings.Fields(tool.pkg)[0])
		}
	}
	started := time.Now()
	var pgSocket string // the PostgreSQL server's unix socket dir, in the app namespace
	x := newStandaloneWith(t, standaloneOptions{
		ctrlArgs:  []string{"--dns-domain", tunNameDomain},
		agentArgs: []string{"--local-user", tunUser, "--tun", "--tun-name", "gh0"},
		apps: func(x *standalone) {
			appNS, appAddr := x.s.App[0], x.s.Addr[x.s.App[0]]
			startNginx(x.t, appNS, appAddr, x.s.Site[0])
			pgSocket = startPostgres(x.t, appNS, appAddr)
			x.admin("apps", "create", "grafana", "--upstream", appAddr+":80", "--gateway", "site0")
			x.admin("apps", "create", "db", "--upstream", appAddr+":5432", "--gateway", "site0")
			x.admin("policies", "create", "eng-apps", "--groups", "eng", "--apps", "grafana,db", "--profiles", "secure")
		},
	})
	client := x.s.Client
	// `ip netns exec` bind-mounts /etc/netns/NS/resolv.conf over
	// /etc/resolv.conf: the client's programs ask the agent's resolver.
	netnsEtc := filepath.Join("/etc/netns", client)
	Must(t, os.MkdirAll(netnsEtc, 0o755))
	t.Cleanup(func() { os.RemoveAll(netnsEtc) })
	Must(t, os.WriteFile(filepath.Join(netnsEtc, "resolv.conf"), []byte("nameserver "+tunResolver+"\noptions timeout:1 attempts:1\n"), 0o644))
	awaitTUNRoute(t, client)
	t.Logf("set up in %s", time.Since(started).Round(time.Millisecond))

	grafana, db := "http://grafana."+tunNameDomain+"/", "db."+tunNameDomain
	reachable := func(what string) {
		t.Helper()
		if out, err := curlAs(client, tunUser, grafana); err != nil || strings.TrimSpace(out) != nginxBody {
			t.Fatalf("%s: curl %s as uid %s = %q, %v, want %q", what, grafana, tunUser, out, err, nginxBody)
		}
		if out, err := psqlAs(client, tunUser, db, "select 1"); err != nil || out != "1" {
			t.Fatalf("%s: psql -h %s -c 'select 1' as uid %s = %q, %v, want 1", what, db, tunUser, out, err)
		}
	}
	reachable("by name")

	// The CLI names the apps, their addresses, the interface and the
	// resolver.
	cli := func(args ...string) string {
		t.Helper()
		return runCmd(t, nil, false, netnsExec(client, append([]string{filepath.Join(x.bin, "gatehouse"), "--socket", filepath.Join(x.agentDir, "agent.sock")}, args...)...)...)
	}
	status := cli("status")
	for _, want := range []string{"tun:        gh0", "dns:        " + tunResolver + ":53 answers APP." + tunNameDomain} {
		if !strings.Contains(status, want) {
			t.Errorf("gatehouse status = %q, want a line with %q", status, want)
		}
	}
	vips := map[string]string{}
	apps := cli("apps")
	for _, app := range []string{"grafana", "db"} {
		ips, err := lookupIn(client, app+"."+tunNameDomain)
		if err != nil || len(ips) != 1 {
			t.Fatalf("resolve %s.%s in the client namespace = %v, %v, want one address", app, tunNameDomain, ips, err)
		}
		vips[app] = ips[0]
		if tcp, err := lookupOver(client, "tcp", app+"."+tunNameDomain); err != nil || len(tcp) != 1 || tcp[0] != ips[0] {
			t.Errorf("resolve %s.%s over TCP = %v, %v, want %s as over UDP", app, tunNameDomain, tcp, err, ips[0])
		}
		if want := fmt.Sprintf("by name: %s.%s -> %s (TUN)", app, tunNameDomain, ips[0]); !strings.Contains(apps, want) {
			t.Errorf("gatehouse apps = %q, want %q", apps, want)
		}
	}
	x.agent.awaitLog(t, "forward "+tunNameDomain+" to "+tunResolver, time.Second) // the fallback hint, for the domain the controller named

	// Another account on the client reaches nothing, by name or by
	// address (its DNS answers are the same: the data plane refuses it).
	for _, target := range []string{"grafana." + tunNameDomain, vips["grafana"]} {
		if out, err := curlAs(client, tunOther, "http://"+target+"/"); err == nil || strings.Contains(out, nginxBody) {
			t.Errorf("curl http://%s/ as uid %s = %q, %v, want a failure", target, tunOther, out, err)
		}
	}
	for _, target := range []string{db, vips["db"]} {
		if out, err := psqlAs(client, tunOther, target, "select 1"); err == nil {
			t.Errorf("psql -h %s as uid %s = %q, want a failure", target, tunOther, out)
		}
	}

	// A query routed to the resolver's address from another host gets no
	// answer: the resolver serves this host's processes only.
	site := x.s.Site[0]
	runCmd(t, nil, false, "ip", "-n", site, "route", "add", tunResolver+"/32", "via", x.s.Addr[client])
	if ips, err := lookupIn(site, "grafana."+tunNameDomain); err == nil {
		t.Errorf("query from site0 routed to %s = %v, want no answer", tunResolver, ips)
	}

	// A posture flip: the open psql session is dropped within 1 s, and new
	// connections by name fail within 1 s each.
	session := startPsqlSession(t, client, tunUser, db, x.s.App[0], pgSocket)
	flip := x.setPosture(`{"disk_encryption": false, "firewall": true}`)
	select {
	case err := <-session:
		t.Logf("open psql session dropped %s after the posture flip (%v)", time.Since(flip).Round(time.Millisecond), err)
	case <-time.After(time.Second):
		t.Fatal("open psql session still alive 1 s after the posture flip")
	}
	for _, try := range []struct {
		what string
		do   func() (string, error)
	}{
		{"curl " + grafana, func() (string, error) { return curlAs(client, tunUser, grafana) }},
		{"psql -h " + db, func() (string, error) { return psqlAs(client, tunUser, db, "select 1") }},
	} {
		at := time.Now()
		out, err := try.do()
		took := time.Since(at)
		if err == nil {
			t.Errorf("%s after the posture flip = %q, want a failure", try.what, out)
			continue
		}
		t.Logf("%s failed in %s (%s after the flip): %v", try.what, took.Round(time.Millisecond), time.Since(flip).Round(time.Millisecond), err)
		if took > time.Second {
			t.Errorf("%s after the posture flip failed after %s, want within 1 s (a reset, not a hang)", try.what, took.Round(time.Millisecond))
		}
	}
	// The refusal says why, in the agent's log and in `gatehouse apps`.
	refusal := ""
	for l := range strings.Lines(x.agent.stderr.String()) {
		if strings.Contains(l, "TUN route blocked: no access to the app") && strings.Contains(l, "disk encryption is off") {
			refusal = l
		}
	}
	if refusal == "" {
		t.Errorf("agent log has no TUN refusal line with the reason %q", "disk encryption is off")
	} else {
		t.Logf("agent: %s", strings.TrimSpace(refusal))
	}
	Eventually(t, 5*time.Second, func() error {
		if apps := cli("apps"); !strings.Contains(apps, "db: denied") || !strings.Contains(apps, "disk encryption is off") {
			return fmt.Errorf("gatehouse apps = %q, want db denied with its reason", apps)
		}
		return nil
	})

	// Back: both work again by name.
	back := x.setPosture(GoodPosture)
	Eventually(t, 10*time.Second, func() error {
		if _, err := psqlAs(client, tunUser, db, "select 1"); err != nil {
			return err
		}
		_, err := curlAs(client, tunUser, grafana)
		return err
	})
	t.Logf("both apps by name again %s after posture was restored", time.Since(back).Round(time.Millisecond))
	reachable("after posture was restored")
	t.Logf("whole test %s", time.Since(started).Round(time.Millisecond))
}

// lookupIn asks the resolver for name's A records from inside ns, as the
// namespace's programs would (a UDP query to the agent's resolver).
func lookupIn(ns, name string) ([]string, error) { return lookupOver(ns, "udp", name) }

// lookupOver is lookupIn over network, udp or tcp.
func lookupOver(ns, network, name string) ([]string, error) {
	var ips []string
	err := inNetns(ns, func() error {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		c := &dns.Client{Net: network, Timeout: 500 * time.Millisecond}
		r, _, err := c.Exchange(m, net.JoinHostPort(tunResolver, "53"))
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("%s: %s", name, dns.RcodeToString[r.Rcode])
		}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				ips = append(ips, a.A.String())
			}
		}
		return nil
	})
	return ips, err
}

// psqlAs runs one statement with psql as uid inside ns and returns its
// unaligned output.
func psqlAs(ns, uid, host, sql string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, setprivArgs(uid, psqlArgv(host, sql)...)...)...)
	cmd.Env = psqlEnv()
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return strings.TrimSpace(string(out)), err
}

func psqlArgv(host, sql string) []string {
	return []string{"psql", "-X", "-w", "-h", host, "-U", pgRole, "-d", "postgres", "-tAc", sql}
}

// psqlEnv is a quick-failing libpq: no TLS or GSS attempts first, a short
// connect timeout, no home directory of root's.
func psqlEnv() []string {
	return append(cleanEnv(), "PGCONNECT_TIMEOUT=3", "PGSSLMODE=disable", "PGGSSENCMODE=disable", "HOME=/")
}

// startPsqlSession opens a psql session as uid in ns running a 30 s
// query, waits until the server runs it (asked over the app host's unix
// socket), and reports psql's end.
func startPsqlSession(t *testing.T, ns, uid, host, appNS, pgSocket string) <-chan error {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, setprivArgs(uid, psqlArgv(host, "select pg_sleep(30)")...)...)...)
	cmd.Env = psqlEnv()
	Must(t, cmd.Start())
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	Eventually(t, 10*time.Second, func() error {
		select {
		case err := <-ended:
			t.Fatalf("psql session ended before the flip: %v", err)
		default:
		}
		out, err := exec.Command("ip", append([]string{"netns", "exec", appNS}, psqlArgv(pgSocket,
			"select count(*) from pg_stat_activity where query like 'select pg_sleep%' and state = 'active'")...)...).Output()
		if strings.TrimSpace(string(out)) != "1" {
			return fmt.Errorf("sessions running pg_sleep = %q, %v, want 1", out, err)
		}
		return nil
	})
	return ended
}

// startNginx serves nginxBody on addr:80 in ns with Debian's nginx, its
// config, pid and logs in a temp dir, and waits until from reaches it.
func startNginx(t testing.TB, ns, addr, from string) {
	t.Helper()
	dir := worldReadableTempDir(t, "gh-nginx")
	www := filepath.Join(dir, "www")
	Must(t, os.MkdirAll(www, 0o755))
	Must(t, os.WriteFile(filepath.Join(www, "index.html"), []byte(nginxBody+"\n"), 0o644))
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	server {
		listen %[2]s:80;
		root %[3]s;
	}
}
`, dir, addr, www)
	Must(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	p := startProc(t, nil, netnsExec(ns, "/usr/sbin/nginx", "-p", dir, "-e", "stderr", "-c", filepath.Join(dir, "nginx.conf"))...)
	Eventually(t, 10*time.Second, func() error {
		select {
		case <-p.done:
			t.Fatalf("nginx exited: %v\n%s", p.cmd.ProcessState, p.stderr)
		default:
		}
		got, err := getIn(from, "http://"+addr+"/")
		if err != nil || strings.TrimSpace(got) != nginxBody {
			return fmt.Errorf("nginx at %s = %q, %v", addr, got, err)
		}
		return nil
	})
}

// startPostgres runs Debian's PostgreSQL 15 in ns on addr:5432 as the
// postgres account, a fresh cluster in a temp dir with trust auth for
// role pgRole (test namespaces only), and waits until it is ready. It
// returns the dir of the server's unix socket.
func startPostgres(t testing.TB, ns, addr string) string {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("no postgres account (%v): install the Debian package postgresql", err)
	}
	dir := worldReadableTempDir(t, "gh-pg")
	data := filepath.Join(dir, "data")
	socketDir := filepath.Join(dir, "run")
	for _, d := range []string{data, socketDir} {
		Must(t, os.Mkdir(d, 0o700))
		Must(t, exec.Command("chown", u.Uid+":"+u.Gid, d).Run())
	}
	bin := "/usr/lib/postgresql/15/bin/"
	runCmd(t, nil, false, setprivArgs(u.Uid, bin+"initdb", "-D", data, "-U", pgRole, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")...)
	Must(t, os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte("local all all trust\nhost all all 0.0.0.0/0 trust\n"), 0o600))
	Must(t, exec.Command("chown", u.Uid+":"+u.Gid, filepath.Join(data, "pg_hba.conf")).Run())
	p := startProc(t, nil, netnsExec(ns, setprivArgs(u.Uid, bin+"postgres", "-D", data, "-c", "listen_addresses="+addr, "-c", "port=5432",
		"-c", "unix_socket_directories="+socketDir, "-c", "fsync=off", "-c", "shared_buffers=16MB", "-c", "max_connections=20")...)...)
	// Registered after startProc's, so it runs first: a fast shutdown
	// (SIGINT) rather than a smart one that waits for clients.
	t.Cleanup(func() { p.cmd.Process.Signal(syscall.SIGINT) })
	p.awaitLog(t, "database system is ready to accept connections", 30*time.Second)
	return socketDir
}

// worldReadableTempDir is a temp dir the servers' unprivileged accounts
// may enter (t.TempDir's parents are root's alone); removed at the end.
func worldReadableTempDir(t testing.TB, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	Must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	Must(t, os.Chmod(dir, 0o755))
	return dir
}
