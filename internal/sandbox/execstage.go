package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exit statuses of the exec stage when the workload cannot be started.
const (
	exitSetup         = 125 // the sandbox failed to apply a restriction
	exitNotExecutable = 126
	exitNotFound      = 127
)

// Inherited descriptors of the exec stage (after stdin/stdout/stderr).
const (
	execStatusFD  = 3 // write end of init's status pipe; close-on-exec at the end, so EOF = exec'd
	execProfileFD = 4 // the seccomp profile, opened by init before pivot_root
)

// statusLine is what the exec stage reports to init on its status pipe.
type statusLine struct {
	Log  string `json:"log,omitempty"`
	Err  string `json:"err,omitempty"`
	Code int    `json:"code,omitempty"`
}

// runExecStage is the process that becomes the workload (or a probe). It
// runs inside every namespace and the final root, as a fresh process, on
// one locked OS thread: the identity calls below are raw per-thread
// syscalls, which is correct because this very thread execs next and
// execve takes the calling thread's credentials.
func runExecStage() int {
	// Non-dumpable from the first instruction we control: until execve the
	// process image is the host's nucleus-exec (CVE-2019-5736).
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	status := os.NewFile(execStatusFD, "status")
	report := func(l statusLine) {
		b, _ := json.Marshal(l)
		_, _ = status.Write(append(b, '\n'))
	}
	fail := func(code int, err error) int {
		report(statusLine{Err: err.Error(), Code: code})
		fmt.Fprintf(os.Stderr, "nucleus: %v\n", err)
		return code
	}

	var ep execPlan
	if err := json.Unmarshal([]byte(os.Getenv(planEnv)), &ep); err != nil {
		return fail(exitSetup, fmt.Errorf("exec stage: plan: %w", err))
	}
	// The filter is built first: a profile is read through an inherited fd,
	// which Landlock would refuse to reopen once applied.
	filter, err := buildSeccomp(&ep)
	if err != nil {
		return fail(exitSetup, err)
	}
	msgs, err := applyExecPlan(&ep)
	for _, m := range msgs {
		report(statusLine{Log: m})
	}
	if err != nil {
		return fail(exitSetup, err)
	}
	path, err := lookCommand(ep.Argv[0], envValue(ep.Env, "PATH"))
	if err != nil {
		return fail(commandErrorCode(err), err)
	}
	final, err := lockDown(&ep)
	if err != nil {
		return fail(exitSetup, err)
	}
	for _, m := range final {
		report(statusLine{Log: m})
	}
	// Everything above fd 2 closes on exec, the status pipe included: init
	// reads EOF and knows the workload is running.
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail(exitSetup, fmt.Errorf("close_range: %w", err))
	}
	if err := installSeccomp(filter); err != nil {
		return fail(exitSetup, err)
	}
	err = syscall.Exec(path, ep.Argv, ep.Env)
	return fail(commandErrorCode(err), fmt.Errorf("exec %s: %w", ep.Argv[0], err))
}

// commandErrorCode maps an exec failure to the shell's convention.
func commandErrorCode(err error) int {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, errNotFound) {
		return exitNotFound
	}
	return exitNotExecutable
}

var errNotFound = errors.New("command not found")

// applyExecPlan sets the process-wide and per-thread state that is not a
// restriction yet: rlimits, the identity and the capability sets.
func applyExecPlan(ep *execPlan) (logs []string, err error) {
	if ep.NOFile > 0 {
		// syscall.Setrlimit (not x/sys) so the Go runtime does not restore
		// its cached NOFILE limit at execve.
		lim := syscall.Rlimit{Cur: ep.NOFile, Max: ep.NOFile}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return nil, fmt.Errorf("rlimit NOFILE %d: %w", ep.NOFile, err)
		}
	}
	if ep.NProc > 0 {
		lim := syscall.Rlimit{Cur: ep.NProc, Max: ep.NProc}
		if err := syscall.Setrlimit(unix.RLIMIT_NPROC, &lim); err != nil {
			return nil, fmt.Errorf("rlimit NPROC %d: %w", ep.NProc, err)
		}
	}
	if err := setIdentity(ep); err != nil {
		return nil, err
	}
	if err := unix.Chdir(ep.Workdir); err != nil {
		return nil, fmt.Errorf("workdir %s: %w", ep.Workdir, err)
	}
	return nil, nil
}

// setIdentity drops the bounding set, switches uid/gid/groups and sets the
// permitted, effective, inheritable and ambient sets to exactly ep.Caps, so
// that a non-root user keeps e.g. CAP_NET_BIND_SERVICE across execve.
func setIdentity(ep *execPlan) error {
	keep := map[int]bool{}
	var mask [2]uint32
	for _, c := range ep.Caps {
		keep[c] = true
		mask[c/32] |= 1 << (uint(c) % 32)
	}
	// Bounding set first: dropping needs CAP_SETPCAP, so it is dropped last.
	last := lastCap()
	for c := 0; c <= last; c++ {
		if keep[c] || c == capNames["CAP_SETPCAP"] {
			continue
		}
		if err := prctl(unix.PR_CAPBSET_DROP, uintptr(c)); err != nil {
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if !keep[capNames["CAP_SETPCAP"]] {
		if err := prctl(unix.PR_CAPBSET_DROP, uintptr(capNames["CAP_SETPCAP"])); err != nil {
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

// lockDown applies the restrictions that must come after the identity:
// no_new_privs, then Landlock. seccomp comes last, separately.
func lockDown(ep *execPlan) (logs []string, err error) {
	if err := prctl(unix.PR_SET_NO_NEW_PRIVS, 1); err != nil {
		return nil, fmt.Errorf("no_new_privs: %w", err)
	}
	abi, err := restrictLandlock(ep.Landlock)
	if err != nil {
		return nil, fmt.Errorf("landlock: %w", err)
	}
	if ep.Workload {
		if abi == 0 {
			logs = append(logs, "landlock: not supported by this kernel, running without it")
		} else {
			logs = append(logs, fmt.Sprintf("landlock: ABI %d", abi))
		}
	}
	return logs, nil
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
		path = defaultPath
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

func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}
