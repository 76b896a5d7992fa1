package policy

import (
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// The identity half of a decision: who is at the keyboard, on which
// device, signed in how and how long ago. Every message ends with the fix.

// signInAgain is the fix for every missing, dead or stale session.
const signInAgain = "sign in again: gatehouse login"

// reason is a denial whose message ends with its fix, which is also the
// remediation.
func reason(code, what, fix string) api.Reason {
	return api.Reason{Code: code, Message: what + ": " + fix, Remediation: capitalize(fix)}
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// identityDenial is why in's user or device gets nothing, whatever the
// app: the user is disabled, the device is not approved, or an
// interactive device has no session.
func identityDenial(in Input) (api.Reason, bool) {
	switch {
	case in.Identity.Disabled:
		return reason(api.CodeUserDisabled, fmt.Sprintf("user %q is disabled", in.Identity.User),
			"ask an admin to enable your account"), true
	case in.Device.State == DeviceBlocked:
		return reason(api.CodeDeviceBlocked, fmt.Sprintf("device %q is blocked", in.Device.ID),
			"ask an admin why, and to unblock it (gatehouse admin devices approve "+in.Device.ID+")"), true
	case in.Device.State != DeviceApproved:
		return reason(api.CodeDevicePending, fmt.Sprintf("device %q waits for an admin's approval", in.Device.ID),
			"ask an admin to approve it (gatehouse admin devices approve "+in.Device.ID+")"), true
	case in.Device.Interactive && in.Session == nil:
		return reason(api.CodeSignInRequired, "this device needs a signed-in user and nobody is signed in", signInAgain), true
	}
	return api.Reason{}, false
}

// needsSignIn reports whether p asks for a signed-in session: MFA or an
// age imply it.
func needsSignIn(p api.Policy) bool {
	return p.RequireSignIn || p.RequireMFA || p.MFAMaxAge > 0 || p.SessionMaxAge > 0
}

// signInDenial is why sess does not meet p's sign-in needs at now, in
// the order session.none, mfa.required, mfa.too_old, session.too_old.
func signInDenial(p api.Policy, sess *Session, now time.Time) (api.Reason, bool) {
	if !needsSignIn(p) {
		return api.Reason{}, false
	}
	mfaMax, sessMax := time.Duration(p.MFAMaxAge), time.Duration(p.SessionMaxAge)
	switch {
	case sess == nil:
		return reason(api.CodeSignInRequired, fmt.Sprintf("policy %q needs a signed-in user on this device", p.Name), signInAgain), true
	case (p.RequireMFA || mfaMax > 0) && sess.MFAAt.IsZero():
		return reason(api.CodeMFARequired, fmt.Sprintf("policy %q needs a second factor and this session has none", p.Name),
			signInAgain+" with your authenticator or passkey"), true
	case mfaMax > 0 && now.Sub(sess.MFAAt) > mfaMax:
		return reason(api.CodeMFATooOld, fmt.Sprintf("your second factor was used %v ago; policy %q allows %v",
			now.Sub(sess.MFAAt).Round(time.Minute), p.Name, mfaMax), signInAgain), true
	case sessMax > 0 && now.Sub(sess.AuthAt) > sessMax:
		return reason(api.CodeSessionTooOld, fmt.Sprintf("you signed in %v ago; policy %q allows %v",
			now.Sub(sess.AuthAt).Round(time.Minute), p.Name, sessMax), signInAgain), true
	}
	return api.Reason{}, false
}
