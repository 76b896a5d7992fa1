package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Bearer token kinds. The prefix says what a leaked token is (and lets
// secret scanners find it); the rest is 256 random bits, base64url.
const (
	accessPrefix  = "gha_" // a session's access token
	refreshPrefix = "ghr_" // a session's refresh token
	apiPrefix     = "ghk_" // an admin API token
)

// tokenLen is the length of every token: prefix plus 43 base64url chars.
const tokenLen = 4 + 43

// newToken returns a fresh token of kind prefix and the hash to store.
func newToken(prefix string) (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("make token: %w", err)
	}
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, hashToken(token), nil
}

// hashToken is how tokens are stored and looked up. They carry 256 bits of
// entropy, so one SHA-256 suffices (no stretching), and a database leak
// yields nothing usable.
func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// tokenHash returns the hash of token if it has the shape of a token of
// kind prefix, else ErrTokenInvalid (without touching the store).
func tokenHash(token, prefix string) (string, error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, prefix) {
		return "", fmt.Errorf("%w: not a %s token", ErrTokenInvalid, kindOf(prefix))
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(token[len(prefix):]); err != nil {
		return "", fmt.Errorf("%w: not a %s token", ErrTokenInvalid, kindOf(prefix))
	}
	return hashToken(token), nil
}

func kindOf(prefix string) string {
	switch prefix {
	case accessPrefix:
		return "access"
	case refreshPrefix:
		return "refresh"
	}
	return "API"
}
