package api

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Admin sign-in (docs/identity.md "Admins"): `gatehouse admin login` runs
// the device flow as ClientAdmin with its own Ed25519 key, and the
// session it gets is bound to that key (AdminBinding), not to an enrolled
// device. Every request of such a session carries the access token and
// an AdminProof header signed by the key, like DPoP (RFC 9449): a copied
// token alone is worth nothing.
const (
	// ClientAdmin is the client_id of `gatehouse admin login`.
	ClientAdmin = "gatehouse-admin"
	// GrantTypeRefreshToken is grant_type of an admin session's refresh
	// at PathToken (with the proof; agents refresh on their websocket).
	GrantTypeRefreshToken = "refresh_token"
	// PathAdminLogout ends the admin session of the access token it is
	// sent with (POST, the token and the proof, no body): 204.
	PathAdminLogout = "/oauth/logout"
	// FieldRefreshToken is the refresh token of a refresh request.
	FieldRefreshToken = "refresh_token"

	// HeaderAdminProof carries the proof: "v1.KEY.TIME.NONCE.SIG", each
	// part base64url without padding but TIME (Unix seconds, decimal).
	HeaderAdminProof = "Gatehouse-Proof"
	// AdminProofWindow is how far a proof's time may be from the
	// controller's clock, either way; its nonce is remembered that long.
	AdminProofWindow = 60 * time.Second
	// AdminBindingPrefix starts the binding ID of an admin CLI session
	// (the session's device): "admin-cli:" + the key's fingerprint.
	AdminBindingPrefix = "admin-cli:"
	// OAuthInvalidProof is the token endpoint's error for a missing or
	// bad proof (RFC 9449's invalid_dpop_proof).
	OAuthInvalidProof = "invalid_dpop_proof"
)

// ErrBadAdminProof is an admin proof that is malformed or does not
// verify.
var ErrBadAdminProof = errors.New("bad admin proof")

// AdminProof is a parsed HeaderAdminProof.
type AdminProof struct {
	Key   ed25519.PublicKey
	Time  time.Time // whole seconds
	Nonce string    // base64url, 16 random bytes
	Sig   []byte
}

// AdminBinding is the binding ID an admin CLI session with key is bound
// to: AdminBindingPrefix and the key's SHA-256 fingerprint as `gatehouse
// status` writes device keys' (SHA256: and unpadded standard base64).
func AdminBinding(key ed25519.PublicKey) string {
	h := sha256.Sum256(key)
	return AdminBindingPrefix + "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}

// adminProofMessage is what the key signs: a context string, then the
// request (method, path and query as sent), the proof's time and nonce,
// and the SHA-256 of the body and of the token the request presents (the
// access token, or for a refresh the refresh token).
func adminProofMessage(method, requestURI string, unix int64, nonce string, body []byte, token string) []byte {
	bh, th := sha256.Sum256(body), sha256.Sum256([]byte(token))
	return fmt.Appendf(nil, "gatehouse-admin-proof-v1\n%s\n%s\n%d\n%s\n%x\n%x", method, requestURI, unix, nonce, bh, th)
}

// SignAdminProof makes the header value for a request with method, path
// and query requestURI (as sent: url.URL.RequestURI), body and token, at
// now, with a fresh nonce.
func SignAdminProof(key ed25519.PrivateKey, method, requestURI string, body []byte, token string, now time.Time) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("admin CLI key is %d bytes, want %d: sign in again (gatehouse admin login)", len(key), ed25519.PrivateKeySize)
	}
	n := make([]byte, 16)
	if _, err := rand.Read(n); err != nil {
		return "", err
	}
	nonce, unix := base64.RawURLEncoding.EncodeToString(n), now.Unix()
	sig := ed25519.Sign(key, adminProofMessage(method, requestURI, unix, nonce, body, token))
	b64 := base64.RawURLEncoding.EncodeToString
	return strings.Join([]string{"v1", b64(key.Public().(ed25519.PublicKey)), strconv.FormatInt(unix, 10), nonce, b64(sig)}, "."), nil
}

// ParseAdminProof reads a header value; it checks the form only.
func ParseAdminProof(h string) (AdminProof, error) {
	parts := strings.Split(h, ".")
	if len(h) > 512 || len(parts) != 5 || parts[0] != "v1" {
		return AdminProof{}, fmt.Errorf("%w: %s is not v1.KEY.TIME.NONCE.SIG", ErrBadAdminProof, HeaderAdminProof)
	}
	key, err1 := base64.RawURLEncoding.DecodeString(parts[1])
	unix, err2 := strconv.ParseInt(parts[2], 10, 64)
	nonce, err3 := base64.RawURLEncoding.DecodeString(parts[3])
	sig, err4 := base64.RawURLEncoding.DecodeString(parts[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil || len(key) != ed25519.PublicKeySize ||
		len(nonce) != 16 || len(sig) != ed25519.SignatureSize {
		return AdminProof{}, fmt.Errorf("%w: a part of %s is malformed", ErrBadAdminProof, HeaderAdminProof)
	}
	return AdminProof{Key: key, Time: time.Unix(unix, 0), Nonce: parts[3], Sig: sig}, nil
}

// Verify checks p's signature over the request (method, requestURI as
// received, body) and token. A mismatch wraps ErrBadAdminProof.
func (p AdminProof) Verify(method, requestURI string, body []byte, token string) error {
	if !ed25519.Verify(p.Key, adminProofMessage(method, requestURI, p.Time.Unix(), p.Nonce, body, token), p.Sig) {
		return fmt.Errorf("%w: the signature does not match this request, its body or its token", ErrBadAdminProof)
	}
	return nil
}
