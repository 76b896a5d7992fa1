package posture

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gatehouse-ztna/gatehouse/api"
	"github.com/shirou/gopsutil/v4/process"
)

// commLen is the most bytes the kernel keeps of a process's name
// (TASK_COMM_LEN less its NUL).
const commLen = 15

// processName is p's name as gopsutil gives it, read cheaply: the kernel's
// comm when it is shorter than commLen (then it is the whole name); a cut
// comm is only completed through gopsutil (which reads status and
// cmdline, the costly part of a re-check) when it begins an asked name —
// otherwise no asked name can match, and its first commLen bytes are
// returned as they are.
func processName(ctx context.Context, p *process.Process, asked map[string]api.BoolFact) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(int(p.Pid)), "comm"))
	if err != nil {
		return "", err
	}
	comm := strings.TrimSuffix(string(b), "\n")
	if len(comm) < commLen {
		return comm, nil
	}
	for name := range asked {
		if strings.HasPrefix(name, comm) {
			return p.NameWithContext(ctx)
		}
	}
	return comm, nil
}
