package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// childVar carries the input of a test run as a child (Child, ChildInput).
const childVar = "GATEHOUSE_TEST_CHILD_INPUT"

// Child is a command that runs the test binary bin (os.Args[0], or a copy
// other accounts may run) with only the test named test, given input: a
// test that must act from another process (another uid, another mount
// namespace) runs that part as such a child.
func Child(bin, test, input string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^"+test+"$", "-test.v")
	cmd.Env = append(os.Environ(), childVar+"="+input)
	return cmd
}

// ChildInput is the input a test run by Child was given; run any other
// way, the test is skipped (it is a helper, not a test).
func ChildInput(t testing.TB, parent string) string {
	t.Helper()
	in := os.Getenv(childVar)
	if in == "" {
		t.Skip("helper run by " + parent)
	}
	return in
}
