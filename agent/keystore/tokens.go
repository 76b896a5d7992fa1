package keystore

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// tokensName is the store entry holding the signed-in session's tokens,
// next to the device key. One entry for both tokens, so a rotation is
// stored in one step (Store.Set): a crash keeps the old pair or the new.
const tokensName = "session-tokens"

// Tokens are a signed-in session's tokens as the agent keeps them. Its
// String, GoString and LogValue leave the tokens out, so printing or
// logging one by mistake shows no secret.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// IssuedAt and ExpiresAt bound the access token's life (wall clock:
	// they outlive the process).
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	User      string    `json:"user"`
	Methods   []string  `json:"methods,omitempty"`
}

// NewTokens makes Tokens issued at now whose access token lives
// expiresIn seconds.
func NewTokens(access, refresh string, expiresIn int, now time.Time) Tokens {
	return Tokens{AccessToken: access, RefreshToken: refresh, IssuedAt: now, ExpiresAt: now.Add(time.Duration(expiresIn) * time.Second)}
}

// RefreshDue is when the access token should be refreshed: at 80 % of
// its life.
func (t Tokens) RefreshDue() time.Time {
	life := t.ExpiresAt.Sub(t.IssuedAt)
	return t.IssuedAt.Add(life * 4 / 5)
}

func (t Tokens) String() string {
	return fmt.Sprintf("session tokens of %q (access token expires %s)", t.User, t.ExpiresAt.Format(time.RFC3339))
}

func (t Tokens) GoString() string { return "keystore.Tokens{" + t.String() + "}" }

func (t Tokens) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", t.User), slog.Time("expires_at", t.ExpiresAt))
}

// SaveTokens stores t in s, replacing the tokens stored before.
func SaveTokens(s Store, t Tokens) error {
	if t.AccessToken == "" || t.RefreshToken == "" {
		return errors.New("session tokens: access and refresh token are both needed")
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := s.Set(tokensName, b); err != nil {
		return fmt.Errorf("save the session's tokens: %w", err)
	}
	return nil
}

// LoadTokens reads the tokens stored in s; ErrNotFound when none are.
func LoadTokens(s Store) (Tokens, error) {
	var t Tokens
	b, err := s.Get(tokensName)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil || t.AccessToken == "" || t.RefreshToken == "" {
		// Not the JSON error: it may quote the secret.
		return Tokens{}, fmt.Errorf("the session's tokens in %s are corrupt (sign in again: gatehouse login)", s.Where())
	}
	return t, nil
}

// ForgetTokens deletes the stored tokens; none stored is not an error.
func ForgetTokens(s Store) error {
	if err := s.Delete(tokensName); err != nil {
		return fmt.Errorf("forget the session's tokens: %w", err)
	}
	return nil
}
