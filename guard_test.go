// Package gatehouse_test holds the repository's guards: formatting, vet,
// one package doc comment per package, the table of what each package may
// import, and that device-side code never links the controller or gateway.
package gatehouse_test

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-ztna/gatehouse"

type pkg struct {
	ImportPath   string
	Dir          string
	Name         string
	GoFiles      []string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	return goList(t, "-json", "-deps=false", "./...")
}

// goList runs go list with args (a -json form) and decodes its packages.
func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", strings.Join(args, " "), err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestGofmt(t *testing.T) {
	files, err := exec.Command("git", "ls-files", "*.go").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err) // CI always runs in one
	}
	args := append([]string{"-l"}, strings.Fields(string(files))...)
	out, err := exec.Command("gofmt", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gofmt: %v\n%s", err, out)
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("gofmt -l lists unformatted files (run `make fmt`):\n%s", out)
	}
}

func TestVet(t *testing.T) {
	out, err := exec.Command("go", "vet", "./...").CombinedOutput()
	if err != nil {
		t.Errorf("go vet ./... failed:\n%s", out)
	}
}

// TestPackageDocs: every package has exactly one file carrying the package
// doc comment, saying its job (and, for libraries, who may import it; the
// import table below is what enforces the rules).
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // this guard package: tests only
		}
		var withDoc []string
		for _, f := range p.GoFiles {
			file, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if file.Doc != nil {
				withDoc = append(withDoc, f)
			}
		}
		if len(withDoc) != 1 {
			t.Errorf("package %s: package doc comment in %v, want exactly one file", p.ImportPath, withDoc)
		}
	}
}

// allowedImports is, for every package of the module, the packages of the
// module it may import (its tests included) and why. A package missing
// here, or an import not listed for it, fails TestImportTable: a new
// dependency between rooms is a decision, written down with its reason.
var allowedImports = map[string]map[string]string{
	"/api": {},
	"/api/adminclient": {
		"/api": "REST paths and types",
	},
	"/tunnel": {
		"/tunnel/tuntest": "tests: raw packets through a real WireGuard peer",
	},
	"/tunnel/tuntest": {
		"/tunnel": "WireGuard keys for the packet peer",
	},
	"/gateway": {
		"/api":    "PeerConfig and GatewayPeer from the controller",
		"/tunnel": "the WireGuard server it enforces on",
	},
	"/gateway/link": {
		"/api":     "the gateway websocket protocol",
		"/gateway": "the gateway it drives",
		"/tunnel":  "the gateway's WireGuard key",
		"/wire":    "websocket framing and the gateway proof, shared with the controller's hub",
	},
	"/cmd/gatehouse-gateway": {
		"/gateway":              "the standalone gateway",
		"/gateway/link":         "its controller link and enrollment",
		"/internal/enrollflags": "the enroll flags it shares with gatehouse-agent",
	},
	"/posture": {
		"/api":                 "the PostureReport it fills",
		"/internal/testenv":    "tests: skip only outside CI",
		"/posture/posturetest": "tests: a scripted source",
	},
	"/posture/posturetest": {
		"/api":     "PostureReport",
		"/posture": "the Source interface it fakes",
	},
	"/wire": {
		"/api": "the envelope and messages it frames",
	},
	"/agent/keystore": {
		"/internal/testenv": "tests: the real keyring, required in CI",
	},
	"/agent/localapi": {
		"/api":             "decisions, reasons and posture shown to the CLI and tray",
		"/agent/localpeer": "Windows: the access the pipe client asks for, the one the pipe's ACL grants",
	},
	"/agent/sysservice": {
		"/agent/localapi":   "the service's socket path",
		"/internal/testenv": "tests: skip only outside CI",
	},
	"/internal/testenv":     {},
	"/internal/enrollflags": {},
	"/internal/devicelogin": {},
	"/agent/localpeer": {
		"/internal/testenv": "tests: skip only outside CI",
	},
	"/agent/controlclient": {
		"/agent/controltest": "tests: a fake controller on the real wire",
		"/api":               "the messages it carries",
		"/wire":              "websocket framing and the device proof",
	},
	"/agent/controltest": {
		"/api":  "the messages it scripts",
		"/wire": "the framing and proof check the real controller uses",
	},
	"/agent/frontend": {
		"/api": "the app list a front-end is given",
	},
	"/agent/proxy": {
		"/agent/frontend":  "the contract with the state machine it implements and uses",
		"/agent/localpeer": "who is calling a local proxy port, and how much it has not read",
		"/api":             "the app list",
		"/tunnel":          "Splice and Abort for the flows it carries",
	},
	"/agent/tunmode": {
		"/agent/frontend":   "the contract with the state machine it implements and uses",
		"/agent/localpeer":  "who owns the socket of a flow routed into the TUN",
		"/api":              "the app list with virtual IPs",
		"/internal/testenv": "tests: skip only outside CI",
		"/tunnel":           "Terminator for the TUN's flows; Splice and Abort",
	},
	"/agent/splitdns": {
		"/api": "the app list (name → virtual IP) it answers from",
	},
	"/agent/socks5": {
		"/agent/frontend":  "the contract with the state machine it implements and uses",
		"/agent/localpeer": "who is calling the SOCKS5 port",
		"/api":             "the app list",
		"/tunnel":          "Abort: a reset to the caller when access ends",
	},
	"/agent": {
		"/agent/socks5":        "the SOCKS5 front-end",
		"/agent/controlclient": "the control connection",
		"/agent/tunmode":       "the TUN-mode front-end",
		"/agent/splitdns":      "TUN mode's split DNS resolver",
		"/agent/controltest":   "tests: a fake controller on the real wire",
		"/agent/frontend":      "the contract with its front-ends",
		"/posture/posturetest": "tests: scripted posture",
		"/agent/proxy":         "the proxy-mode front-end",
		"/agent/keystore":      "the device key and the session's tokens",
		"/agent/localpeer":     "who is calling a local proxy port",
		"/internal/testenv":    "tests: skip only outside CI",
		"/agent/localapi":      "the local API it serves",
		"/api":                 "the wire protocol",
		"/posture":             "posture collection",
		"/tunnel":              "per-app WireGuard tunnels",
		"/wire":                "websocket framing and the device proof",
	},
	"/controller/pki": {},
	"/controller/policy": {
		"/api": "users, apps, profiles, policies and decisions",
	},
	"/controller/store": {
		"/api": "the objects it stores",
	},
	"/controller/policyfile": {
		"/api":               "the objects a policy file declares, and plans and test results",
		"/controller/policy": "CEL checks, and the real engine the file's tests run on",
	},
	"/controller/gateways": {
		"/api":               "the gateway websocket protocol",
		"/controller/pki":    "tests: a real CA and serving certificate",
		"/controller/store":  "gateways and their enrollment tokens",
		"/controller/grants": "ErrPeerLost, the Enforcer contract's word for a peer the gateway does not hold",
		"/gateway":           "tests: a real gateway",
		"/gateway/link":      "tests: the real link on the other end",
		"/tunnel":            "tests: a real WireGuard client through the gateway",
		"/wire":              "websocket framing and the gateway proof check, shared with the gateway's link",
	},
	"/controller/ipam": {},
	"/controller/identity": {
		"/api":                      "the users it signs in",
		"/controller/store":         "accounts, sessions, API tokens and device state (IdentityStore); tests: a real SQLite store",
		"/controller/identity/oidc": "upstream IdPs: what they verified becomes a Proof; refresh re-checks the user there",
		"/internal/testidp":         "tests: a real OpenID Provider in process",
		"/internal/webauthntest":    "tests: a software passkey authenticator",
	},
	"/internal/webauthntest": {},
	"/internal/browsertest": {
		"/internal/testenv": "tests: no Chromium fails only in CI",
	},
	"/controller/identity/oidc": {
		"/internal/testidp": "tests: a real OpenID Provider in process",
	},
	"/internal/testidp": {},
	"/controller/grants": {
		"/api":             "grants, peers, reasons and the messages to agents",
		"/controller/ipam": "overlay addresses",
	},
	// The core never imports its transport, controller/httpapi (which
	// imports the core, so the compiler refuses the cycle too).
	"/controller": {
		"/api":                      "the wire protocol and REST types",
		"/controller/grants":        "the grant lifecycle and the gateway registry",
		"/controller/ipam":          "overlay addresses and apps' virtual IPs",
		"/controller/policy":        "decisions",
		"/controller/policyfile":    "policy as code: parse, check, diff, export and test a policy file",
		"/controller/gateways":      "standalone gateways: their hub and enrollment",
		"/controller/identity":      "sign-in sessions, roles and device state (its own room)",
		"/controller/identity/oidc": "tests: a real upstream IdP's sign-in through the core",
		"/internal/testidp":         "tests: a real OpenID Provider in process",
		"/controller/store":         "durable state",
		"/tunnel":                   "WireGuard public key parsing in grant requests",
		"/wire":                     "the device proof check, shared with the agent; the gateway link's connection",
	},
	"/controller/httpapi": {
		"/api":                      "the REST types and the websocket protocol",
		"/api/adminclient":          "tests: drive the admin API as the CLI does",
		"/controller":               "the core it serves",
		"/controller/identity":      "sign-in: password, TOTP and passkey checks, their errors and throttle, the Proof a session starts from; tests: cheap password hashing for the bootstrapped owner",
		"/controller/identity/oidc": "the login page's upstream IdP buttons and callback: Begin, Callback, Status and their errors",
		"/controller/pki":           "the CA and serving certificate",
		"/internal/browsertest":     "tests: the pages in headless Chromium with a virtual authenticator",
		"/internal/testidp":         "tests: a real OpenID Provider behind the login page's IdP button",
		"/internal/webauthntest":    "tests: the passkey endpoints driven with a software authenticator",
		"/wire":                     "the agent and gateway websockets' framing and the nonce of the device proof",
	},
	"/cmd/gatehouse": {
		"/agent/keystore":       "the admin CLI's key and session in the OS keyring (gatehouse admin login)",
		"/wire":                 "the device flow of gatehouse admin login",
		"/agent/localapi":       "status, apps and posture from the local agent; login and logout through it",
		"/internal/devicelogin": "the sign-in page and code, and the browser",
		"/api":                  "REST and decision types",
		"/api/adminclient":      "gatehouse admin",
		"/agent/sysservice":     "gatehouse service install|uninstall|start|stop|status",
	},
	"/gui": {
		"/agent/localapi":   "the agent's state and actions, its only way to the agent",
		"/api":              "reason codes and check statuses it maps into its view model",
		"/internal/testenv": "tests: a private session bus, required in CI",
	},
	"/gui/autostart": {},
	"/gui/instance":  {},
	"/gui/sni": {
		"/gui":                  "the State, its menu, icons and notifications, drawn over D-Bus",
		"/api":                  "tests: the reason codes of a blocked app",
		"/internal/desktoptest": "tests: a session bus with a tray host and a notification daemon",
	},
	"/cmd/gatehouse-tray": {
		"/agent/localapi":       "the agent's socket and client, the tray's only way to the agent",
		"/api":                  "tests: the reasons a fake agent answers with",
		"/gui":                  "the tray's windows, menu and notifications",
		"/gui/autostart":        "--install-autostart",
		"/gui/instance":         "one tray per user",
		"/gui/sni":              "the Linux tray without fyne's driver (no wake-ups while idle)",
		"/internal/testenv":     "tests: Xvfb and the real binary, required in CI",
		"/internal/desktoptest": "tests: a virtual X display and session bus, the screen read back",
	},
	"/internal/desktoptest": {
		"/internal/testenv": "no Xvfb fails only in CI",
	},
	"/cmd/gatehouse-agent": {
		"/agent":                "the agent",
		"/internal/enrollflags": "the enroll flags it shares with gatehouse-gateway",
		"/internal/devicelogin": "the sign-in page and code, and the browser (login)",
		"/api":                  "the device authorization shown at login",
		"/agent/keystore":       "where the device key lives",
		"/agent/localapi":       "the local API socket path",
		"/posture":              "the system collector and the override file",
		"/agent/sysservice":     "run under the service manager",
	},
	"/cmd/gatehouse-controller": {
		"/controller/identity/oidc": "the upstream identity provider its --oidc-* flags configure",
		"/internal/testidp":         "tests: a real OpenID Provider for the --oidc-* flags",
		"/controller":               "the controller's core",
		"/controller/httpapi":       "the HTTP server it serves the core with",
		"/controller/identity":      "the passkey relying party its public name sets up",
		"/gateway":                  "the embedded gateway it runs and registers as \"embedded\"",
		"/tunnel":                   "the embedded gateway's WireGuard key",
	},
	"/cmd/gatehouse-demo": {
		"/agent/localapi":  "shows what the agent says",
		"/api":             "REST types",
		"/api/adminclient": "sets the demo's policy up",
	},
	"/e2e": {
		"/internal/desktoptest":     "the real tray on a virtual X display with a notification daemon",
		"/agent":                    "real agents",
		"/agent/sysservice":         "the installed service's command line, run as a process",
		"/agent/localapi":           "the service's socket path, moved under the test's dirs",
		"/agent/keystore":           "agents' device keys in files",
		"/api":                      "the wire protocol, spoken by hand by uncooperative clients",
		"/api/adminclient":          "admin API",
		"/controller":               "a real controller",
		"/controller/httpapi":       "its real HTTP server",
		"/controller/identity":      "sign in and end sessions directly through the identity room; cheap password hashing for the bootstrapped owner",
		"/controller/identity/oidc": "an upstream IdP for sign-in through the pages",
		"/controller/store":         "plant rows an older controller could have stored (a hostname with escapes)",
		"/gateway":                  "a real gateway behind a link the test can cut",
		"/gateway/link":             "standalone gateways in process, dialing the controller as gatehouse-gateway does",
		"/internal/browsertest":     "the sign-in pages in headless Chromium, as a person finishes gatehouse login",
		"/internal/testenv":         "tests: skip only outside CI",
		"/internal/testidp":         "a real OpenID Provider as the controller's upstream IdP",
		"/posture":                  "real and overridden posture",
		"/posture/posturetest":      "scripted posture",
		"/tunnel":                   "raw WireGuard peers and the tunnel-pair baseline",
		"/tunnel/tuntest":           "hand-built packets for the SYN flood",
		"/wire":                     "the agent's CA-pinned HTTP client for the test's person on the sign-in pages",
	},
}

// TestImportTable: every package of the module imports (tests included)
// only what allowedImports lists for it; api imports only the standard
// library.
func TestImportTable(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, module)
		if rel == "" {
			continue // this guard package
		}
		seen[rel] = true
		allowed, ok := allowedImports[rel]
		if !ok {
			t.Errorf("package %s is not in allowedImports (guard_test.go): add it with what it may import and why", p.ImportPath)
			continue
		}
		for _, imp := range slices.Concat(p.Imports, p.TestImports, p.XTestImports) {
			irel, internal := strings.CutPrefix(imp, module)
			if !internal || irel == rel {
				if rel == "/api" && strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					t.Errorf("api imports %s; it may import only the standard library", imp)
				}
				continue
			}
			if _, ok := allowed[irel]; !ok {
				t.Errorf("%s imports %s, which allowedImports does not allow it (guard_test.go): if it must, add it there with the reason", p.ImportPath, imp)
			}
		}
	}
	for rel := range allowedImports {
		if !seen[rel] {
			t.Errorf("allowedImports lists %s, which is no package of the module: remove it", rel)
		}
	}
}

// deviceSide are the packages that run on employees' devices: none of them
// may link the controller or the gateway, directly or through anything
// else, tests included.
var deviceSide = []string{"/agent", "/wire", "/posture", "/tunnel", "/gui", "/cmd/gatehouse", "/cmd/gatehouse-agent", "/cmd/gatehouse-tray"}

// TestDeviceSideLinksNoControllerOrGateway checks the transitive imports of
// every device-side package and of its tests.
func TestDeviceSideLinksNoControllerOrGateway(t *testing.T) {
	checked := 0
	for _, p := range listTestDeps(t, "./...") {
		// "x", "x [x.test]", "x_test [x.test]" and "x.test" all belong to x.
		base := strings.TrimSuffix(strings.TrimSuffix(strings.Fields(p.ImportPath)[0], ".test"), "_test")
		rel := strings.TrimPrefix(base, module)
		if !isDeviceSide(rel) {
			continue
		}
		checked++
		for _, dep := range p.Deps {
			drel, internal := strings.CutPrefix(dep, module)
			if internal && (isUnder(drel, "/controller") || isUnder(drel, "/gateway")) {
				t.Errorf("%s links %s; device-side code must talk to the controller only through api", p.ImportPath, dep)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no device-side package found: the guard checks nothing")
	}
}

func isDeviceSide(rel string) bool {
	for _, side := range deviceSide {
		if isUnder(rel, side) {
			return true
		}
	}
	return false
}

// listTestDeps lists the packages matching patterns and their tests
// ("x", "x [x.test]", "x_test [x.test]", "x.test"), each with its
// transitive imports.
func listTestDeps(t *testing.T, patterns ...string) []pkg {
	t.Helper()
	return goList(t, append([]string{"-test", "-json=ImportPath,Deps"}, patterns...)...)
}

// isUnder reports whether rel is dir or inside it.
func isUnder(rel, dir string) bool { return rel == dir || strings.HasPrefix(rel, dir+"/") }

// trayForbidden are the rooms the tray (gui, cmd/gatehouse-tray and their
// tests) must not link: the controller and gateway, and everything on the
// device that holds or uses key material (the device key, the session's
// tokens, WireGuard keys, the device proof). It reaches the agent only
// through agent/localapi.
var trayForbidden = []string{"/controller", "/gateway", "/tunnel", "/wire", "/agent/keystore", "/agent/controlclient"}

// TestTrayLinksNoKeyMaterial checks the transitive imports of the tray's
// packages and of their tests; the agent's core (which imports the
// keystore) is forbidden too, by exact path, since agent/localapi lives
// under it.
func TestTrayLinksNoKeyMaterial(t *testing.T) {
	checked := 0
	for _, p := range listTestDeps(t, "./gui/...", "./cmd/gatehouse-tray") {
		checked++
		for _, dep := range p.Deps {
			drel, internal := strings.CutPrefix(dep, module)
			if !internal {
				continue
			}
			if drel == "/agent" || slices.ContainsFunc(trayForbidden, func(dir string) bool { return isUnder(drel, dir) }) {
				t.Errorf("%s links %s; the tray must reach the agent only through agent/localapi", p.ImportPath, dep)
			}
		}
	}
	if checked < 2 {
		t.Fatalf("go list found %d tray packages: the guard checks nothing", checked)
	}
}
