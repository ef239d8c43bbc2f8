package workload

import (
	"os"
	"syscall"
)

// Exit statuses for a workload command that cannot be run, the shell's
// convention (ARCHITECTURE.md: nucleus-exec exits with them).
const (
	ExitNotExecutable = 126
	ExitNotFound      = 127
)

// ExitStatus is the status nucleus reports for a finished process: its
// exit code, or 128+signal when a signal killed it (the shell's
// convention). ok is false when ps carries no wait status (nil: the
// process was never waited for).
func ExitStatus(ps *os.ProcessState) (status int, ok bool) {
	if ps == nil {
		return 0, false
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return 0, false
	}
	switch {
	case ws.Exited():
		return ws.ExitStatus(), true
	case ws.Signaled():
		return 128 + int(ws.Signal()), true
	}
	return 0, true
}
