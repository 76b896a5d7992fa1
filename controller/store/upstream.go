package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

// UpstreamLogin is a user an upstream IdP vouched for, as the store links
// it (UpstreamSignIn).
type UpstreamLogin struct {
	Issuer  string
	Subject string
	User    string // the name a new user gets; a linked user keeps theirs
	Email   string
	Groups  []string // the Gatehouse groups the IdP puts the user in
	Managed []string // the Gatehouse groups that follow the IdP
	// Claims are the IdP's claims for policy conditions, already bounded
	// (oidc.Verified.Claims); they replace the stored ones.
	Claims map[string]string
	At     time.Time
}

// UpstreamUser is what UpstreamSignIn did.
type UpstreamUser struct {
	User          string
	Created       bool // the user was made by this sign-in
	GroupsChanged bool // a membership was added or removed
	ClaimsChanged bool // the stored claims are not what they were
}

// ExternalIdentity links a user to an upstream IdP's (issuer, subject).
type ExternalIdentity struct {
	Issuer  string
	Subject string
	User    string
	Email   string
	Groups  []string // the Gatehouse groups the IdP last put the user in
	// Claims are the IdP's claims at the last sign-in or refresh.
	Claims      map[string]string
	CreatedAt   time.Time
	LastLoginAt time.Time
}

// UpstreamSession is a session signed in through an IdP, with the IdP's
// refresh token ("" if it issued none).
type UpstreamSession struct {
	Session
	Issuer       string
	Subject      string
	RefreshToken string
}

// UpstreamStore is the durable state of upstream (OIDC) sign-ins. *SQLite
// implements it. Each method is one transaction.
type UpstreamStore interface {
	// UpstreamSignIn finds the user linked to (in.Issuer, in.Subject), or
	// links one: an existing user named in.User that has no built-in
	// password and no other link, or a new user (with in.Email) made now.
	// ErrExists when in.User is taken by a user it may not link. Then it
	// sets the user's membership of the managed groups (in.Managed, and
	// the groups the link set before) to exactly in.Groups, creating
	// groups that do not exist; other memberships stay.
	UpstreamSignIn(ctx context.Context, in UpstreamLogin) (UpstreamUser, error)
	// It stores in.Claims on the link (ClaimsChanged when they differ).
	// SetUpstreamGroups sets the linked user's managed groups as
	// UpstreamSignIn does, and replaces the link's claims, at a refresh.
	// ErrNotFound if no link.
	SetUpstreamGroups(ctx context.Context, issuer, subject string, groups, managed []string, claims map[string]string) (UpstreamUser, error)
	// ExternalIdentities returns user's links, sorted by issuer.
	ExternalIdentities(ctx context.Context, user string) ([]ExternalIdentity, error)
	// UpstreamClaims returns, by user, the claims of each linked user's
	// most recently signed-in external identity; users without a link
	// are absent.
	UpstreamClaims(ctx context.Context) (map[string]map[string]string, error)
	// CreateUpstreamSession is CreateSession for a session signed in
	// through (issuer, subject), keeping the IdP's refresh token with it.
	CreateUpstreamSession(ctx context.Context, s Session, tokens TokenSet, issuer, subject, refreshToken string) error
	// UpstreamSessionByRefresh returns the upstream session whose current
	// refresh token has refreshHash, whatever its state. ErrNotFound if
	// none (not an upstream session, or not a current token).
	UpstreamSessionByRefresh(ctx context.Context, refreshHash string) (UpstreamSession, error)
	// SetUpstreamRefreshToken replaces a session's IdP refresh token (the
	// IdP rotated it). ErrNotFound if no such upstream session.
	SetUpstreamRefreshToken(ctx context.Context, sessionID, token string) error
}

var _ UpstreamStore = (*SQLite)(nil)

var externalIdentities = newTable("external identity", "external_identities",
	[]string{"issuer", "subject", "user_name", "email", "synced_groups", "claims", "created_at", "last_login_at"},
	func(e *ExternalIdentity) []any {
		return []any{&e.Issuer, &e.Subject, &e.User, &e.Email, listCol{&e.Groups}, mapCol(&e.Claims), timeCol{&e.CreatedAt}, timeCol{&e.LastLoginAt}}
	})

// UpstreamSignIn implements UpstreamStore.
func (s *SQLite) UpstreamSignIn(ctx context.Context, in UpstreamLogin) (UpstreamUser, error) {
	if in.Issuer == "" || in.Subject == "" || in.User == "" {
		return UpstreamUser{}, errors.New("upstream sign-in: issuer, subject and user name are required")
	}
	var out UpstreamUser
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		link, err := externalIdentity(ctx, tx, in.Issuer, in.Subject)
		switch {
		case errors.Is(err, ErrNotFound):
			if link, out.Created, err = s.linkNew(ctx, tx, in); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		out.User = link.User
		if _, err := tx.ExecContext(ctx, "UPDATE external_identities SET email = ?, last_login_at = ? WHERE issuer = ? AND subject = ?",
			in.Email, timeCol{&in.At}, in.Issuer, in.Subject); err != nil {
			return fmt.Errorf("external identity of %q: %w", link.User, err)
		}
		if out.GroupsChanged, err = syncGroups(ctx, tx, link, in.Groups, in.Managed); err != nil {
			return err
		}
		out.ClaimsChanged, err = setClaims(ctx, tx, link, in.Claims)
		return err
	})
	return out, err
}

// setClaims replaces link's claims with claims, reporting whether they
// changed.
func setClaims(ctx context.Context, tx *sql.Tx, link ExternalIdentity, claims map[string]string) (bool, error) {
	if claims == nil {
		claims = map[string]string{}
	}
	if maps.Equal(link.Claims, claims) {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE external_identities SET claims = ? WHERE issuer = ? AND subject = ?",
		mapCol(&claims), link.Issuer, link.Subject); err != nil {
		return false, fmt.Errorf("external identity of %q: store claims: %w", link.User, err)
	}
	return true, nil
}

// linkNew links (in.Issuer, in.Subject) to the user in.User, made now if
// absent; an existing user only if nothing else signs it in.
func (s *SQLite) linkNew(ctx context.Context, tx *sql.Tx, in UpstreamLogin) (ExternalIdentity, bool, error) {
	created := false
	a, err := account(ctx, tx, in.User)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := users.create(ctx, tx, api.User{Name: in.User, Email: in.Email}); err != nil {
			return ExternalIdentity{}, false, err
		}
		created = true
	case err != nil:
		return ExternalIdentity{}, false, err
	case a.PasswordHash != "":
		return ExternalIdentity{}, false, fmt.Errorf("user %q %w with a built-in password: an admin must remove the password (or rename the user) before it can sign in through an identity provider", in.User, ErrExists)
	default:
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM external_identities WHERE user_name = ?", in.User).Scan(&n); err != nil {
			return ExternalIdentity{}, false, err
		}
		if n > 0 {
			return ExternalIdentity{}, false, fmt.Errorf("user %q %w, signed in by another identity provider account: ask an admin", in.User, ErrExists)
		}
	}
	link := ExternalIdentity{Issuer: in.Issuer, Subject: in.Subject, User: in.User, Email: in.Email, Claims: map[string]string{},
		CreatedAt: in.At, LastLoginAt: in.At}
	_, err = tx.ExecContext(ctx, `INSERT INTO external_identities (issuer, subject, user_name, email, synced_groups, created_at, last_login_at)
		VALUES (?, ?, ?, ?, '[]', ?, ?)`, link.Issuer, link.Subject, link.User, link.Email, timeCol{&in.At}, timeCol{&in.At})
	if err != nil {
		return ExternalIdentity{}, false, fmt.Errorf("link user %q to %s: %w", in.User, in.Issuer, err)
	}
	return link, created, nil
}

func externalIdentity(ctx context.Context, q querier, issuer, subject string) (ExternalIdentity, error) {
	var e ExternalIdentity
	err := q.QueryRowContext(ctx, externalIdentities.selectSQL+" WHERE issuer = ? AND subject = ?", issuer, subject).
		Scan(externalIdentities.fields(&e)...)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("external identity %s at %s: %w", subject, issuer, ErrNotFound)
	}
	return e, err
}

// syncGroups makes link's user a member of exactly groups among the
// managed ones (managed, the link's last groups, and groups), and records
// groups on the link. It reports whether a membership changed.
func syncGroups(ctx context.Context, tx *sql.Tx, link ExternalIdentity, groups, managed []string) (bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT group_name FROM group_members WHERE user_name = ?", link.User)
	if err != nil {
		return false, err
	}
	var current []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			rows.Close()
			return false, err
		}
		current = append(current, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	changed := false
	for _, g := range current {
		if (slices.Contains(managed, g) || slices.Contains(link.Groups, g)) && !slices.Contains(groups, g) {
			if _, err := tx.ExecContext(ctx, "DELETE FROM group_members WHERE group_name = ? AND user_name = ?", g, link.User); err != nil {
				return false, fmt.Errorf("remove user %q from group %q: %w", link.User, g, err)
			}
			changed = true
		}
	}
	for _, g := range groups {
		if slices.Contains(current, g) {
			continue
		}
		if g == "" {
			return false, fmt.Errorf("user %q: empty group name", link.User)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO "groups" (name) VALUES (?) ON CONFLICT DO NOTHING`, g); err != nil {
			return false, fmt.Errorf("user %q: create group %q: %w", link.User, g, err)
		}
		if err := addMember(ctx, tx, g, link.User); err != nil {
			return false, err
		}
		changed = true
	}
	_, err = tx.ExecContext(ctx, "UPDATE external_identities SET synced_groups = ? WHERE issuer = ? AND subject = ?",
		listCol{&groups}, link.Issuer, link.Subject)
	return changed, err
}

// SetUpstreamGroups implements UpstreamStore.
func (s *SQLite) SetUpstreamGroups(ctx context.Context, issuer, subject string, groups, managed []string, claims map[string]string) (UpstreamUser, error) {
	var out UpstreamUser
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		link, err := externalIdentity(ctx, tx, issuer, subject)
		if err != nil {
			return err
		}
		out.User = link.User
		if out.GroupsChanged, err = syncGroups(ctx, tx, link, groups, managed); err != nil {
			return err
		}
		out.ClaimsChanged, err = setClaims(ctx, tx, link, claims)
		return err
	})
	return out, err
}

// UpstreamClaims implements UpstreamStore.
func (s *SQLite) UpstreamClaims(ctx context.Context) (map[string]map[string]string, error) {
	// Oldest sign-in first, so the most recent one's claims win.
	rows, err := s.db.QueryContext(ctx, "SELECT user_name, claims FROM external_identities ORDER BY last_login_at, issuer, subject")
	if err != nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var user string
		var claims map[string]string
		if err := rows.Scan(&user, mapCol(&claims)); err != nil {
			return nil, fmt.Errorf("read claims: %w", err)
		}
		out[user] = claims
	}
	return out, rows.Err()
}

// ExternalIdentities implements UpstreamStore.
func (s *SQLite) ExternalIdentities(ctx context.Context, user string) ([]ExternalIdentity, error) {
	rows, err := s.db.QueryContext(ctx, externalIdentities.selectSQL+" WHERE user_name = ? ORDER BY issuer, subject", user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ExternalIdentity{}
	for rows.Next() {
		var e ExternalIdentity
		if err := rows.Scan(externalIdentities.fields(&e)...); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// CreateUpstreamSession implements UpstreamStore.
func (s *SQLite) CreateUpstreamSession(ctx context.Context, sess Session, tokens TokenSet, issuer, subject, refreshToken string) error {
	if sess.ID == "" || sess.Device == "" || tokens.AccessHash == "" || tokens.RefreshHash == "" {
		return fmt.Errorf("session %q: ID, device and token hashes are required", sess.ID)
	}
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := createSession(ctx, tx, sess, tokens); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO upstream_sessions (session_id, issuer, subject, refresh_token) VALUES (?, ?, ?, ?)",
			sess.ID, issuer, subject, refreshToken)
		if err != nil {
			return fmt.Errorf("session %q: link to %s: %w", sess.ID, issuer, err)
		}
		return nil
	})
}

// UpstreamSessionByRefresh implements UpstreamStore.
func (s *SQLite) UpstreamSessionByRefresh(ctx context.Context, refreshHash string) (UpstreamSession, error) {
	if refreshHash == "" {
		return UpstreamSession{}, fmt.Errorf("refresh token: %w", ErrNotFound)
	}
	r, err := sessionsTable.getBy(ctx, s.db, "refresh_hash", refreshHash)
	if errors.Is(err, ErrNotFound) {
		return UpstreamSession{}, fmt.Errorf("refresh token: %w", ErrNotFound)
	}
	if err != nil {
		return UpstreamSession{}, err
	}
	out := UpstreamSession{Session: r.Session}
	err = s.db.QueryRowContext(ctx, "SELECT issuer, subject, refresh_token FROM upstream_sessions WHERE session_id = ?", r.ID).
		Scan(&out.Issuer, &out.Subject, &out.RefreshToken)
	if errors.Is(err, sql.ErrNoRows) {
		return UpstreamSession{}, fmt.Errorf("session %q: not signed in upstream: %w", r.ID, ErrNotFound)
	}
	return out, err
}

// SetUpstreamRefreshToken implements UpstreamStore.
func (s *SQLite) SetUpstreamRefreshToken(ctx context.Context, sessionID, token string) error {
	res, err := s.db.ExecContext(ctx, "UPDATE upstream_sessions SET refresh_token = ? WHERE session_id = ?", token, sessionID)
	if err != nil {
		return fmt.Errorf("session %q: store the IdP's refresh token: %w", sessionID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("upstream session %q: %w", sessionID, ErrNotFound)
	}
	return nil
}
