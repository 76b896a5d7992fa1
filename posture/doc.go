// Package posture collects device posture facts into an api.PostureReport.
// It collects facts; it never decides: every fact carries whether it is
// known, and judging the report is the controller's job.
//
// Imported by the agent and by tests; never by the controller.
package posture
