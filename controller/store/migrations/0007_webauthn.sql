-- WebAuthn passkeys of built-in users. A user's WebAuthn handle is a
-- random 32-byte ID the authenticator keeps with a discoverable
-- credential and returns at sign-in; it is not the user name, so an
-- authenticator holds nothing that names the person.
CREATE TABLE webauthn_users (
	user_name TEXT PRIMARY KEY REFERENCES users (name) ON DELETE CASCADE,
	handle    BLOB NOT NULL UNIQUE
);

-- One row per passkey: the credential as go-webauthn describes it (JSON:
-- public key, flags, AAGUID, transports), its signature counter kept apart
-- so a compare-and-set can refuse a counter that goes backwards (a cloned
-- authenticator), and a name the user chose.
CREATE TABLE passkeys (
	id           TEXT PRIMARY KEY, -- the credential ID, base64url
	user_name    TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	credential   TEXT NOT NULL,
	sign_count   INTEGER NOT NULL DEFAULT 0,
	created_at   TEXT NOT NULL,
	last_used_at TEXT NOT NULL DEFAULT '',
	UNIQUE (user_name, name)
);

CREATE INDEX passkeys_by_user ON passkeys (user_name);
