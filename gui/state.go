package gui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// State is what the tray shows: the agent, its controller link, the
// sign-in, the apps and the posture checks. It is a value: the tray keeps
// the last one and draws every window from it.
type State struct {
	// AgentUp: the agent answers on its local API. When false nothing
	// else is known and the rest is empty.
	AgentUp bool
	// Connected: the agent's link to the controller is up; Problem says
	// why not (the agent's last error).
	Connected bool
	Problem   string
	SignIn    SignIn
	// DeviceUser is the user the device is enrolled to: who is served
	// where the policies need no sign-in.
	DeviceUser string
	Apps       []App
	Posture    []Check
}

// SignInStep is where the user's sign-in stands.
type SignInStep int

const (
	SignedOut     SignInStep = iota // no user; Ended may say why
	SignInPending                   // the browser flow waits for the user: URL and Code
	SignedIn                        // User is signed in
)

// SignIn is the device's signed-in session or the sign-in under way.
type SignIn struct {
	Step SignInStep
	User string
	// URL is the page to open (with the code in it when the IdP offers
	// that) and Code the code to enter there, while SignInPending.
	URL  string
	Code string
	// Ended says why the user is signed out (the last session ended, or
	// the last sign-in failed), with its fix; empty when nothing ended.
	Ended string
}

// App is one app the user may ask for.
type App struct {
	Name string
	// Addresses are where the app is reached: 127.0.0.1:PORT in proxy
	// mode, one per app port.
	Addresses []string
	Allowed   bool
	// Reasons say why the app is blocked, each with its fix.
	Reasons  []Reason
	TunnelUp bool
	// Access is the just-in-time state; Until is when approved access
	// ends (AccessApproved).
	Access AccessStep
	Until  time.Time
}

// Reason is why access is refused, and what to do about it.
type Reason struct {
	Code string // api's reason code, e.g. "posture.firewall"
	Text string // "the firewall is off"
	Fix  string // "Turn on the firewall: …"
}

// AccessStep is an app's just-in-time access.
type AccessStep int

const (
	AccessNone     AccessStep = iota // the app needs no request
	AccessRequired                   // a request is needed and none is approved
	AccessPending                    // a request waits for an approver
	AccessApproved                   // approved until App.Until
	AccessDenied                     // an approver denied the last request, or ended it early
	AccessExpired                    // the approved time ran out
)

// ExpiringWithin is how close to its end approved access shows as
// expiring.
const ExpiringWithin = 15 * time.Minute

// Expiring reports whether approved access ends within ExpiringWithin of now.
func (a App) Expiring(now time.Time) bool {
	return a.Access == AccessApproved && a.Until.Sub(now) <= ExpiringWithin
}

// JustInTime reports whether access to the app goes through requests.
func (a App) JustInTime() bool { return a.Access != AccessNone }

// BlockedByPosture reports whether a failing posture check is among the
// reasons the app is blocked.
func (a App) BlockedByPosture() bool {
	for _, r := range a.Reasons {
		if strings.HasPrefix(r.Code, "posture.") {
			return true
		}
	}
	return false
}

// CheckStatus is a posture check's outcome.
type CheckStatus int

const (
	CheckUnknown CheckStatus = iota // the fact is unknown: never a pass
	CheckPass
	CheckFail
	CheckWaived // failing or unknown, but an exception waives it until WaivedUntil
)

func (s CheckStatus) String() string {
	switch s {
	case CheckPass:
		return "pass"
	case CheckFail:
		return "fail"
	case CheckWaived:
		return "waived"
	}
	return "unknown"
}

// Check is one posture check of one profile.
type Check struct {
	Name   string // "firewall", or "profile: firewall" when several profiles ask
	Status CheckStatus
	Fact   string // the fact behind the outcome: "the firewall is off"
	Fix    string // the remediation, for a check that does not pass
	// WaivedUntil is the waiving exception's end (CheckWaived).
	WaivedUntil time.Time
}

// Look is the tray icon's state, most urgent first.
type Look int

const (
	LookAgentDown Look = iota // the agent does not answer
	LookSignedOut             // nobody is signed in (or a sign-in is under way)
	LookBlocked               // something is wrong: an app blocked by posture, a failing check, no controller link
	LookOK                    // connected, signed in, every check passes
)

// Look is the icon the state calls for.
func (s State) Look() Look {
	switch {
	case !s.AgentUp:
		return LookAgentDown
	case s.SignIn.Step == SignInPending, s.signedOut():
		return LookSignedOut
	case !s.Connected || len(s.PostureBlocked()) > 0 || s.failingChecks() > 0:
		return LookBlocked
	}
	return LookOK
}

// PostureBlocked names the apps that a posture check blocks.
func (s State) PostureBlocked() []string {
	var names []string
	for _, a := range s.Apps {
		if !a.Allowed && a.BlockedByPosture() {
			names = append(names, a.Name)
		}
	}
	return names
}

func (s State) failingChecks() int {
	n := 0
	for _, c := range s.Posture {
		if c.Status == CheckFail || c.Status == CheckUnknown {
			n++
		}
	}
	return n
}

// StatusLine is the one-line summary at the top of the menu and window.
func (s State) StatusLine() string {
	switch {
	case !s.AgentUp:
		return "Gatehouse agent is not running: start it (gatehouse service start)"
	case s.SignIn.Step == SignInPending:
		return fmt.Sprintf("Signing in: enter code %s in your browser", s.SignIn.Code)
	case s.signedOut():
		if s.SignIn.Ended != "" {
			return "Signed out: " + s.SignIn.Ended
		}
		return "Signed out: choose Sign in"
	case !s.Connected:
		line := fmt.Sprintf("Signed in as %s, not connected to the controller", s.user())
		if s.Problem != "" {
			line += ": " + s.Problem
		}
		return line
	}
	if blocked := s.PostureBlocked(); len(blocked) > 0 {
		return fmt.Sprintf("%s: %d of %d apps blocked by posture (see Posture…)", s.user(), len(blocked), len(s.Apps))
	}
	if n := s.failingChecks(); n > 0 {
		return fmt.Sprintf("%s: %d of %d posture checks do not pass (see Posture…)", s.user(), n, len(s.Posture))
	}
	return fmt.Sprintf("Connected as %s: all checks pass", s.user())
}

// signedOut: no one is signed in and that matters, because a session
// ended (Ended says why), an app is blocked for want of one, or there is
// no app at all. A device whose policies need no sign-in is served as its
// enrolled user while signed out.
func (s State) signedOut() bool {
	if s.SignIn.Step != SignedOut {
		return false
	}
	needs := func(a App) bool {
		return slices.ContainsFunc(a.Reasons, func(r Reason) bool { return r.Code == api.CodeSignInRequired })
	}
	return s.SignIn.Ended != "" || len(s.Apps) == 0 || slices.ContainsFunc(s.Apps, needs)
}

// user is who is served: the signed-in user, else the device's.
func (s State) user() string {
	if s.SignIn.User != "" {
		return s.SignIn.User
	}
	return s.DeviceUser
}

// FromAgent builds the tray's State from what the agent's local API
// answers. agentUp false (the agent did not answer) ignores the rest.
func FromAgent(status localapi.Status, apps []localapi.App, posture localapi.Posture, login localapi.Login, agentUp bool) State {
	if !agentUp {
		return State{}
	}
	s := State{AgentUp: true, Connected: status.Connected, Problem: status.LastError, DeviceUser: status.User}
	s.SignIn = signInOf(status.Session, login)
	for _, a := range apps {
		s.Apps = append(s.Apps, appOf(a))
	}
	profiles := map[string]bool{}
	for _, c := range posture.Checks {
		profiles[c.Profile] = true
	}
	for _, c := range posture.Checks {
		s.Posture = append(s.Posture, checkOf(c, len(profiles) > 1))
	}
	return s
}

func signInOf(session localapi.Session, login localapi.Login) SignIn {
	switch {
	case session.SignedIn:
		return SignIn{Step: SignedIn, User: session.User}
	case login.State == localapi.LoginPending:
		url := login.VerificationURIComplete
		if url == "" {
			url = login.VerificationURI
		}
		return SignIn{Step: SignInPending, URL: url, Code: login.UserCode}
	case login.State == localapi.LoginFailed:
		return SignIn{Step: SignedOut, Ended: "sign-in failed: " + login.Error}
	case session.Ended != nil:
		return SignIn{Step: SignedOut, Ended: reasonText(reasonOf(*session.Ended))}
	}
	return SignIn{Step: SignedOut}
}

func appOf(a localapi.App) App {
	out := App{Name: a.Name, Addresses: a.LocalAddrs, Allowed: a.Allowed, TunnelUp: a.TunnelUp}
	for _, r := range a.Reasons {
		out.Reasons = append(out.Reasons, reasonOf(r))
		if step, ok := accessSteps[r.Code]; ok && out.Access == AccessNone {
			out.Access = step
		}
	}
	if a.Allowed && !a.AccessUntil.IsZero() {
		out.Access, out.Until = AccessApproved, a.AccessUntil
	}
	return out
}

// accessSteps maps the just-in-time reason codes to the app's access step.
var accessSteps = map[string]AccessStep{
	api.CodeAccessRequired: AccessRequired,
	api.CodeAccessPending:  AccessPending,
	api.CodeAccessDenied:   AccessDenied,
	api.CodeAccessExpired:  AccessExpired,
}

func reasonOf(r api.Reason) Reason {
	return Reason{Code: r.Code, Text: r.Message, Fix: r.Remediation}
}

// reasonText is "text (fix)", or the text alone when there is no fix.
func reasonText(r Reason) string {
	if r.Fix == "" {
		return r.Text
	}
	return r.Text + " (" + r.Fix + ")"
}

func checkOf(c api.CheckResult, withProfile bool) Check {
	out := Check{Name: c.Check, Fact: c.Reason.Message, WaivedUntil: c.WaivedUntil}
	if withProfile {
		out.Name = c.Profile + ": " + c.Check
	}
	switch c.Status {
	case api.CheckPass:
		out.Status = CheckPass
	case api.CheckFail:
		out.Status = CheckFail
	case api.CheckWaived:
		out.Status = CheckWaived
	default:
		out.Status = CheckUnknown // unknown, or a status this tray does not know: never a pass
	}
	if out.Status != CheckPass {
		out.Fix = c.Reason.Remediation
	}
	return out
}
