// Command start is the start-latency floor of nucleus's process model: a Go
// parent clones a child into new pid, mount, ipc, uts, net and cgroup
// namespaces and waits for it. By default the child is this program again,
// a second Go runtime (the role of nucleus's init), which runs /bin/true and
// waits for it; with the argument "direct" the child is /bin/true itself.
// No mount, no seccomp, no Landlock, no capability change: whatever nucleus
// adds costs more than this. See package bench/floor.
package main

import (
	"fmt"
	"os"
	"syscall"
)

const namespaces = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC |
	syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET | syscall.CLONE_NEWCGROUP

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		os.Exit(run("/bin/true", []string{"true"}, nil))
	}
	path, argv := "/proc/self/exe", []string{"start", "init"}
	if len(os.Args) > 1 && os.Args[1] == "direct" {
		path, argv = "/bin/true", []string{"true"}
	}
	os.Exit(run(path, argv, &syscall.SysProcAttr{Cloneflags: namespaces, Pdeathsig: syscall.SIGKILL}))
}

// run starts path and returns its exit status, or 125 when it cannot.
func run(path string, argv []string, sys *syscall.SysProcAttr) int {
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{Files: []uintptr{0, 1, 2}, Sys: sys})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start: %s: %v\n", path, err)
		return 125
	}
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		fmt.Fprintf(os.Stderr, "start: wait: %v\n", err)
		return 125
	}
	return ws.ExitStatus()
}
