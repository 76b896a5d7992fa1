package localapi

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
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
