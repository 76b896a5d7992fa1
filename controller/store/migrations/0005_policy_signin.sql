-- Sign-in needs of a policy (issue 7): a live signed-in session on the
-- device, a second factor in it, and how old the second factor and the
-- sign-in may be (nanoseconds; 0: any age).
ALTER TABLE policies ADD COLUMN require_signin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE policies ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE policies ADD COLUMN mfa_max_age INTEGER NOT NULL DEFAULT 0;
ALTER TABLE policies ADD COLUMN session_max_age INTEGER NOT NULL DEFAULT 0;

-- A device someone signed in on is interactive from then on: every grant
-- needs a live session on it (docs/identity.md "Wiring"). Devices that
-- act on their enrollment alone (servers, CI) stay 0.
ALTER TABLE devices ADD COLUMN interactive INTEGER NOT NULL DEFAULT 0;
