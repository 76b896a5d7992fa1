// Package policyfile is policy as code: one HuJSON file (JSON with
// comments and trailing commas) holding the groups with their members,
// apps, posture profiles, policies, exceptions and tests. It parses the
// file into the api types (unknown fields refused), checks it as a whole
// (duplicate names, dangling references, CEL) with every error at its
// line and column, diffs it against the live objects field by field,
// writes the live objects back as the same file, and runs the file's
// tests against its own policy with the real engine (controller/policy).
//
// It never touches the store: the controller reads and replaces the live
// objects (store.ReplacePolicy) around it. Imported only by controller.
package policyfile
