package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// PasswordParams are argon2id's cost parameters. A stored hash carries the
// ones it was made with; a hash made with others than the Service's is
// replaced at the next successful sign-in.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultPasswordParams follow RFC 9106's second recommendation (64 MiB,
// 3 passes) with 2 lanes; docs/identity.md has the measured cost.
var DefaultPasswordParams = PasswordParams{Memory: 64 * 1024, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32}

// Limits on passwords (NIST SP 800-63B: at least 8, allow at least 64).
const (
	MinPasswordLen = 12   // characters
	MaxPasswordLen = 1024 // bytes
)

// Bounds a stored hash's parameters must keep: a tampered row must not make
// a sign-in allocate gigabytes or spin for minutes.
const (
	maxMemory  = 1 << 20 // KiB: 1 GiB
	maxTime    = 16
	maxThreads = 16
)

var b64 = base64.RawStdEncoding

// checkNewPassword says why pw cannot be a password, or nil.
func checkNewPassword(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		return fmt.Errorf("%w: it has %d characters; use at least %d (a passphrase of a few words is easiest)", ErrWeakPassword, n, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: it is over %d bytes", ErrWeakPassword, MaxPasswordLen)
	}
	return nil
}

// HashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<key>, base64 without padding.
func HashPassword(p PasswordParams, password string) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword says whether password matches the PHC string encoded
// (compared in constant time) and, if it does, whether encoded was made
// with other parameters than want and should be replaced. An error means
// encoded is not a hash this package can check.
func VerifyPassword(want PasswordParams, encoded, password string) (ok, rehash bool, err error) {
	p, salt, key, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p != want, nil
}

// parsePHC reads an argon2id PHC string.
func parsePHC(encoded string) (p PasswordParams, salt, key []byte, err error) {
	bad := func(why string) (PasswordParams, []byte, []byte, error) {
		return PasswordParams{}, nil, nil, fmt.Errorf("stored password hash: %s (set the password again)", why)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("unknown argon2 version " + parts[2])
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, threads) != parts[3] {
		return bad("parameters " + parts[3])
	}
	if p.Memory < 8*threads || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || threads < 1 || threads > maxThreads {
		return bad("parameters out of bounds: " + parts[3])
	}
	p.Threads = uint8(threads)
	if salt, err = b64.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return bad("salt")
	}
	if key, err = b64.Strict().DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return bad("key")
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// errNoPassword: the account has no built-in password (an IdP user, or
// never set).
var errNoPassword = errors.New("no password set")
