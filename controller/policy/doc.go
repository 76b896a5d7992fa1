// Package policy is the decision engine: deny by default, and every
// decision carries the reasons and the remediation a user can act on. It is
// pure — a Snapshot of users, apps, posture profiles and policies in, a
// Decision out — so it is cheap to re-run on every posture report.
//
// Imported only by controller packages.
package policy
