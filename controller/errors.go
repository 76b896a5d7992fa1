package controller

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gatehouse-ztna/gatehouse/controller/identity"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// The kinds of error the core's operations fail with. Every error an
// operation returns for the caller to fix wraps one of them (test with
// errors.Is); the transport maps each to its status (controller/httpapi:
// 400, 404, 409, 403, 401, 403) without reading messages. Anything else is
// the controller's fault.
var (
	// ErrInvalid: the input is wrong; the message says how to fix it.
	ErrInvalid = errors.New("bad request")
	// ErrNotFound: the named object does not exist.
	ErrNotFound = store.ErrNotFound
	// ErrConflict: an object of that name already exists.
	ErrConflict = store.ErrExists
	// ErrTokenRefused: an enrollment token (device or gateway) is unknown,
	// expired or already used; the message says which.
	ErrTokenRefused = errors.New("enrollment token refused")
	// ErrUnauthenticated: the credential proves no one.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrForbidden: the actor may not do this (identity's: its role does
	// not allow it).
	ErrForbidden = identity.ErrForbidden
)

// Invalid is an ErrInvalid error with a message for the caller.
func Invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// kindError tags err with one of the kinds above and keeps its message.
type kindError struct{ kind, err error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.kind, e.err} }

// tokenRefused tags the store's token errors as ErrTokenRefused.
func tokenRefused(err error) error {
	if errors.Is(err, store.ErrTokenUnknown) || errors.Is(err, store.ErrTokenExpired) || errors.Is(err, store.ErrTokenUsed) {
		return kindError{ErrTokenRefused, err}
	}
	return err
}

// logMax is how much of any one field an unauthenticated client controls
// that goes into a log line or an error message.
const logMax = 128

// Clip shortens s for a log line or an error message so that a client
// cannot grow either by more than logMax bytes per field; what was cut is
// said. (The slog text handler quotes the result, escaping control
// characters.)
func Clip(s string) string {
	if len(s) <= logMax {
		return s
	}
	cut := logMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…(%d bytes)", s[:cut], len(s))
}
