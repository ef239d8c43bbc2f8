// Package seccomp owns the workload's syscall filter: nucleus's default
// allowlist (with argument filters for clone, socket, ioctl and personality),
// loading OCI-format JSON profiles (runtime-spec LinuxSeccomp), assembling
// either into classic BPF, and installing it on the calling thread.
//
// It is pure Go (no cgo, no libseccomp): nucleus-exec is a static binary.
// The syscall tables come from github.com/elastic/go-seccomp-bpf (copied
// into zsyscalls.go by a test); the BPF is assembled here (assemble.go says
// why, and how: a binary search over the syscall numbers). Every program
// starts with a preamble that kills any foreign architecture or x32
// syscall outright (SECCOMP_RET_KILL_PROCESS): their numbers mean other
// calls, so no rule written for x86_64 applies to them.
//
// Blocked calls return EPERM; clone3 returns ENOSYS (libc then uses clone,
// whose flags can be checked); MPTCP sockets return EPROTONOSUPPORT (so
// that programs fall back to TCP, which Landlock's port rules cover).
//
// This package must not know the spec file format or decide when a filter is
// installed: the sandbox builds a Filter from Options and installs it as the
// last step before execve.
package seccomp

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mode names accepted in Options.Mode.
const (
	ModeDefault    = "default"
	ModeUnconfined = "unconfined"
	ModeProfile    = "profile"
)

// Options selects the workload's filter.
type Options struct {
	Mode        string   // "default" | "unconfined" | "profile"
	ProfilePath string   // OCI-format JSON profile (runtime-spec LinuxSeccomp), Mode == "profile"
	Allow       []string // extra syscall names allowed on top of the default profile
	// HostNetwork is network.mode = "host". The default filter is the same in
	// both network modes: what makes host networking dangerous (raw and
	// packet sockets, netlink other than route, MPTCP past Landlock's TCP
	// rules) is refused in both, and AF_INET/AF_INET6/AF_NETLINK(route) are
	// needed in both (a loopback server, getifaddrs). Abstract unix sockets
	// of the host (CVE-2020-15257) cannot be told apart by seccomp (the
	// address is behind a pointer); Landlock's abstract-socket scope does
	// that. The field stays so that a future difference has one place.
	HostNetwork bool
}

// Filter is an assembled seccomp program, ready to install.
type Filter struct {
	prog  []unix.SockFilter
	flags uint // SECCOMP_FILTER_FLAG_* passed to seccomp(2)
}

// Len is the number of BPF instructions (at most 4096, the kernel's limit).
func (f *Filter) Len() int { return len(f.prog) }

// Build assembles the filter o asks for. It returns nil, nil for
// "unconfined". Unknown syscall names in o.Allow, names nucleus refuses
// outright, and profiles that cannot be expressed are errors.
func Build(o Options) (*Filter, error) {
	if o.Mode == ModeUnconfined {
		if len(o.Allow) > 0 {
			return nil, fmt.Errorf("seccomp: allow list %v given with seccomp = %q: it only extends the default profile", o.Allow, o.Mode)
		}
		return nil, nil
	}
	if runtime.GOARCH != "amd64" {
		// The tables and the preamble are x86_64's: elsewhere the
		// filter would kill every call. Fail at build time instead.
		return nil, fmt.Errorf("seccomp: filters are built for x86_64 only, not %s", runtime.GOARCH)
	}
	switch o.Mode {
	case ModeDefault, "":
		if len(o.Allow) == 0 {
			return defaultFilter()
		}
		p, err := defaultPolicy(o.Allow)
		if err != nil {
			return nil, err
		}
		return p.filter()
	case ModeProfile:
		if len(o.Allow) > 0 {
			return nil, fmt.Errorf("seccomp: allow list %v given with profile %s: seccomp_allow only extends the default profile; add the names to the profile", o.Allow, o.ProfilePath)
		}
		p, err := loadProfile(o.ProfilePath)
		if err != nil {
			return nil, err
		}
		return p.filter()
	}
	return nil, fmt.Errorf("seccomp: unknown mode %q (want default, unconfined or profile)", o.Mode)
}

// defaultFilter is the default profile without extra names: the same
// program at every container start, so it is assembled ahead of time into
// zdefault.go (TestGeneratedDefaultProgram keeps that file equal to what
// the assembler makes of defaultPolicy), and a start pays nothing to build
// it. The program array is never written; each caller gets its own header.
func defaultFilter() (*Filter, error) {
	return &Filter{prog: defaultProgram[:]}, nil
}

// Install loads the filter into the calling thread with
// seccomp(SECCOMP_SET_MODE_FILTER) and no TSYNC: only this thread (and what
// it execs or clones afterwards) is filtered.
//
// Install locks the calling goroutine to its OS thread and never unlocks it,
// so that everything the goroutine does next (typically execve) runs on the
// filtered thread; when the goroutine ends, the Go runtime retires the
// thread instead of reusing it. It sets no_new_privs on the thread first
// (the kernel requires it without CAP_SYS_ADMIN; setting it twice is
// harmless).
func (f *Filter) Install() error {
	if f == nil || len(f.prog) == 0 {
		return fmt.Errorf("seccomp: install: empty filter")
	}
	runtime.LockOSThread() // never unlocked: see the doc comment
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(f.flags), uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(f)
	if errno != 0 {
		return fmt.Errorf("seccomp: seccomp(SECCOMP_SET_MODE_FILTER, %d instructions): %w", len(f.prog), os.NewSyscallError("seccomp", errno))
	}
	return nil
}
