package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/policyfile"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// PolicyFiles is policy as code (controller/policyfile): the live
// groups, apps, posture profiles, policies and exceptions written as one
// file, a file's plan against them (changes and test results), and
// applying a file in one store transaction.
type PolicyFiles struct {
	store  store.Store       // users, apps and devices the checks read
	policy store.PolicyStore // the state read and replaced as a whole
	writes *sync.Mutex       // the controller's adminMu: one admin write at a time
	commit func(context.Context, Change) error
	now    func() time.Time
}

// policyAreas are the role matrix's areas a policy file covers: reading
// it needs read on all, applying it write on all.
var policyAreas = []identity.Area{identity.AreaUsers, identity.AreaApps, identity.AreaPolicies}

func mayAll(who Actor, verb identity.Verb) error {
	for _, a := range policyAreas {
		if err := who.may(a, verb); err != nil {
			return err
		}
	}
	return nil
}

// Export is the live policy as a file, with its version.
func (p *PolicyFiles) Export(ctx context.Context, who Actor) (api.PolicyExport, error) {
	if err := mayAll(who, identity.Read); err != nil {
		return api.PolicyExport{}, err
	}
	live, err := p.policy.ReadPolicy(ctx)
	if err != nil {
		return api.PolicyExport{}, err
	}
	objs := policyfile.Objects(live)
	return api.PolicyExport{Version: policyfile.Version(objs), Source: string(policyfile.Format(objs))}, nil
}

// Plan parses and checks the file, runs its tests and lists what
// applying it would change against the live policy. Nothing changes.
func (p *PolicyFiles) Plan(ctx context.Context, who Actor, req api.PolicyFileRequest) (api.PolicyPlan, error) {
	if err := mayAll(who, identity.Read); err != nil {
		return api.PolicyPlan{}, err
	}
	f, err := p.load(ctx, req)
	if err != nil {
		return api.PolicyPlan{}, err
	}
	live, err := p.policy.ReadPolicy(ctx)
	if err != nil {
		return api.PolicyPlan{}, err
	}
	objs := policyfile.Objects(live)
	stampExceptions(f.Objects.Exceptions, live.Exceptions, who, p.now())
	plan := api.PolicyPlan{Version: policyfile.Version(objs), Changes: nonNil(policyfile.Diff(objs, f.Objects))}
	if plan.Tests, err = p.run(ctx, f); err != nil {
		return api.PolicyPlan{}, err
	}
	return plan, nil
}

// Apply makes the live policy the file's, if every test of the file
// passes and the live policy is still at req.Version (the plan's): in
// one store transaction, followed by one reload and re-decision of every
// live grant. On any failure nothing changes.
func (p *PolicyFiles) Apply(ctx context.Context, who Actor, req api.PolicyFileRequest) (api.PolicyPlan, Change, error) {
	if err := mayAll(who, identity.Write); err != nil {
		return api.PolicyPlan{}, Change{}, err
	}
	if req.Version == "" {
		return api.PolicyPlan{}, Change{}, Invalid("say which live policy version your plan was made against (version; `gatehouse admin policy apply` sends the one its diff showed)")
	}
	p.writes.Lock()
	defer p.writes.Unlock()
	f, err := p.load(ctx, req)
	if err != nil {
		return api.PolicyPlan{}, Change{}, err
	}
	plan := api.PolicyPlan{Version: req.Version}
	if plan.Tests, err = p.run(ctx, f); err != nil {
		return api.PolicyPlan{}, Change{}, err
	}
	if failed := failures(plan.Tests); failed != "" {
		return plan, Change{}, Invalid("%s; nothing was applied: fix the policy or the tests, then apply again", failed)
	}
	stampExceptions(f.Objects.Exceptions, nil, who, p.now())
	err = p.policy.ReplacePolicy(ctx, store.PolicyState(f.Objects), func(live store.PolicyState) error {
		objs := policyfile.Objects(live)
		stampExceptions(f.Objects.Exceptions, live.Exceptions, who, p.now())
		if v := policyfile.Version(objs); v != req.Version {
			return fmt.Errorf("%w: the live policy changed since your plan (it was version %s, it is %s now); nothing was applied: "+
				"run `gatehouse admin policy diff FILE` again to see the new changes, then apply", ErrConflict, req.Version, v)
		}
		plan.Changes = nonNil(policyfile.Diff(objs, f.Objects))
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return api.PolicyPlan{}, Change{}, Invalid("%v; nothing was applied", err)
	case err != nil:
		return api.PolicyPlan{}, Change{}, err
	}
	plan.Applied = true
	plan.NewVersion = policyfile.Version(f.Objects)
	ch := Change{Kind: Updated, Object: ObjectPolicy, Name: "policy file " + plan.NewVersion, By: who}
	if len(plan.Changes) == 0 {
		return plan, ch, nil // nothing changed: nothing to re-decide
	}
	return plan, ch, p.commit(ctx, ch)
}

// stampExceptions gives the file's exceptions (want) their records of
// who made them and when: a live one's own, a new one's who and now. A
// file's created_by and created_at are ignored, so an exported file
// applies as is and a hand-written one need not say them.
func stampExceptions(want, live []api.Exception, who Actor, now time.Time) {
	byID := map[string]api.Exception{}
	for _, e := range live {
		byID[e.ID] = e
	}
	for i := range want {
		if l, ok := byID[want[i].ID]; ok {
			want[i].CreatedBy, want[i].CreatedAt = l.CreatedBy, l.CreatedAt
		} else {
			want[i].CreatedBy, want[i].CreatedAt = who.String(), now.UTC()
		}
	}
}

// load parses and checks req's file with the controller's own checks.
func (p *PolicyFiles) load(ctx context.Context, req api.PolicyFileRequest) (*policyfile.File, error) {
	name := req.Name
	if name == "" {
		name = "policy"
	}
	f, err := policyfile.Parse(Clip(name), []byte(req.Source))
	if err != nil {
		return nil, fileError(err)
	}
	c, err := p.checker(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := f.Check(ctx, c); err != nil {
		return nil, fileError(err)
	}
	return f, nil
}

// fileError makes a file's errors ErrInvalid, keeping their text.
func fileError(err error) error {
	var es policyfile.Errors
	if errors.As(err, &es) {
		return kindError{ErrInvalid, fmt.Errorf("the policy file has %d problem(s); nothing was changed:\n%w", len(es), err)}
	}
	return err
}

// run runs f's tests against the live users.
func (p *PolicyFiles) run(ctx context.Context, f *policyfile.File) ([]api.PolicyTestResult, error) {
	users, err := p.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	return nonNil(f.Run(ctx, users, p.now())), nil
}

// failures says how many tests failed, and which, or "" if none did.
func failures(rs []api.PolicyTestResult) string {
	var names []string
	for _, r := range rs {
		if !r.Passed {
			names = append(names, fmt.Sprintf("%q (%s)", r.Name, r.Failure))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d tests fail: %s", len(names), len(rs), strings.Join(names, "; "))
}

func nonNil[T any](l []T) []T {
	if l == nil {
		return []T{}
	}
	return l
}

// fileChecker runs the admin API's checks (validate.go) on a file's
// objects. Apps keep their live virtual IPs and new ones get free
// addresses; policies' references are to the file's apps and profiles.
type fileChecker struct {
	users      map[string]bool
	devices    map[string]bool
	exceptions map[string]api.Exception // the live ones, by ID
	now        time.Time
	live       *fileApps // what validateApp reads: the live apps, then those checked
	file       *fileRefs // what validatePolicy reads: the file's apps and profiles
}

var _ policyfile.Checker = (*fileChecker)(nil)

func (p *PolicyFiles) checker(ctx context.Context, f *policyfile.File) (*fileChecker, error) {
	users, err := p.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	devs, err := p.store.ListDevices(ctx)
	if err != nil {
		return nil, err
	}
	liveApps, err := p.store.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	liveExc, err := p.policy.ReadPolicy(ctx)
	if err != nil {
		return nil, err
	}
	c := &fileChecker{users: map[string]bool{}, devices: map[string]bool{}, exceptions: map[string]api.Exception{}, now: p.now(),
		live: &fileApps{byName: map[string]api.App{}}, file: &fileRefs{apps: map[string]bool{}, profiles: map[string]bool{}}}
	for _, u := range users {
		c.users[u.Name] = true
	}
	for _, d := range devs {
		c.devices[d.ID] = true
	}
	for _, e := range liveExc.Exceptions {
		c.exceptions[e.ID] = e
	}
	for _, a := range liveApps {
		c.live.byName[a.Name] = a
		c.live.all = append(c.live.all, a)
	}
	for _, a := range f.Apps {
		c.file.apps[a.Name] = true
	}
	for _, pr := range f.Profiles {
		c.file.profiles[pr.Name] = true
	}
	return c, nil
}

// plain is err without the "bad request: " of Invalid: the file's
// errors are all ErrInvalid already (fileError).
func plain(err error) error {
	if msg, ok := strings.CutPrefix(fmt.Sprint(err), ErrInvalid.Error()+": "); ok {
		return errors.New(msg)
	}
	return err
}

func (c *fileChecker) Group(_ context.Context, g *api.Group) error {
	return plain(validName("group", g.Name))
}

func (c *fileChecker) App(ctx context.Context, a *api.App) error {
	if err := validateApp(ctx, c.live, a); err != nil {
		return plain(err)
	}
	c.live.all = append(c.live.all, *a) // its address is taken for the next new app
	return nil
}

func (c *fileChecker) Profile(ctx context.Context, p *api.PostureProfile) error {
	return plain(validateProfile(ctx, p))
}

func (c *fileChecker) Policy(ctx context.Context, p *api.Policy) error {
	return plain(validatePolicy(ctx, c.file, p))
}

func (c *fileChecker) User(_ context.Context, name string) error {
	if !c.users[name] {
		return fmt.Errorf("there is no user %q: users come from sign-up or the identity provider (or gatehouse admin users create %s); the file only puts them in groups", name, name)
	}
	return nil
}

// Exception runs the exceptions room's own checks (validateException)
// on a file's exception. One the live policy holds unchanged passes as
// it is, so an exported file with an expired exception (kept until an
// admin deletes it) applies again.
func (c *fileChecker) Exception(_ context.Context, x *api.Exception) error {
	if l, ok := c.exceptions[x.ID]; ok && sameException(l, *x) {
		return nil
	}
	if err := plain(validateException(x, c.now)); err != nil {
		return err
	}
	if err := plain(validName("exception", x.ID)); err != nil {
		return err
	}
	switch {
	case x.User != "" && !c.users[x.User]:
		return fmt.Errorf("there is no user %q", x.User)
	case x.Device != "" && !c.devices[x.Device]:
		return fmt.Errorf("there is no device %q (gatehouse admin devices list)", x.Device)
	}
	return nil
}

// sameException compares what a file says of an exception, its records
// of who made it and when aside.
func sameException(a, b api.Exception) bool {
	a.CreatedBy, a.CreatedAt, b.CreatedBy, b.CreatedAt = "", time.Time{}, "", time.Time{}
	return a.ID == b.ID && a.User == b.User && a.Device == b.Device && slices.Equal(a.Checks, b.Checks) &&
		a.Owner == b.Owner && a.Reason == b.Reason && a.ExpiresAt.Equal(b.ExpiresAt)
}

// fileApps answers validateApp's two questions, an app's live virtual
// IP and the addresses taken, from the live apps and those of the file
// checked so far. Its other Store methods are never called (nil).
type fileApps struct {
	store.Store
	byName map[string]api.App
	all    []api.App
}

func (s *fileApps) GetApp(_ context.Context, name string) (api.App, error) {
	if a, ok := s.byName[name]; ok {
		return a, nil
	}
	return api.App{}, fmt.Errorf("app %q: %w", name, store.ErrNotFound)
}

func (s *fileApps) ListApps(context.Context) ([]api.App, error) { return s.all, nil }

// fileRefs answers validatePolicy's questions, whether an app or a
// profile exists, from the file. Its other Store methods are never
// called (nil).
type fileRefs struct {
	store.Store
	apps, profiles map[string]bool
}

func (s *fileRefs) GetApp(_ context.Context, name string) (api.App, error) {
	if s.apps[name] {
		return api.App{Name: name}, nil
	}
	return api.App{}, fmt.Errorf("app %q: %w (the file does not declare it)", name, store.ErrNotFound)
}

func (s *fileRefs) GetProfile(_ context.Context, name string) (api.PostureProfile, error) {
	if s.profiles[name] {
		return api.PostureProfile{Name: name}, nil
	}
	return api.PostureProfile{}, fmt.Errorf("posture profile %q: %w (the file does not declare it)", name, store.ErrNotFound)
}
