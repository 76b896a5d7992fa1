// Package testenv says what a test may do when the machine lacks one of
// its prerequisites (root, a tool), runs a test as a child process, and
// collects a process's output for a test to read. Imported by tests only.
package testenv

import (
	"os"
	"testing"
)

// StrictVar names the environment variable that turns missing
// prerequisites from a skip into a failure; .ci/run sets it, because in CI
// a skipped proof would pass for nothing.
const StrictVar = "GATEHOUSE_TEST_STRICT"

// SkipOrFail skips the test on a developer's machine that lacks what it
// needs, and fails it where StrictVar is set.
func SkipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(StrictVar) != "" {
		t.Fatalf("%s (%s is set: this test must run here)", why, StrictVar)
	}
	t.Skip(why)
}
