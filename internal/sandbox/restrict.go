package sandbox

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/landlock"
	"github.com/nucleus-containers/nucleus/internal/seccomp"
)

// buildSeccomp assembles the workload's filter once, in init, before
// pivot_root (a profile path is a host path), and checks that the spawner
// thread can live under it; nil means unconfined.
func buildSeccomp(sp seccompPlan) (*seccomp.Filter, error) {
	f, err := seccomp.Build(seccomp.Options{Mode: sp.Mode, ProfilePath: sp.ProfilePath, Allow: sp.Allow, HostNetwork: sp.HostNetwork})
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if err := checkSpawnerSyscalls(f); err != nil {
		return nil, err
	}
	return f, nil
}

// spawnerSyscall is a call init's spawner thread makes itself after its
// seccomp filter is installed, with the arguments that matter.
type spawnerSyscall struct {
	name string
	args [6]uint64
	// mustRun: the call has to succeed (the Go runtime throws, spins, or
	// nothing can be started otherwise). The others may fail (the runtime
	// ignores the error, or the spawn reports it), but the filter must not
	// kill or trap on them: a killed thread would leave init waiting for an
	// answer forever.
	mustRun bool
	why     string
}

// Values the Go runtime and syscall.ForkExec pass (linux/amd64).
const (
	futexWaitPrivate = 128 // FUTEX_WAIT | FUTEX_PRIVATE_FLAG
	futexWakePrivate = 129 // FUTEX_WAKE | FUTEX_PRIVATE_FLAG
	goForkFlags      = unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | uint64(unix.SIGCHLD)
	mmapAnonFD       = 0xffffffff  // fd -1 as the runtime's 32-bit move leaves it
	atFDCWD          = 1<<64 - 100 // AT_FDCWD (-100) as syscall.Syscall passes it
)

// spawnerSyscalls is what the spawner thread does after seccomp is on: the
// Go runtime parks and wakes it (futex), gives it memory (mmap), runs
// signal handlers on it (rt_sigreturn), may stop and start the world on it
// (epoll_pwait, write, tgkill) and spin (sched_yield, nanosleep); the
// spawn itself checks the workdir and PATH (faccessat, newfstatat) and
// forks (clone, rt_sigprocmask around it, pipe2, read, close; wait4 when
// the exec failed). What the child does between fork and execve (dup3,
// chdir, setsid, prctl, execve) is not here: a refusal there is reported
// as the command's failure (126), a kill as its signal.
var spawnerSyscalls = []spawnerSyscall{
	{"futex", [6]uint64{0, futexWaitPrivate}, true, "Go runtime: park"},
	{"futex", [6]uint64{0, futexWakePrivate}, true, "Go runtime: wake"},
	{"mmap", [6]uint64{0, 1 << 16, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, mmapAnonFD, 0}, true, "Go runtime: memory"},
	{"munmap", [6]uint64{}, false, "Go runtime: memory"},
	{"madvise", [6]uint64{0, 0, unix.MADV_DONTNEED}, false, "Go runtime: memory"},
	{"rt_sigreturn", [6]uint64{}, true, "Go runtime: return from a signal handler"},
	{"rt_sigprocmask", [6]uint64{unix.SIG_SETMASK, 0, 0, 8}, true, "Go fork path: signals blocked around clone"},
	{"clock_gettime", [6]uint64{unix.CLOCK_MONOTONIC}, true, "Go runtime: time, when the vDSO falls back"},
	{"epoll_pwait", [6]uint64{}, true, "Go runtime: poll when starting the world"},
	{"write", [6]uint64{}, true, "Go runtime: wake the network poller"},
	{"sched_yield", [6]uint64{}, false, "Go runtime: spin"},
	{"nanosleep", [6]uint64{}, false, "Go runtime: spin"},
	{"getpid", [6]uint64{}, false, "Go runtime: preempt"},
	{"gettid", [6]uint64{}, false, "Go runtime: preempt"},
	{"tgkill", [6]uint64{0, 0, uint64(unix.SIGURG)}, false, "Go runtime: preempt"},
	{"faccessat", [6]uint64{atFDCWD, 0, unix.X_OK}, false, "spawn: workdir and PATH search"},
	{"newfstatat", [6]uint64{atFDCWD}, false, "spawn: PATH search"},
	{"clone", [6]uint64{goForkFlags}, true, "spawn: fork"},
	{"pipe2", [6]uint64{0, unix.O_CLOEXEC}, true, "spawn: exec status pipe"},
	{"read", [6]uint64{}, true, "spawn: exec status pipe"},
	{"close", [6]uint64{}, true, "spawn: exec status pipe"},
	{"wait4", [6]uint64{}, false, "spawn: reap a child whose exec failed"},
}

// checkSpawnerSyscalls refuses a filter under which the spawner thread
// could not work, naming the call, what the filter does with it, and why
// nucleus needs it (the default filter allows them all; a custom OCI
// profile must too). Checking the assembled program up front turns what
// would be a hang or a killed thread into a setup error.
func checkSpawnerSyscalls(f *seccomp.Filter) error {
	if f == nil {
		return nil
	}
	for _, c := range spawnerSyscalls {
		runs, action, err := f.Verdict(c.name, c.args)
		if err != nil {
			return fmt.Errorf("seccomp: %w", err)
		}
		if runs || (!c.mustRun && strings.HasPrefix(action, "errno")) {
			continue
		}
		return fmt.Errorf("seccomp: the filter answers %s with %s, but nucleus makes that call itself under the workload's filter, "+
			"on the thread that forks the workload and exec probes (%s): allow %s in the profile", c.name, action, c.why, c.name)
	}
	return nil
}

// restrictLandlock applies the plan's Landlock rules to the calling thread
// (which execs next). abi 0 means the kernel has no Landlock.
func restrictLandlock(r landlockPlan) (int, error) {
	return landlock.Restrict(landlock.Rules{Read: r.Read, Write: r.Write, Execute: r.Execute,
		TCPBind: r.TCPBind, TCPConnect: r.TCPConnect})
}
