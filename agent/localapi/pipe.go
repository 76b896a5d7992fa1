package localapi

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/agent/localpeer"
)

// PipePrefix begins every Windows named pipe path; the local API on
// Windows is a named pipe, never a file.
const PipePrefix = `\\.\pipe\`

// pipeName is the named pipe of the agent whose state dir is dir: the
// agent and the CLI derive the same name from the same dir, and two
// agents with two state dirs get two pipes. Windows paths are compared
// without case.
func pipeName(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(strings.ToLower(filepath.Clean(dir))))
	return PipePrefix + "gatehouse-agent-" + hex.EncodeToString(sum[:8])
}

// pipeServerTrusted says whether a pipe owned by owner may be the agent:
// one made by SYSTEM (the service), an administrator, or the caller
// itself (self, its own foreground agent). Another account may have
// created a pipe of the agent's name while the service was stopped, to
// hand the CLI a sign-in page of its own choosing: the CLI does not talk
// to it.
func pipeServerTrusted(owner, self string) bool {
	return owner != "" && (owner == localpeer.SIDSystem || owner == localpeer.SIDAdministrators || owner == self)
}
