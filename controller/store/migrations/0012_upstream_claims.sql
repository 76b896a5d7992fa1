-- Claims (issue 8, claims): the identity provider's claims at the last
-- sign-in or refresh of an external identity, as a JSON object of strings,
-- for policy conditions (user.claims). The identity room bounds them
-- before they get here (at most 64, short, printable).
ALTER TABLE external_identities ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';
