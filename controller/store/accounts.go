package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-ztna/gatehouse/api"
)

const (
	roleOwner        = "owner"
	bootstrapDoneKey = "bootstrap_done"
)

var accounts = newTable("account", "accounts",
	[]string{"user_name", "role", "disabled_at", "password_hash", "totp_secret", "totp_pending", "totp_last_step"},
	func(a *Account) []any {
		return []any{&a.User, &a.Role, optTimeCol{&a.DisabledAt}, &a.PasswordHash, &a.TOTPSecret, &a.TOTPPending, &a.TOTPLastStep}
	})

// Account implements IdentityStore.
// It reads outside a transaction: transactions here take the write lock
// up front, and a sign-in must not queue behind writers to read.
func (s *SQLite) Account(ctx context.Context, user string) (Account, error) {
	return account(ctx, s.db, user)
}

// account reads user's account, the zero one if the user has no row.
// ErrNotFound if the user does not exist.
func account(ctx context.Context, q querier, user string) (Account, error) {
	a, err := accounts.get(ctx, q, user)
	if !errors.Is(err, ErrNotFound) {
		return a, err
	}
	if _, err := users.get(ctx, q, user); err != nil {
		return Account{}, err
	}
	return Account{User: user}, nil
}

// ListAdmins implements IdentityStore.
func (s *SQLite) ListAdmins(ctx context.Context) ([]Account, error) {
	all, err := accounts.list(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := []Account{}
	for _, a := range all {
		if a.Role != "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// accountUpdate is one UPDATE of an account row: SET set (with setArgs),
// only if cond (with condArgs) holds; an empty cond always holds.
type accountUpdate struct {
	set      string
	setArgs  []any
	cond     string
	condArgs []any
}

// assign is an unconditional accountUpdate: SET cols.
func assign(cols string, args ...any) accountUpdate { return accountUpdate{set: cols, setArgs: args} }

// when makes u conditional on cond.
func (u accountUpdate) when(cond string, args ...any) accountUpdate {
	u.cond, u.condArgs = cond, args
	return u
}

// updateAccount applies u to user's account row, creating the row first,
// in one transaction. ErrNotFound if the user does not exist, ErrChanged
// if u's condition does not hold.
func (s *SQLite) updateAccount(ctx context.Context, user string, u accountUpdate) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		return updateAccountTx(ctx, tx, user, u)
	})
}

func updateAccountTx(ctx context.Context, tx *sql.Tx, user string, u accountUpdate) error {
	if _, err := users.get(ctx, tx, user); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO accounts (user_name) VALUES (?) ON CONFLICT DO NOTHING", user); err != nil {
		return fmt.Errorf("account %q: %w", user, err)
	}
	query := "UPDATE accounts SET " + u.set + " WHERE user_name = ?"
	args := append(append([]any{}, u.setArgs...), user)
	if u.cond != "" {
		query += " AND (" + u.cond + ")"
		args = append(args, u.condArgs...)
	}
	res, err := tx.ExecContext(ctx, query, args...)
	return accounts.affected(res, err, "update", user, ErrChanged)
}

// SetPasswordHash implements IdentityStore.
func (s *SQLite) SetPasswordHash(ctx context.Context, user, hash string) error {
	if hash == "" {
		return fmt.Errorf("account %q: empty password hash", user)
	}
	return s.updateAccount(ctx, user, assign("password_hash = ?", hash))
}

// ChangePassword implements IdentityStore.
func (s *SQLite) ChangePassword(ctx context.Context, user, hash, keep string, now time.Time) ([]Session, error) {
	if hash == "" {
		return nil, fmt.Errorf("account %q: empty password hash", user)
	}
	var revoked []Session
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := updateAccountTx(ctx, tx, user, assign("password_hash = ?", hash)); err != nil {
			return err
		}
		var err error
		revoked, err = revokeWhereArgs(ctx, tx, "user_name = ? AND id != ?", []any{user, keep}, now, ReasonPasswordChanged)
		return err
	})
	return revoked, err
}

// BootstrapDone implements IdentityStore.
func (s *SQLite) BootstrapDone(ctx context.Context) (bool, error) {
	done, err := settingSet(ctx, s.db, bootstrapDoneKey)
	if err != nil || done {
		return done, err
	}
	var owners int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE role = ?", roleOwner).Scan(&owners); err != nil {
		return false, fmt.Errorf("count owners: %w", err)
	}
	return owners > 0, nil
}

// ReplacePasswordHash implements IdentityStore.
func (s *SQLite) ReplacePasswordHash(ctx context.Context, user, oldHash, newHash string) error {
	if newHash == "" {
		return fmt.Errorf("account %q: empty password hash", user)
	}
	return s.updateAccount(ctx, user, assign("password_hash = ?", newHash).when("password_hash = ?", oldHash))
}

// SetPendingTOTP implements IdentityStore.
func (s *SQLite) SetPendingTOTP(ctx context.Context, user, secret string) error {
	if secret == "" {
		return fmt.Errorf("account %q: empty TOTP secret", user)
	}
	return s.updateAccount(ctx, user, assign("totp_pending = ?", secret))
}

// ConfirmTOTP implements IdentityStore.
func (s *SQLite) ConfirmTOTP(ctx context.Context, user, secret string, step int64) error {
	if secret == "" {
		return fmt.Errorf("account %q: empty TOTP secret", user)
	}
	return s.updateAccount(ctx, user,
		assign("totp_secret = totp_pending, totp_pending = '', totp_last_step = ?", step).when("totp_pending = ?", secret))
}

// RemoveTOTP implements IdentityStore.
func (s *SQLite) RemoveTOTP(ctx context.Context, user string) error {
	return s.updateAccount(ctx, user, assign("totp_secret = '', totp_pending = '', totp_last_step = 0"))
}

// UseTOTPStep implements IdentityStore.
func (s *SQLite) UseTOTPStep(ctx context.Context, user string, step int64) error {
	err := s.updateAccount(ctx, user,
		assign("totp_last_step = ?", step).when("totp_last_step < ? AND totp_secret != ''", step))
	if errors.Is(err, ErrChanged) {
		return fmt.Errorf("account %q: TOTP step %d: %w", user, step, ErrReplayed)
	}
	return err
}

// SetRole implements IdentityStore.
func (s *SQLite) SetRole(ctx context.Context, user, role string) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := updateAccountTx(ctx, tx, user, assign("role = ?", role)); err != nil {
			return err
		}
		var owners int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE role = ?", roleOwner).Scan(&owners); err != nil {
			return fmt.Errorf("count owners: %w", err)
		}
		if owners == 0 && role != roleOwner {
			bootstrapped, err := settingSet(ctx, tx, bootstrapDoneKey)
			if err != nil {
				return err
			}
			if bootstrapped {
				return fmt.Errorf("account %q: %w: make another user owner first", user, ErrLastOwner)
			}
		}
		return nil
	})
}

// Bootstrap implements IdentityStore.
func (s *SQLite) Bootstrap(ctx context.Context, u api.User, passwordHash string) error {
	if passwordHash == "" {
		return fmt.Errorf("bootstrap %q: empty password hash", u.Name)
	}
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		done, err := settingSet(ctx, tx, bootstrapDoneKey)
		if err != nil {
			return err
		}
		var owners int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE role = ?", roleOwner).Scan(&owners); err != nil {
			return fmt.Errorf("count owners: %w", err)
		}
		if done || owners > 0 {
			return fmt.Errorf("%w: sign in as an owner to add admins", ErrBootstrapDone)
		}
		if _, err := users.get(ctx, tx, u.Name); errors.Is(err, ErrNotFound) {
			if err := users.create(ctx, tx, u); err != nil {
				return err
			}
			if err := setGroups(ctx, tx, u.Name, u.Groups); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if err := updateAccountTx(ctx, tx, u.Name, assign("role = ?, password_hash = ?", roleOwner, passwordHash)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO settings (key, value) VALUES (?, '1')", bootstrapDoneKey)
		if err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
		return nil
	})
}

// DisableUser implements IdentityStore.
func (s *SQLite) DisableUser(ctx context.Context, user string, now time.Time) ([]Session, error) {
	var revoked []Session
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := updateAccountTx(ctx, tx, user, assign("disabled_at = ?", timeCol{&now})); err != nil {
			return err
		}
		var err error
		revoked, err = revokeWhere(ctx, tx, "user_name = ?", user, now, ReasonUserDisabled)
		return err
	})
	return revoked, err
}

// EnableUser implements IdentityStore.
func (s *SQLite) EnableUser(ctx context.Context, user string) error {
	return s.updateAccount(ctx, user, assign("disabled_at = ''"))
}

// settingSet says whether the settings row key exists.
func settingSet(ctx context.Context, q querier, key string) (bool, error) {
	_, err := settings.get(ctx, q, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
