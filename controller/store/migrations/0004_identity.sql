-- Identity: built-in credentials and admin roles (accounts), sign-in
-- sessions bound to a device, scoped admin API tokens, and device approval.
-- Bearer secrets are stored only as SHA-256 hashes, passwords only as
-- argon2id PHC strings. The TOTP seed is stored as is: checking a code
-- needs it.

-- One row per user that has any identity state; a user without a row has
-- no password, no TOTP, no role and is enabled.
CREATE TABLE accounts (
	user_name      TEXT PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
	role           TEXT NOT NULL DEFAULT '',
	disabled_at    TEXT NOT NULL DEFAULT '',
	password_hash  TEXT NOT NULL DEFAULT '',
	totp_secret    TEXT NOT NULL DEFAULT '',
	totp_pending   TEXT NOT NULL DEFAULT '',
	-- the last 30-second step whose code was accepted: a code is never
	-- accepted twice
	totp_last_step INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX accounts_by_role ON accounts (role) WHERE role != '';

-- A sign-in session: the current access and refresh token (hashes), the
-- device they are bound to, and when the person last proved who they are.
CREATE TABLE sessions (
	id                 TEXT PRIMARY KEY,
	user_name          TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	device_id          TEXT NOT NULL,
	methods            TEXT NOT NULL DEFAULT '[]',
	auth_at            TEXT NOT NULL,
	mfa_at             TEXT NOT NULL DEFAULT '',
	created_at         TEXT NOT NULL,
	expires_at         TEXT NOT NULL,
	access_hash        TEXT NOT NULL UNIQUE,
	access_expires_at  TEXT NOT NULL,
	refresh_hash       TEXT NOT NULL UNIQUE,
	refresh_expires_at TEXT NOT NULL,
	generation         INTEGER NOT NULL DEFAULT 1,
	refreshed_at       TEXT NOT NULL DEFAULT '',
	revoked_at         TEXT NOT NULL DEFAULT '',
	revoke_reason      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX sessions_by_user ON sessions (user_name);
CREATE INDEX sessions_by_device ON sessions (device_id);

-- Refresh tokens a session rotated away from. Presenting one again means
-- two parties hold the session's tokens: the session is revoked.
CREATE TABLE spent_refresh_tokens (
	hash       TEXT PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX spent_refresh_tokens_by_session ON spent_refresh_tokens (session_id);

-- Admin API tokens for automation: named, role-scoped, expiring, revocable.
CREATE TABLE api_tokens (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	role        TEXT NOT NULL,
	secret_hash TEXT NOT NULL UNIQUE,
	created_by  TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL,
	revoked_at  TEXT NOT NULL DEFAULT ''
);

-- A name is taken while its token is not revoked.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at = '';

-- Devices gain a name, tags, an approval state and when they were last
-- seen (first seen is enrolled_at, the owner is user_name). Devices
-- enrolled before this migration stay approved.
ALTER TABLE devices ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE devices ADD COLUMN state TEXT NOT NULL DEFAULT 'approved';
ALTER TABLE devices ADD COLUMN last_seen TEXT NOT NULL DEFAULT '';
