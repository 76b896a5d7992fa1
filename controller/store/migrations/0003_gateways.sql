-- Standalone gateways (enrolled with their own Ed25519 key) and their
-- single-use enrollment tokens. A token names the gateway it will enroll;
-- a gateway's name is what apps put in their gateway column.
CREATE TABLE gateways (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL UNIQUE,
	public_key  TEXT NOT NULL,
	enrolled_at TEXT NOT NULL,
	last_seen   TEXT NOT NULL DEFAULT '',
	version     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE gateway_tokens (
	id           TEXT PRIMARY KEY,
	gateway_name TEXT NOT NULL,
	secret_hash  TEXT NOT NULL UNIQUE,
	expires_at   TEXT NOT NULL,
	used         INTEGER NOT NULL DEFAULT 0
);
