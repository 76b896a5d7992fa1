-- Just-in-time access (issue 8, api/access.go). A policy with approvers
-- gives its apps only under an approved request, for at most max_access
-- (nanoseconds; 0: the default).
ALTER TABLE policies ADD COLUMN approvers TEXT NOT NULL DEFAULT '';
ALTER TABLE policies ADD COLUMN max_access INTEGER NOT NULL DEFAULT 0;

-- Requests are records: their state changes (pending → approved → expired,
-- pending → denied, pending → expired), they are never deleted, and they
-- name users, devices, apps and policies that may since be gone, so no
-- foreign keys. Times are RFC 3339 text in UTC ('' when not yet).
CREATE TABLE access_requests (
    id           TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    app_name     TEXT NOT NULL,
    policy_name  TEXT NOT NULL,
    approvers    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    asked        INTEGER NOT NULL,
    state        TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    decided_by   TEXT NOT NULL DEFAULT '',
    decided_at   TEXT NOT NULL DEFAULT '',
    note         TEXT NOT NULL DEFAULT '',
    granted      INTEGER NOT NULL DEFAULT 0,
    expires_at   TEXT NOT NULL DEFAULT '',
    ended_at     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX access_requests_open ON access_requests (state, user_name, app_name);
