package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/seccomp"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// Exit statuses when the workload cannot be started.
const (
	exitSetup         = 125 // the sandbox failed to apply a restriction
	exitNotExecutable = workload.ExitNotExecutable
	exitNotFound      = workload.ExitNotFound
)

// spawned is a process started by the spawner, or why it was not.
type spawned struct {
	pid, pidfd int
	code       int // non-zero: not started; exit status to report (125/126/127)
	err        error
}

// registerFunc runs fork (which starts a process) and records the new pid
// where the reaper looks, atomically with respect to the reaper.
type registerFunc func(fork func() (pid, pidfd int, err error)) (int, int, error)

// spawner is init's one restricted OS thread. It carries the workload's
// identity, capability sets, no_new_privs, Landlock domain and seccomp
// filter, applied once when it starts, and forks every process of the
// container (the workload and each exec probe), which inherit exactly that
// thread's state. It lives as long as init: a parent-death signal follows
// the thread that forked the process, so the forking thread must outlive
// every child it forked.
//
// The Go runtime creates its new threads from a clean template thread,
// never from a locked one, so init's other threads (and the threads it
// creates later) keep their privileges; the spawner's goroutine is locked
// to its thread and never unlocked, so no other goroutine ever runs there.
type spawner struct {
	requests chan<- spawnRequest
	abi      int // Landlock ABI applied (0 = none)
}

// spawnRequest asks the spawner to start argv with stdio; the answer goes
// to reply (buffered, so the spawner never waits for the asker).
type spawnRequest struct {
	argv  []string
	stdio [3]uintptr
	reply chan<- spawned
}

// startSpawner starts the spawner goroutine, which locks itself to a fresh
// OS thread and restricts that thread as ep says; it returns once the
// restrictions are on, or with the setup error (exit status 125). ep's
// Argv is not used: each request brings its own.
func startSpawner(ep *execPlan, filter *seccomp.Filter, register registerFunc) (*spawner, error) {
	requests := make(chan spawnRequest)
	type ready struct {
		abi int
		err error
	}
	readyc := make(chan ready, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: this thread's credentials change
		abi, err := restrictThread(ep, filter)
		tracePhase("spawner: seccomp")
		readyc <- ready{abi, err}
		if err != nil {
			// Half restricted: the goroutine ends still locked, so the
			// runtime retires the thread instead of reusing it.
			return
		}
		// From here on everything this goroutine does runs under the
		// workload's filter: buildSeccomp checked that it allows the Go
		// runtime's park/wake, memory and fork paths (spawnerSyscalls).
		for req := range requests {
			req.reply <- spawnOnThisThread(ep, req, register)
		}
	}()
	r := <-readyc
	if r.err != nil {
		return nil, r.err
	}
	return &spawner{requests: requests, abi: r.abi}, nil
}

// spawn starts argv with the workload's identity and restrictions and the
// given stdio, and returns once it has been exec'd (or has failed).
func (s *spawner) spawn(argv []string, stdio [3]uintptr) spawned {
	reply := make(chan spawned, 1)
	s.requests <- spawnRequest{argv: argv, stdio: stdio, reply: reply}
	return <-reply
}

// restrictThread applies the workload's restrictions to the calling
// (locked) thread, in the order the kernel requires: identity and
// capabilities, no_new_privs, Landlock, seccomp last.
func restrictThread(ep *execPlan, filter *seccomp.Filter) (abi int, err error) {
	if err := setIdentity(ep); err != nil {
		return 0, err
	}
	tracePhase("spawner: identity and capabilities")
	abi, err = lockDown(ep)
	if err != nil {
		return 0, err
	}
	tracePhase("spawner: no_new_privs, Landlock")
	if filter != nil {
		if err := filter.Install(); err != nil {
			return 0, fmt.Errorf("seccomp: %w", err)
		}
	}
	return abi, nil
}

// spawnOnThisThread checks the workdir, resolves the command and forks it;
// it runs on the spawner thread, so access(2) and the PATH search use the
// user's ids under the workload's restrictions, as the process would.
func spawnOnThisThread(ep *execPlan, req spawnRequest, register registerFunc) spawned {
	if err := unix.Access(ep.Workdir, unix.X_OK); err != nil {
		return spawned{code: exitSetup, err: fmt.Errorf("workdir %s: %w", ep.Workdir, err)}
	}
	path, err := lookCommand(req.argv[0], workload.EnvValue(ep.Env, "PATH"))
	if err != nil {
		return spawned{code: commandErrorCode(err), err: err}
	}
	pidfd := -1
	attr := &syscall.ProcAttr{
		Dir:   ep.Workdir,
		Env:   ep.Env,
		Files: req.stdio[:],
		// Pdeathsig follows the forking thread, the spawner, which lives
		// as long as init: if init dies, so does the process, even
		// without a pid namespace.
		Sys: &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL, PidFD: &pidfd},
	}
	pid, pidfd, err := register(func() (int, int, error) {
		pid, err := syscall.ForkExec(path, req.argv, attr)
		return pid, pidfd, err
	})
	if err != nil {
		return spawned{code: commandErrorCode(err), err: fmt.Errorf("exec %s: %w", req.argv[0], err)}
	}
	return spawned{pid: pid, pidfd: pidfd}
}

// limitNOFile applies a NOFILE limit below initMinNOFile to a process just
// started. It runs on the asking goroutine, not on the spawner, so that
// the workload's filter need not allow prlimit64.
func limitNOFile(ep *execPlan, pid int) {
	if ep.NOFile > 0 && ep.NOFile < initMinNOFile {
		lim := unix.Rlimit{Cur: ep.NOFile, Max: ep.NOFile}
		_ = unix.Prlimit(pid, unix.RLIMIT_NOFILE, &lim, nil)
	}
}

// commandErrorCode maps an exec failure to the shell's convention.
func commandErrorCode(err error) int {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, errNotFound) {
		return exitNotFound
	}
	return exitNotExecutable
}

var errNotFound = errors.New("command not found")

// initMinNOFile is the smallest RLIMIT_NOFILE init can live with (control
// socket, epoll, pidfds, a pipe per probe). A spec asking for less gets its
// limit applied to each process right after it starts instead (prlimit),
// leaving a window of microseconds with init's limit.
const initMinNOFile = 64

// setRlimits sets the workload's limits on init itself, once: rlimits are
// per process and inherited by every process init forks.
func setRlimits(ep *execPlan) error {
	if ep.NOFile >= initMinNOFile {
		// syscall.Setrlimit (not x/sys) so the Go runtime does not restore
		// its cached NOFILE limit at execve.
		lim := syscall.Rlimit{Cur: ep.NOFile, Max: ep.NOFile}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("rlimit NOFILE %d: %w", ep.NOFile, err)
		}
	}
	if ep.NProc > 0 {
		lim := syscall.Rlimit{Cur: ep.NProc, Max: ep.NProc}
		if err := syscall.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
			return fmt.Errorf("rlimit NPROC %d: %w", ep.NProc, err)
		}
	}
	return nil
}

// setIdentity drops the bounding set, switches uid/gid/groups and sets the
// permitted, effective, inheritable and ambient sets to exactly ep.Caps, so
// that a non-root user keeps e.g. CAP_NET_BIND_SERVICE across execve.
func setIdentity(ep *execPlan) error {
	var keep [64]bool
	var mask [2]uint32
	for _, c := range ep.Caps {
		keep[c] = true
		mask[c/32] |= 1 << (uint(c) % 32)
	}
	// Bounding set first: dropping needs CAP_SETPCAP, so it is dropped last.
	last := lastCap()
	for c := 0; c <= last; c++ {
		if keep[c] || c == capSetPCap {
			continue
		}
		if err := prctl(unix.PR_CAPBSET_DROP, uintptr(c)); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if !keep[capSetPCap] {
		if err := prctl(unix.PR_CAPBSET_DROP, capSetPCap); err != nil {
			return fmt.Errorf("drop CAP_SETPCAP from the bounding set: %w", err)
		}
	}
	groups := ep.SupGIDs
	var gp unsafe.Pointer
	if len(groups) > 0 {
		gp = unsafe.Pointer(&groups[0])
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, uintptr(len(groups)), uintptr(gp), 0); e != 0 {
		return fmt.Errorf("setgroups %v: %w", groups, e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(ep.GID), uintptr(ep.GID), uintptr(ep.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", ep.GID, e)
	}
	if err := prctl(unix.PR_SET_KEEPCAPS, 1); err != nil {
		return fmt.Errorf("keepcaps: %w", err)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(ep.UID), uintptr(ep.UID), uintptr(ep.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", ep.UID, e)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: mask[0], Permitted: mask[0], Inheritable: mask[0]},
		{Effective: mask[1], Permitted: mask[1], Inheritable: mask[1]},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for _, c := range ep.Caps {
		if err := prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(c)); err != nil {
			return fmt.Errorf("raise ambient capability %d: %w", c, err)
		}
	}
	if err := prctl(unix.PR_SET_KEEPCAPS, 0); err != nil {
		return fmt.Errorf("keepcaps off: %w", err)
	}
	return nil
}

// lockDown applies the restrictions that come after the identity:
// no_new_privs, then Landlock. seccomp comes last, separately.
func lockDown(ep *execPlan) (abi int, err error) {
	if err := prctl(unix.PR_SET_NO_NEW_PRIVS, 1); err != nil {
		return 0, fmt.Errorf("no_new_privs: %w", err)
	}
	abi, err = restrictLandlock(ep.Landlock)
	if err != nil {
		return 0, fmt.Errorf("landlock: %w", err)
	}
	return abi, nil
}

// prctl is the raw per-thread prctl(2).
func prctl(option int, args ...uintptr) error {
	var a [4]uintptr
	copy(a[:], args)
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, uintptr(option), a[0], a[1], a[2], a[3], 0); e != 0 {
		return e
	}
	return nil
}

// lookCommand resolves argv[0] in PATH inside the container, the way a shell
// does: a name with a slash is used as is.
func lookCommand(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	if path == "" {
		path = workload.DefaultPath
	}
	var denied error
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, name)
		fi, err := os.Stat(cand)
		if err != nil || fi.IsDir() {
			continue
		}
		if err := unix.Access(cand, unix.X_OK); err != nil {
			denied = fmt.Errorf("%s: %w", cand, err)
			continue
		}
		return cand, nil
	}
	if denied != nil {
		return "", denied
	}
	return "", fmt.Errorf("%s: %w in PATH %s", name, errNotFound, path)
}
