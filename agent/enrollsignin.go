package agent

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/gatehouse-ztna/gatehouse/agent/keystore"
	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/wire"
)

// SignInEnrollOptions are the inputs of `gatehouse-agent login` on a
// device not enrolled yet.
type SignInEnrollOptions struct {
	StateDir   string
	Controller string // base URL, https://host:port
	CAFile     string // PEM of the controller's CA; empty for system roots
	Hostname   string
	Secrets    keystore.Store
	LocalUID   *int // as EnrollOptions.LocalUID
	// Show gets the page and the code to tell the user, once the
	// controller gave them; an error ends the sign-in.
	Show func(api.DeviceAuthorization) error
	// Clock times the polling; nil is the system clock.
	Clock Clock
}

// EnrollBySignIn enrolls this device by signing in: the device
// authorization request carries the new device key and hostname, the
// user finishes in the browser, and the answer names the device the
// controller made (pending when it wants an admin's approval). The device
// key and the session's tokens are stored, then the state. A device
// enrolled already is refused: it signs in through its running agent.
func EnrollBySignIn(ctx context.Context, o SignInEnrollOptions) (State, keystore.Tokens, error) {
	if st, err := LoadState(o.StateDir); err == nil {
		return st, keystore.Tokens{}, fmt.Errorf("this device is enrolled already (device %s with %s): "+
			"start the agent (gatehouse-agent run) and sign in with gatehouse login", st.DeviceID, st.Controller)
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	e, err := prepareEnrollment(o.StateDir, o.Controller, o.CAFile, o.LocalUID)
	if err != nil {
		return State{}, keystore.Tokens{}, err
	}
	form := wire.DeviceAuthorizationForm{DeviceKey: base64.StdEncoding.EncodeToString(e.pub), Hostname: o.Hostname}
	da, err := wire.StartDeviceAuthorization(ctx, e.client, e.st.Controller, form)
	if err != nil {
		return e.st, keystore.Tokens{}, err
	}
	if err := o.Show(da); err != nil {
		return e.st, keystore.Tokens{}, err
	}
	tr, err := waitForTokens(ctx, o.Clock, da, func(ctx context.Context, sleep wire.Sleep) (api.TokenResponse, error) {
		return wire.PollTokenWith(ctx, e.client, e.st.Controller, da.DeviceCode, da.Interval, sleep)
	})
	if err != nil {
		return e.st, keystore.Tokens{}, err
	}
	if tr.Device == nil || tr.Device.DeviceID != tr.DeviceID {
		return e.st, keystore.Tokens{}, errors.New("the controller signed you in but did not enroll this device; ask your admin")
	}
	t := keystore.NewTokens(tr.AccessToken, tr.RefreshToken, tr.ExpiresIn, o.Clock.Now())
	t.User = tr.User
	// The key and the tokens go first: a crash before the state leaves
	// an unenrolled device that signs in again.
	if err := o.Secrets.Set(deviceKeyName, e.priv); err != nil {
		return e.st, t, err
	}
	if err := keystore.SaveTokens(o.Secrets, t); err != nil {
		return e.st, t, err
	}
	st, err := e.save(o.Secrets, tr.DeviceID, tr.Device.User)
	return st, t, err
}
