package identity

import (
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Errors of the Service, wrapped with a sentence saying what to do; test
// with errors.Is. Those that come from the store are the store's.
var (
	// ErrBadCredentials: unknown user, wrong password or wrong code; the
	// caller is not told which.
	ErrBadCredentials = errors.New("wrong user name, password or code")
	// ErrMFARequired: the password was right and the account has a second
	// factor: ask for the code. Or: an admin session without MFA.
	ErrMFARequired = errors.New("second factor required")
	// ErrThrottled: too many failed sign-ins; a *ThrottledError says when
	// to try again.
	ErrThrottled = errors.New("too many failed sign-ins")
	// ErrNoEnrolment: a TOTP confirmation without an enrolment under way.
	ErrNoEnrolment = errors.New("no TOTP enrolment under way")
	// ErrWeakPassword: the new password is too short or too long.
	ErrWeakPassword = errors.New("password not accepted")
	// ErrTokenInvalid: not a token this controller issued (or no longer
	// the current one).
	ErrTokenInvalid = errors.New("token not valid")
	// ErrTokenExpired: an API token past its expiry, or revoked.
	ErrTokenExpired = errors.New("token expired or revoked")
	// ErrDevicePending: the device waits for an admin's approval.
	ErrDevicePending = errors.New("device waiting for approval")
	// ErrForbidden: the principal's role does not allow the action.
	ErrForbidden = errors.New("not allowed")
	// ErrMFATooOld and ErrSessionTooOld: a policy wants a fresher sign-in.
	ErrMFATooOld     = errors.New("second factor too old")
	ErrSessionTooOld = errors.New("sign-in too old")

	ErrSessionExpired = store.ErrSessionExpired
	ErrSessionRevoked = store.ErrSessionRevoked
	ErrWrongDevice    = store.ErrWrongDevice
	ErrRefreshReused  = store.ErrRefreshReused
	ErrUserDisabled   = store.ErrUserDisabled
	ErrDeviceBlocked  = store.ErrDeviceBlocked
	ErrBootstrapDone  = store.ErrBootstrapDone
	ErrLastOwner      = store.ErrLastOwner
	ErrNotFound       = store.ErrNotFound
)

// signInAgain is the fix for every dead or stale session.
const signInAgain = "sign in again: gatehouse login"

// ThrottledError is ErrThrottled with the time to wait.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v: try again in %v", ErrThrottled, (e.RetryAfter + time.Second - 1).Truncate(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }
