package controller

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/ipam"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// MaxEnrollmentTokenTTL is the longest an enrollment token may live: a
// token is a bearer secret for a device slot, so it should not outlive the
// rollout it was made for.
const MaxEnrollmentTokenTTL = 7 * 24 * time.Hour

// errBadRequest marks input the caller must fix (400); errTooLarge a body
// over the endpoint's limit (413).
var (
	errBadRequest = errors.New("bad request")
	errTooLarge   = errors.New("request body too large")
)

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// Handler is the controller's HTTP surface.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	// The two doors open to anyone get a token bucket per source.
	mux.Handle("POST "+api.PathEnroll, c.enrollLimit.wrap(c.log.Warn, http.HandlerFunc(c.handleEnroll)))
	mux.Handle("GET "+api.AgentWebsocketPath, c.authLimit.wrap(c.log.Warn, http.HandlerFunc(c.handleAgent)))
	c.mountRemoteGateways(mux)

	mountResource(c, mux, api.PathUsers, resource[api.User]{
		name: func(u api.User) string { return u.Name }, validate: c.validateUser,
		create: c.store.CreateUser, update: c.store.UpdateUser, get: c.store.GetUser,
		del: c.deleteUser, list: c.store.ListUsers})
	mountResource(c, mux, api.PathGroups, resource[api.Group]{
		name: func(g api.Group) string { return g.Name }, validate: func(_ context.Context, g *api.Group) error { return validName("group", g.Name) },
		create: c.store.CreateGroup, get: c.store.GetGroup, del: c.store.DeleteGroup, list: c.store.ListGroups})
	mountResource(c, mux, api.PathApps, resource[api.App]{
		name: func(a api.App) string { return a.Name }, validate: c.validateApp,
		create: c.store.CreateApp, update: c.store.UpdateApp, get: c.store.GetApp,
		del: c.store.DeleteApp, list: c.store.ListApps})
	mountResource(c, mux, api.PathPostureProfiles, resource[api.PostureProfile]{
		name: func(p api.PostureProfile) string { return p.Name }, validate: validateProfile,
		create: c.store.CreateProfile, update: c.store.UpdateProfile, get: c.store.GetProfile,
		del: c.store.DeleteProfile, list: c.store.ListProfiles})
	mountResource(c, mux, api.PathPolicies, resource[api.Policy]{
		name: func(p api.Policy) string { return p.Name }, validate: c.validatePolicy,
		create: c.store.CreatePolicy, update: c.store.UpdatePolicy, get: c.store.GetPolicy,
		del: c.store.DeletePolicy, list: c.store.ListPolicies})

	mux.HandleFunc("PUT "+api.PathGroups+"/{name}/members/{user}", c.admin(func(r *http.Request) (any, error) {
		return nil, c.changed(r.Context(), c.store.AddMember(r.Context(), r.PathValue("name"), r.PathValue("user")))
	}))
	mux.HandleFunc("DELETE "+api.PathGroups+"/{name}/members/{user}", c.admin(func(r *http.Request) (any, error) {
		return nil, c.changed(r.Context(), c.store.RemoveMember(r.Context(), r.PathValue("name"), r.PathValue("user")))
	}))
	mux.HandleFunc("POST "+api.PathEnrollmentTokens, c.admin(c.createEnrollmentToken))
	mux.HandleFunc("GET "+api.PathEnrollmentTokens, c.admin(func(r *http.Request) (any, error) {
		return c.store.ListEnrollmentTokens(r.Context())
	}))
	mux.HandleFunc("DELETE "+api.PathEnrollmentTokens+"/{id}", c.admin(c.revokeEnrollmentToken))
	mux.HandleFunc("POST "+api.PathAdminTokenRotate, c.admin(c.rotateAdminToken))
	mux.HandleFunc("GET "+api.PathDevices, c.admin(func(r *http.Request) (any, error) { return c.devices(r.Context()) }))
	mux.HandleFunc("DELETE "+api.PathDevices+"/{id}", c.admin(func(r *http.Request) (any, error) {
		return nil, c.deleteDevice(r.Context(), r.PathValue("id"))
	}))
	mux.HandleFunc("GET "+api.PathGrants, c.admin(func(r *http.Request) (any, error) { return c.grants.List(), nil }))
	mux.HandleFunc("GET "+api.PathGatewayPeers, c.admin(func(r *http.Request) (any, error) { return c.grants.GatewayPeers(r.Context()), nil }))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// resource is the shape every named admin object shares.
type resource[T any] struct {
	name     func(T) string
	validate func(context.Context, *T) error
	create   func(context.Context, T) error
	update   func(context.Context, T) error // nil: not updatable
	get      func(context.Context, string) (T, error)
	del      func(context.Context, string) error
	list     func(context.Context) ([]T, error)
}

func mountResource[T any](c *Controller, mux *http.ServeMux, path string, r resource[T]) {
	mux.HandleFunc("GET "+path, c.admin(func(req *http.Request) (any, error) { return r.list(req.Context()) }))
	mux.HandleFunc("GET "+path+"/{name}", c.admin(func(req *http.Request) (any, error) {
		return r.get(req.Context(), req.PathValue("name"))
	}))
	write := func(store func(context.Context, T) error, fromPath bool) http.HandlerFunc {
		return c.admin(func(req *http.Request) (any, error) {
			var v T
			if err := decodeBody(req, &v); err != nil {
				return nil, err
			}
			if fromPath && r.name(v) != req.PathValue("name") {
				return nil, badRequest("name in body %q does not match the path %q", r.name(v), req.PathValue("name"))
			}
			if err := r.validate(req.Context(), &v); err != nil {
				return nil, err
			}
			if err := c.changed(req.Context(), store(req.Context(), v)); err != nil {
				return nil, err
			}
			return r.get(req.Context(), r.name(v))
		})
	}
	mux.HandleFunc("POST "+path, write(r.create, false))
	if r.update != nil {
		mux.HandleFunc("PUT "+path+"/{name}", write(r.update, true))
	}
	mux.HandleFunc("DELETE "+path+"/{name}", c.admin(func(req *http.Request) (any, error) {
		return nil, c.changed(req.Context(), r.del(req.Context(), req.PathValue("name")))
	}))
}

// changed follows every successful admin write: rebuild the snapshot and
// re-decide every live grant at once.
func (c *Controller) changed(ctx context.Context, err error) error {
	if err != nil {
		return err
	}
	// The change is saved: see it through even if the admin's client goes.
	ctx = context.WithoutCancel(ctx)
	if err := c.reload(ctx); err != nil {
		c.policyStale.Store(true) // the renewal loop retries; nothing renews until then
		return fmt.Errorf("change saved, but reloading policy failed (the controller retries and renews no grant until it succeeds): %w", err)
	}
	c.redecideAll(ctx)
	return nil
}

// admin wraps a handler with the bearer-token check and JSON answers.
func (c *Controller) admin(h func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !c.isAdmin(tok) {
			c.log.Warn("admin request refused: bad token", "method", clip(r.Method), "path", clip(r.URL.Path), "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, "missing or wrong admin token: pass it as `Authorization: Bearer <token>` (gatehouse admin --token)")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxAdminBodyBytes)
		if r.Method != http.MethodGet {
			// One admin write at a time: validation reads the store and the
			// policy snapshot must be rebuilt from the state the write left.
			c.adminMu.Lock()
			defer c.adminMu.Unlock()
		}
		v, err := h(r)
		if err != nil {
			status := statusOf(err)
			if status >= 500 {
				c.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			} else {
				c.log.Info("admin request rejected", "method", r.Method, "path", r.URL.Path, "err", err)
			}
			writeError(w, status, err.Error())
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSONResponse(w, http.StatusOK, v)
	}
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, store.ErrExists):
		return http.StatusConflict
	case errors.Is(err, store.ErrTokenUnknown), errors.Is(err, store.ErrTokenExpired), errors.Is(err, store.ErrTokenUsed):
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSONResponse(w, status, api.ErrorResponse{Error: msg})
}

func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeBody reads one JSON object, refusing unknown fields and trailing
// data, so that a typo is an error rather than a silently ignored setting.
// The caller limits r.Body with http.MaxBytesReader.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return fmt.Errorf("%w: the limit here is %d bytes", errTooLarge, tooLarge.Limit)
		}
		return badRequest("malformed JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("malformed JSON body: more than one JSON value")
	}
	return nil
}

var (
	nameRE    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,62}$`)
	versionRE = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,9}){0,5}$`)
)

func validName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return badRequest("%s name %q: use 1-63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", kind, name)
	}
	return nil
}

func (c *Controller) validateUser(_ context.Context, u *api.User) error {
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
func (c *Controller) validateApp(ctx context.Context, a *api.App) error {
	if err := validName("app", a.Name); err != nil {
		return err
	}
	if a.Protocol == "" {
		a.Protocol = "tcp"
	}
	if a.Protocol != "tcp" {
		return badRequest("app %q: protocol %q is not supported yet; use tcp", a.Name, a.Protocol)
	}
	if a.Gateway == "" {
		a.Gateway = EmbeddedGateway
	}
	// A gateway may register after its apps are made: any valid name is
	// taken, and grants wait for it to be online.
	if !nameRE.MatchString(a.Gateway) {
		return badRequest("app %q: gateway name %q: use 1-63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", a.Name, a.Gateway)
	}
	if len(a.Upstreams) == 0 {
		return badRequest("app %q needs at least one upstream host:port", a.Name)
	}
	ports := map[uint64]bool{}
	for i, up := range a.Upstreams {
		host, port, err := net.SplitHostPort(up)
		if err != nil || host == "" {
			return badRequest("app %q: upstream %q is not host:port", a.Name, up)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 || strconv.FormatUint(p, 10) != port {
			return badRequest("app %q: upstream %q: port must be a number from 1 to 65535", a.Name, up)
		}
		if ports[p] {
			return badRequest("app %q: two upstreams use port %d; each port of an app maps to one upstream", a.Name, p)
		}
		ports[p] = true
		a.Upstreams[i] = net.JoinHostPort(host, port)
	}
	existing, err := c.store.GetApp(ctx, a.Name)
	switch {
	case err == nil:
		a.VirtualIP = existing.VirtualIP
	case errors.Is(err, store.ErrNotFound):
		ip, err := c.freeVirtualIP(ctx)
		if err != nil {
			return err
		}
		a.VirtualIP = ip.String()
	default:
		return err
	}
	return nil
}

func (c *Controller) freeVirtualIP(ctx context.Context) (netip.Addr, error) {
	apps, err := c.store.ListApps(ctx)
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
		return badRequest("posture profile %q: os_family %q must be linux, darwin or windows", p.Name, p.OSFamily)
	}
	for field, v := range map[string]string{"min_kernel": p.MinKernel, "min_os_version": p.MinOSVersion} {
		if v != "" && !versionRE.MatchString(v) {
			return badRequest("posture profile %q: %s %q is not a version like 6.1 or 14.2.1", p.Name, field, v)
		}
	}
	for _, proc := range p.RequiredProcesses {
		if proc == "" || strings.ContainsAny(proc, "/\x00") {
			return badRequest("posture profile %q: required process %q must be a process name", p.Name, proc)
		}
	}
	return nil
}

// validatePolicy refuses references to apps and profiles that do not exist
// (groups may be empty or filled later).
func (c *Controller) validatePolicy(ctx context.Context, p *api.Policy) error {
	if err := validName("policy", p.Name); err != nil {
		return err
	}
	if len(p.Groups) == 0 || len(p.Apps) == 0 {
		return badRequest("policy %q needs at least one group and one app", p.Name)
	}
	for _, g := range p.Groups {
		if err := validName("group", g); err != nil {
			return err
		}
	}
	for _, a := range p.Apps {
		if _, err := c.store.GetApp(ctx, a); err != nil {
			return badRequest("policy %q: app %q: %v", p.Name, a, err)
		}
	}
	for _, n := range p.PostureProfiles {
		if _, err := c.store.GetProfile(ctx, n); err != nil {
			return badRequest("policy %q: posture profile %q: %v", p.Name, n, err)
		}
	}
	return nil
}

func (c *Controller) createEnrollmentToken(r *http.Request) (any, error) {
	var req api.EnrollmentTokenRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if _, err := c.store.GetUser(r.Context(), req.User); err != nil {
		return nil, badRequest("enrollment token for user %q: %v", req.User, err)
	}
	ttl := time.Duration(req.TTL)
	if ttl == 0 {
		ttl = time.Hour
	}
	if ttl < time.Second || ttl > MaxEnrollmentTokenTTL {
		return nil, badRequest("enrollment token ttl %s must be between 1s and %s (7 days); make a new token when it runs out", ttl, MaxEnrollmentTokenTTL)
	}
	secret, err := newSecret("ghe_")
	if err != nil {
		return nil, err
	}
	t := api.EnrollmentToken{ID: newID("et_"), User: req.User, ExpiresAt: time.Now().Add(ttl).UTC()}
	if err := c.store.CreateEnrollmentToken(r.Context(), t, hashSecret(secret)); err != nil {
		return nil, err
	}
	c.log.Info("enrollment token created", "id", t.ID, "user", t.User, "expires_at", t.ExpiresAt)
	t.Token = secret
	return t, nil
}

// revokeEnrollmentToken deletes a token so it can no longer enroll a
// device; devices it already enrolled stay.
func (c *Controller) revokeEnrollmentToken(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := c.store.DeleteEnrollmentToken(r.Context(), id); err != nil {
		return nil, err
	}
	c.log.Info("enrollment token revoked", "id", id)
	return nil, nil
}

// rotateAdminToken replaces the admin token: the one that made this
// request stops working at once.
func (c *Controller) rotateAdminToken(r *http.Request) (any, error) {
	tok, err := c.newAdminToken(r.Context())
	if err != nil {
		return nil, fmt.Errorf("rotate admin token: %w", err)
	}
	c.log.Info("admin token rotated", "remote", r.RemoteAddr)
	return api.AdminToken{Token: tok}, nil
}

var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,253}$`)

// validHostname keeps what an admin later sees in `gatehouse admin devices
// list` to plain characters: no terminal escapes, no look-alikes.
func validHostname(h string) error {
	if !hostnameRE.MatchString(h) {
		return badRequest("device hostname %q: use 1-253 letters, digits, '.', '-' or '_' (gatehouse-agent enroll --hostname NAME)", clip(h))
	}
	return nil
}

// handleEnroll turns a single-use token into a device bound to its user.
func (c *Controller) handleEnroll(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxEnrollBodyBytes)
	var req api.EnrollRequest
	err := decodeBody(r, &req)
	if err == nil {
		var pub []byte
		pub, err = base64.StdEncoding.DecodeString(req.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			err = badRequest("device public key must be a base64 Ed25519 key")
		}
	}
	if err == nil {
		err = validHostname(req.Hostname)
	}
	var dev api.Device
	if err == nil {
		dev, err = c.store.EnrollDevice(r.Context(), hashSecret(req.Token), time.Now(), api.Device{
			ID: newID("dev_"), Hostname: req.Hostname, PublicKey: req.PublicKey, EnrolledAt: time.Now().UTC()})
	}
	if err != nil {
		c.log.Warn("enrollment refused", "remote", r.RemoteAddr, "hostname", clip(req.Hostname), "err", clip(err.Error()))
		msg := err.Error()
		if statusOf(err) == http.StatusForbidden {
			msg += ": ask an admin for a new enrollment token"
		}
		writeError(w, statusOf(err), msg)
		return
	}
	c.log.Info("device enrolled", "device", dev.ID, "user", dev.User, "hostname", dev.Hostname)
	writeJSONResponse(w, http.StatusOK, api.EnrollResponse{DeviceID: dev.ID, User: dev.User})
}

func (c *Controller) devices(ctx context.Context) ([]api.Device, error) {
	devs, err := c.store.ListDevices(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range devs {
		devs[i].Online = c.links[devs[i].ID] != nil
		devs[i].Posture = c.posture[devs[i].ID].report
	}
	return devs, nil
}

// deleteDevice forgets a device and ends its link and grants.
func (c *Controller) deleteDevice(ctx context.Context, id string) error {
	if err := c.store.DeleteDevice(ctx, id); err != nil {
		return err
	}
	c.forgetDevices(ctx, []string{id}, []api.Reason{{Code: api.CodeDeviceDeleted, Message: "an admin removed this device",
		Remediation: "Enroll the device again with a new enrollment token"}})
	return nil
}

// deleteUser deletes the user with their devices, and ends those devices'
// links and grants: a user re-created under the same name starts with
// no devices.
func (c *Controller) deleteUser(ctx context.Context, name string) error {
	devs, err := c.store.ListDevices(ctx)
	if err != nil {
		return err
	}
	if err := c.store.DeleteUser(ctx, name); err != nil {
		return err
	}
	var ids []string
	for _, d := range devs {
		if d.User == name {
			ids = append(ids, d.ID)
		}
	}
	c.forgetDevices(ctx, ids, []api.Reason{{Code: api.CodeUserDeleted, Message: "an admin removed your account",
		Remediation: "Ask an admin to restore your account, then enroll again"}})
	return nil
}

// forgetDevices drops the hot state of devices that are gone from the
// store: their links end and their grants are revoked with reasons.
func (c *Controller) forgetDevices(ctx context.Context, ids []string, reasons []api.Reason) {
	// Retired first: a grant request in flight on these links is not
	// kept; the links stay findable until the revocations reach them.
	c.mu.Lock()
	for _, id := range ids {
		if s := c.links[id]; s != nil {
			s.retired = true
		}
		delete(c.posture, id)
		delete(c.asked, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.grants.RevokeDevice(ctx, id, reasons)
	}
	var links []*agentLink
	c.mu.Lock()
	for _, id := range ids {
		if s := c.links[id]; s != nil {
			delete(c.links, id)
			links = append(links, s)
		}
	}
	c.mu.Unlock()
	for _, s := range links {
		s.close("device removed by an admin")
	}
}
