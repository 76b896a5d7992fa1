-- Upstream OIDC identities. A user signed in through an IdP is linked to
-- it by (issuer, subject) for good: the email or name may change at the
-- IdP, the subject does not.
CREATE TABLE external_identities (
	issuer        TEXT NOT NULL,
	subject       TEXT NOT NULL,
	user_name     TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	email         TEXT NOT NULL DEFAULT '',
	-- the Gatehouse groups this IdP put the user in at the last sign-in
	-- or refresh: they stay managed by it even after it stops naming them
	synced_groups TEXT NOT NULL DEFAULT '[]',
	created_at    TEXT NOT NULL,
	last_login_at TEXT NOT NULL,
	PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;

CREATE INDEX external_identities_by_user ON external_identities (user_name);

-- A session signed in through an IdP, with the IdP's refresh token (if it
-- issued one) to re-check the user upstream at each refresh. The token is
-- stored as is: redeeming it needs it.
CREATE TABLE upstream_sessions (
	session_id    TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
	issuer        TEXT NOT NULL,
	subject       TEXT NOT NULL,
	refresh_token TEXT NOT NULL DEFAULT '',
	FOREIGN KEY (issuer, subject) REFERENCES external_identities (issuer, subject) ON DELETE CASCADE
);
