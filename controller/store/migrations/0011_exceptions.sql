-- Exceptions (issue 8): named posture checks waived for one user or one
-- device until expires_at, with the owner who answers for it and why.
-- Exactly one of user_name and device_id is set; the other is NULL, so an
-- exception goes with the user or device it names (a user of the same
-- name made later does not inherit it).
CREATE TABLE exceptions (
	id         TEXT PRIMARY KEY,
	user_name  TEXT REFERENCES users (name) ON DELETE CASCADE,
	device_id  TEXT REFERENCES devices (id) ON DELETE CASCADE,
	checks     TEXT NOT NULL DEFAULT '[]',
	owner      TEXT NOT NULL,
	reason     TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	CHECK ((user_name IS NULL) <> (device_id IS NULL))
);

CREATE INDEX exceptions_by_user ON exceptions (user_name);
CREATE INDEX exceptions_by_device ON exceptions (device_id);
