// Package identity is the controller's identity room: who a person is and
// what their sign-in may do. It checks built-in credentials (argon2id
// passwords, TOTP codes that cannot be replayed), mints sign-in sessions
// whose access and refresh tokens work only from the device they were
// issued to (a refresh rotates the refresh token; a spent one coming back
// revokes the session), throttles failed sign-ins per account and per
// source with exponential backoff rather than a lock, keeps admin roles
// and role-scoped API tokens behind one permission check, and approves or
// blocks devices. Each change is a typed Event (Service.Subscribe) so the
// core can cut tunnels and the audit log can record it. Time comes from an
// injected Clock; nothing here sees HTTP.
//
// Imported by controller and its HTTP layer only.
package identity
