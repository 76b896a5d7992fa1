package gui

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"fyne.io/fyne/v2"

	"github.com/gatehouse-ztna/gatehouse/agent/localapi"
	"github.com/gatehouse-ztna/gatehouse/api"
)

// Actions are what the user can ask for from the tray. The tray calls
// them off its UI goroutine; their outcome reaches the windows through the
// next State (the agent's stream), their error at once.
type Actions interface {
	// SignIn starts the browser sign-in (the device authorization grant)
	// and returns the page to open and the code to enter there.
	SignIn(ctx context.Context) (SignIn, error)
	// SignOut ends the signed-in session.
	SignOut(ctx context.Context) error
	// RequestAccess asks for just-in-time access to app for d, saying why.
	RequestAccess(ctx context.Context, app, reason string, d time.Duration) error
	// OpenURL opens a web page in the user's browser.
	OpenURL(u string) error
	// Copy puts text on the clipboard.
	Copy(text string)
}

// LocalActions are the Actions over the agent's local API; the browser and
// the clipboard are the running fyne app's.
type LocalActions struct {
	Agent *localapi.Client
}

var _ Actions = LocalActions{}

func (l LocalActions) SignIn(ctx context.Context) (SignIn, error) {
	login, err := l.Agent.Login(ctx)
	if err != nil {
		return SignIn{}, fmt.Errorf("could not start the sign-in: %w", err)
	}
	s := signInOf(localapi.Session{}, login)
	if s.Step != SignInPending {
		return s, fmt.Errorf("the agent did not start a sign-in: %s", s.Ended)
	}
	return s, nil
}

func (l LocalActions) SignOut(ctx context.Context) error {
	out, err := l.Agent.Logout(ctx)
	if err != nil {
		return fmt.Errorf("could not sign out: %w", err)
	}
	if out.Warning != "" {
		return fmt.Errorf("signed out on this device, but: %s", out.Warning)
	}
	return nil
}

func (l LocalActions) RequestAccess(ctx context.Context, app, reason string, d time.Duration) error {
	_, err := l.Agent.RequestAccess(ctx, api.AccessRequestInput{App: app, Reason: reason, For: api.Duration(d)})
	return err
}

func (LocalActions) OpenURL(u string) error {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") {
		return fmt.Errorf("not opening %q: only web pages (http, https) are opened", u)
	}
	return fyne.CurrentApp().OpenURL(parsed)
}

func (LocalActions) Copy(text string) {
	fyne.CurrentApp().Clipboard().SetContent(text)
}
