-- The first schema: every object the admin API manages. List-valued fields
-- are JSON arrays in TEXT columns; times are RFC 3339 text in UTC.

CREATE TABLE users (
	name  TEXT PRIMARY KEY,
	email TEXT NOT NULL DEFAULT ''
);

CREATE TABLE "groups" (
	name TEXT PRIMARY KEY
);

CREATE TABLE group_members (
	group_name TEXT NOT NULL REFERENCES "groups" (name) ON DELETE CASCADE,
	user_name  TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	PRIMARY KEY (group_name, user_name)
) WITHOUT ROWID;

CREATE INDEX group_members_by_user ON group_members (user_name, group_name);

CREATE TABLE apps (
	name       TEXT PRIMARY KEY,
	upstreams  TEXT NOT NULL DEFAULT '[]',
	protocol   TEXT NOT NULL DEFAULT '',
	gateway    TEXT NOT NULL DEFAULT '',
	virtual_ip TEXT NOT NULL DEFAULT ''
);

CREATE TABLE posture_profiles (
	name               TEXT PRIMARY KEY,
	os_family          TEXT NOT NULL DEFAULT '',
	min_kernel         TEXT NOT NULL DEFAULT '',
	min_os_version     TEXT NOT NULL DEFAULT '',
	disk_encryption    INTEGER NOT NULL DEFAULT 0,
	firewall           INTEGER NOT NULL DEFAULT 0,
	required_processes TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE policies (
	name             TEXT PRIMARY KEY,
	group_names      TEXT NOT NULL DEFAULT '[]',
	app_names        TEXT NOT NULL DEFAULT '[]',
	posture_profiles TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE enrollment_tokens (
	id          TEXT PRIMARY KEY,
	user_name   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	secret_hash TEXT NOT NULL UNIQUE,
	expires_at  TEXT NOT NULL,
	used        INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE devices (
	id          TEXT PRIMARY KEY,
	user_name   TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	hostname    TEXT NOT NULL DEFAULT '',
	public_key  TEXT NOT NULL DEFAULT '',
	enrolled_at TEXT NOT NULL
);

CREATE INDEX devices_by_user ON devices (user_name);

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
