package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// GatewayStore is the durable state of standalone gateways. *SQLite
// implements it; it is apart from Store so that other Store
// implementations need not.
type GatewayStore interface {
	// CreateGatewayToken stores t under secretHash (t.Token is never
	// stored). ErrExists if t.ID is taken; an error if secretHash is empty.
	CreateGatewayToken(ctx context.Context, t api.GatewayEnrollmentToken, secretHash string) error
	// ListGatewayTokens returns all gateway tokens sorted by ID, Token empty.
	ListGatewayTokens(ctx context.Context) ([]api.GatewayEnrollmentToken, error)
	// DeleteGatewayToken deletes the token. ErrNotFound if absent.
	DeleteGatewayToken(ctx context.Context, id string) error
	// EnrollGateway, in one transaction, finds the token whose hash is
	// secretHash — ErrTokenUnknown if none, ErrTokenUsed if used,
	// ErrTokenExpired if expired at now — marks it used and stores g under
	// the token's gateway name (an empty g.ID gets a random one, a zero
	// g.EnrolledAt becomes now). ErrExists if a gateway of that name is
	// enrolled (delete it first to re-enroll). On any error nothing changes.
	EnrollGateway(ctx context.Context, secretHash string, now time.Time, g api.Gateway) (api.Gateway, error)
	// GetGateway returns the gateway by ID. ErrNotFound if absent.
	GetGateway(ctx context.Context, id string) (api.Gateway, error)
	// ListGateways returns all gateways sorted by ID; live fields are zero.
	ListGateways(ctx context.Context) ([]api.Gateway, error)
	// DeleteGateway deletes the gateway by name. ErrNotFound if absent.
	DeleteGateway(ctx context.Context, name string) error
	// TouchGateway records that gateway id was seen at at, running version.
	// ErrNotFound if absent.
	TouchGateway(ctx context.Context, id string, at time.Time, version string) error
}

var _ GatewayStore = (*SQLite)(nil)

// gatewayTokenRow is a gateway token as stored: with its hash, never the secret.
type gatewayTokenRow struct {
	api.GatewayEnrollmentToken
	hash string
}

var (
	gatewayTokens = newTable("gateway token", "gateway_tokens",
		[]string{"id", "gateway_name", "secret_hash", "expires_at", "used"},
		func(t *gatewayTokenRow) []any {
			return []any{&t.ID, &t.Gateway, &t.hash, timeCol{&t.ExpiresAt}, &t.Used}
		})
	gatewaysTable = newTable("gateway", "gateways",
		[]string{"id", "name", "public_key", "enrolled_at", "last_seen", "version"},
		func(g *api.Gateway) []any {
			return []any{&g.ID, &g.Name, &g.PublicKey, timeCol{&g.EnrolledAt}, optTimeCol{&g.LastSeen}, &g.Version}
		})
)

// optTimeCol is a timeCol whose zero time is stored as ”.
type optTimeCol struct{ t *time.Time }

func (c optTimeCol) Value() (driver.Value, error) {
	if c.t.IsZero() {
		return "", nil
	}
	return timeCol(c).Value()
}

func (c optTimeCol) Scan(src any) error {
	if s, err := text(src); err == nil && s == "" {
		*c.t = time.Time{}
		return nil
	}
	return timeCol(c).Scan(src)
}

// CreateGatewayToken implements GatewayStore.
func (s *SQLite) CreateGatewayToken(ctx context.Context, t api.GatewayEnrollmentToken, secretHash string) error {
	if secretHash == "" {
		return fmt.Errorf("gateway token %q: empty secret hash", t.ID)
	}
	t.Token, t.Used = "", false
	return gatewayTokens.create(ctx, s.db, gatewayTokenRow{t, secretHash})
}

// ListGatewayTokens implements GatewayStore.
func (s *SQLite) ListGatewayTokens(ctx context.Context) ([]api.GatewayEnrollmentToken, error) {
	rows, err := gatewayTokens.list(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := make([]api.GatewayEnrollmentToken, len(rows))
	for i, r := range rows {
		out[i] = r.GatewayEnrollmentToken
	}
	return out, nil
}

// DeleteGatewayToken implements GatewayStore.
func (s *SQLite) DeleteGatewayToken(ctx context.Context, id string) error {
	return gatewayTokens.delete(ctx, s.db, id)
}

// EnrollGateway implements GatewayStore.
func (s *SQLite) EnrollGateway(ctx context.Context, secretHash string, now time.Time, g api.Gateway) (api.Gateway, error) {
	var stored api.Gateway
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		t, err := gatewayTokens.getBy(ctx, tx, "secret_hash", secretHash)
		switch {
		case errors.Is(err, ErrNotFound) || secretHash == "":
			return ErrTokenUnknown
		case err != nil:
			return err
		}
		if err := spendable("gateway token", t.ID, t.Used, t.ExpiresAt, now); err != nil {
			return err
		}
		if _, err := gatewaysTable.getBy(ctx, tx, "name", t.Gateway); err == nil {
			return fmt.Errorf("gateway %q: %w (delete it with `gatehouse admin gateways delete %s` to enroll it again)", t.Gateway, ErrExists, t.Gateway)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE gateway_tokens SET used = 1 WHERE id = ?", t.ID); err != nil {
			return fmt.Errorf("gateway token %q: mark used: %w", t.ID, err)
		}
		g.Name = t.Gateway
		g.State, g.Endpoint, g.Peers, g.OpenFlows, g.LastSeen, g.Version = "", "", 0, 0, time.Time{}, ""
		if g.ID == "" {
			g.ID = rand.Text()
		}
		if g.EnrolledAt.IsZero() {
			g.EnrolledAt = now
		}
		if err := gatewaysTable.create(ctx, tx, g); err != nil {
			return err
		}
		stored, err = gatewaysTable.get(ctx, tx, g.ID)
		return err
	})
	if err != nil {
		return api.Gateway{}, err
	}
	return stored, nil
}

// GetGateway implements GatewayStore.
func (s *SQLite) GetGateway(ctx context.Context, id string) (api.Gateway, error) {
	return gatewaysTable.get(ctx, s.db, id)
}

// ListGateways implements GatewayStore.
func (s *SQLite) ListGateways(ctx context.Context) ([]api.Gateway, error) {
	return gatewaysTable.list(ctx, s.db)
}

// DeleteGateway implements GatewayStore.
func (s *SQLite) DeleteGateway(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM gateways WHERE name = ?", name)
	return gatewaysTable.affected(res, err, "delete", name, ErrNotFound)
}

// TouchGateway implements GatewayStore.
func (s *SQLite) TouchGateway(ctx context.Context, id string, at time.Time, version string) error {
	res, err := s.db.ExecContext(ctx, "UPDATE gateways SET last_seen = ?, version = ? WHERE id = ?", timeCol{&at}, version, id)
	return gatewaysTable.affected(res, err, "update", id, ErrNotFound)
}
