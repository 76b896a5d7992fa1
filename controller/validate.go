package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
	"github.com/gatehouse-ztna/gatehouse/controller/policy"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// The checks every admin object passes before it is stored.

var (
	nameRE    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,62}$`)
	versionRE = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,9}){0,5}$`)
)

func validName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return Invalid("%s name %q: use 1-63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

func validateUser(_ context.Context, u *api.User) error {
	if err := validName("user", u.Name); err != nil {
		return err
	}
	for _, g := range u.Groups {
		if err := validName("group", g); err != nil {
			return err
		}
	}
	return nil
}

// validateApp checks upstreams and gives a new app its virtual IP (an
// existing app keeps its own).
func validateApp(ctx context.Context, st store.Store, a *api.App) error {
	if err := validName("app", a.Name); err != nil {
		return err
	}
	if a.Protocol == "" {
		a.Protocol = "tcp"
	}
	if a.Protocol != "tcp" {
		return Invalid("app %q: protocol %q is not supported yet; use tcp", a.Name, a.Protocol)
	}
	if a.Gateway == "" {
		a.Gateway = EmbeddedGateway
	}
	// A gateway may register after its apps are made: any valid name is
	// taken, and grants wait for it to be online.
	if !nameRE.MatchString(a.Gateway) {
		return Invalid("app %q: gateway name %q: use 1-63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", a.Name, a.Gateway)
	}
	if len(a.Upstreams) == 0 {
		return Invalid("app %q needs at least one upstream host:port", a.Name)
	}
	ports := map[uint64]bool{}
	for i, up := range a.Upstreams {
		host, port, err := net.SplitHostPort(up)
		if err != nil || host == "" {
			return Invalid("app %q: upstream %q is not host:port", a.Name, up)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
			return Invalid("app %q: upstream %q: port must be a number from 1 to 65535", a.Name, up)
		}
		if ports[p] {
			return Invalid("app %q: two upstreams use port %d; each port of an app maps to one upstream", a.Name, p)
		}
		ports[p] = true
		a.Upstreams[i] = net.JoinHostPort(host, port)
	}
	existing, err := st.GetApp(ctx, a.Name)
	switch {
	case err == nil:
		a.VirtualIP = existing.VirtualIP
	case errors.Is(err, store.ErrNotFound):
		ip, err := freeVirtualIP(ctx, st)
		if err != nil {
			return err
		}
		a.VirtualIP = ip.String()
	default:
		return err
	}
	return nil
}

func freeVirtualIP(ctx context.Context, st store.Store) (netip.Addr, error) {
	apps, err := st.ListApps(ctx)
	if err != nil {
		return netip.Addr{}, err
	}
	pool := ipam.NewPool(ipam.AppPrefix())
	for _, a := range apps {
		if ip, err := netip.ParseAddr(a.VirtualIP); err == nil {
			pool.Mark(ip)
		}
	}
	ip, err := pool.Take()
	if err != nil {
		return ip, fmt.Errorf("no virtual IPs left for a new app: %w; delete an app you no longer need", err)
	}
	return ip, nil
}

func validateProfile(_ context.Context, p *api.PostureProfile) error {
	if err := validName("posture profile", p.Name); err != nil {
		return err
	}
	switch p.OSFamily {
	case "", "linux", "darwin", "windows":
	default:
		return Invalid("posture profile %q: os_family %q must be linux, darwin or windows", p.Name, p.OSFamily)
	}
	for field, v := range map[string]string{"min_kernel": p.MinKernel, "min_os_version": p.MinOSVersion} {
		if v != "" && !versionRE.MatchString(v) {
			return Invalid("posture profile %q: %s %q is not a version like 6.1 or 14.2.1", p.Name, field, v)
		}
	}
	for _, proc := range p.RequiredProcesses {
		if strings.HasPrefix(proc, "/") {
			if _, _, err := api.ParseSoftwareSpec(proc); err != nil {
				return Invalid("posture profile %q: %v", p.Name, err)
			}
			continue
		}
		if proc == "" || strings.ContainsAny(proc, "/:\x00") {
			return Invalid("posture profile %q: required process %q must be an absolute executable path (/usr/sbin/sshd[:sha256]) or a process name", p.Name, proc)
		}
	}
	return validateProfileChecks(p)
}

// validatePolicy refuses references to apps and profiles that do not exist
// (groups may be empty or filled later).
func validatePolicy(ctx context.Context, st store.Store, p *api.Policy) error {
	if err := validName("policy", p.Name); err != nil {
		return err
	}
	if len(p.Groups) == 0 || len(p.Apps) == 0 {
		return Invalid("policy %q needs at least one group and one app", p.Name)
	}
	for _, g := range p.Groups {
		if err := validName("group", g); err != nil {
			return err
		}
	}
	for _, a := range p.Apps {
		if _, err := st.GetApp(ctx, a); err != nil {
			return Invalid("policy %q: app %q: %v", p.Name, a, err)
		}
	}
	for _, n := range p.PostureProfiles {
		if _, err := st.GetProfile(ctx, n); err != nil {
			return Invalid("policy %q: posture profile %q: %v", p.Name, n, err)
		}
	}
	if err := policy.CheckCondition(p.Condition); err != nil {
		return Invalid("policy %q: --condition: %v", p.Name, err)
	}
	if err := validAccessNeeds(p); err != nil {
		return err
	}
	return validSignInNeeds(p)
}

// Bounds of a policy's MFA and session ages (0: any age).
const (
	minSignInAge = time.Minute
	maxSignInAge = 366 * 24 * time.Hour
)

// validSignInNeeds checks p's sign-in ages and makes RequireMFA and
// RequireSignIn say what an MFA age, MFA or a session age imply.
func validSignInNeeds(p *api.Policy) error {
	for _, age := range []struct {
		flag string
		d    api.Duration
	}{{"--mfa-max-age", p.MFAMaxAge}, {"--session-max-age", p.SessionMaxAge}} {
		if d := time.Duration(age.d); d != 0 && (d < minSignInAge || d > maxSignInAge) {
			return Invalid("policy %q: %s %v: use 0 (any age) or between %v and %v, e.g. %s 12h",
				p.Name, age.flag, d, minSignInAge, maxSignInAge, age.flag)
		}
	}
	if p.MFAMaxAge != 0 {
		p.RequireMFA = true
	}
	if p.RequireMFA || p.SessionMaxAge != 0 {
		p.RequireSignIn = true
	}
	return nil
}

var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,253}$`)

// validHostname keeps what an admin later sees in `gatehouse admin devices
// list` to plain characters: no terminal escapes, no look-alikes.
func validHostname(h string) error {
	if !hostnameRE.MatchString(h) {
		return Invalid("device hostname %q: use 1-253 letters, digits, '.', '-' or '_' (gatehouse-agent enroll --hostname NAME)", Clip(h))
	}
	return nil
}
