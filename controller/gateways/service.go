package gateways

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/gatehouse-ztna/gatehouse/controller/store"
)

// Token lifetimes: as for device enrollment tokens.
const (
	DefaultTokenTTL = time.Hour
	MaxTokenTTL     = 7 * 24 * time.Hour
)

// TokenPrefix opens every gateway enrollment token ("ghg_…"), so one is
// told from a device token at a glance; the two live in separate tables,
// so neither can enroll the other's kind whatever its text.
const TokenPrefix = "ghg_"

// ErrInvalid is wrapped by every refusal of bad input (HTTP 400).
var ErrInvalid = errors.New("invalid request")

// nameRE is the controller's rule for object names (apps name gateways).
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,62}$`)

// Service is the domain core behind the gateway REST endpoints and the
// hub's callbacks: tokens, enrollment, listing and deletion. Handlers
// decode, call it and map its errors (ErrInvalid → 400, store.ErrExists →
// 409, store.ErrNotFound → 404, store.ErrToken* → 403).
type Service struct {
	Store store.GatewayStore
	Hub   *Hub
	Now   func() time.Time // default time.Now
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// CreateToken makes a single-use enrollment token for gateway req.Name;
// the answer is the only place its secret ever appears.
func (s *Service) CreateToken(ctx context.Context, req api.GatewayTokenRequest) (api.GatewayEnrollmentToken, error) {
	if !nameRE.MatchString(req.Name) {
		return api.GatewayEnrollmentToken{}, fmt.Errorf("%w: gateway name %q: use 1-63 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", ErrInvalid, req.Name)
	}
	ttl := time.Duration(req.TTL)
	switch {
	case ttl == 0:
		ttl = DefaultTokenTTL
	case ttl < 0 || ttl > MaxTokenTTL:
		return api.GatewayEnrollmentToken{}, fmt.Errorf("%w: ttl %s: want more than 0 and at most %s (7 days)", ErrInvalid, ttl, MaxTokenTTL)
	}
	secret := make([]byte, 32)
	id := make([]byte, 8)
	rand.Read(secret)
	rand.Read(id)
	t := api.GatewayEnrollmentToken{ID: "gt-" + hex.EncodeToString(id), Gateway: req.Name,
		Token: TokenPrefix + base64.RawURLEncoding.EncodeToString(secret), ExpiresAt: s.now().Add(ttl).UTC()}
	if err := s.Store.CreateGatewayToken(ctx, t, HashSecret(t.Token)); err != nil {
		return api.GatewayEnrollmentToken{}, err
	}
	return t, nil
}

// HashSecret is how gateway tokens are stored: SHA-256, enough for a
// 256-bit random secret.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Enroll spends a gateway token and stores the gateway with its Ed25519
// key. The key is checked before the token is looked at, so a malformed
// request does not use a token up.
func (s *Service) Enroll(ctx context.Context, req api.GatewayEnrollRequest) (api.GatewayEnrollResponse, error) {
	pub, err := base64.StdEncoding.DecodeString(req.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return api.GatewayEnrollResponse{}, fmt.Errorf("%w: public_key must be a base64 Ed25519 key", ErrInvalid)
	}
	g, err := s.Store.EnrollGateway(ctx, HashSecret(req.Token), s.now(), api.Gateway{PublicKey: req.PublicKey})
	if err != nil {
		return api.GatewayEnrollResponse{}, err
	}
	return api.GatewayEnrollResponse{GatewayID: g.ID, Name: g.Name}, nil
}

// List returns every enrolled gateway with its live state from the hub.
func (s *Service) List(ctx context.Context) ([]api.Gateway, error) {
	gs, err := s.Store.ListGateways(ctx)
	if err != nil {
		return nil, err
	}
	for i := range gs {
		gs[i] = s.Hub.Describe(gs[i])
	}
	return gs, nil
}

// Delete forgets gateway name and ends its link at once: its key opens
// no link from then on, and its peers live only until their leases end.
func (s *Service) Delete(ctx context.Context, name string) error {
	if err := s.Store.DeleteGateway(ctx, name); err != nil {
		return err
	}
	s.Hub.Disconnect(name)
	return nil
}

// Lookup is the hub's Config.Lookup over the store.
func (s *Service) Lookup(ctx context.Context, id string) (Identity, error) {
	g, err := s.Store.GetGateway(ctx, id)
	if err != nil {
		return Identity{}, err
	}
	pub, err := base64.StdEncoding.DecodeString(g.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return Identity{}, fmt.Errorf("gateway %q has a malformed stored key; delete and enroll it again", g.Name)
	}
	return Identity{ID: g.ID, Name: g.Name, PublicKey: pub}, nil
}

// Seen is the hub's Config.Seen over the store: last seen and version.
func (s *Service) Seen(ctx context.Context, id string, st api.GatewayStatus, at time.Time) {
	// A failure (the gateway was just deleted, the database is busy)
	// costs only a stale last seen; the live one is in the hub.
	s.Store.TouchGateway(ctx, id, at, st.Version)
}
