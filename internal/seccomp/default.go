package seccomp

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// defaultAllow is the default profile's unconditional allowlist: what
// ordinary services need (python3, static Go servers, busybox, bash/dash,
// glibc and musl programs). It is modelled on Docker's and Podman's default
// profiles minus what a service does not need (namespaces, mounting, kernel
// modules, tracing, keyrings, clock setting, raw I/O ports, modify_ldt,
// hostname changes, fanotify, kcmp, NUMA page migration, obsolete calls).
// Everything not listed returns EPERM.
var defaultAllow = []string{
	// files and directories
	"access", "chdir", "chmod", "chown", "close", "close_range", "copy_file_range", "creat",
	"dup", "dup2", "dup3", "faccessat", "faccessat2", "fadvise64", "fallocate", "fchdir",
	"fchmod", "fchmodat", "fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "flock",
	"fstat", "fstatfs", "fsync", "ftruncate", "futimesat", "getcwd", "getdents", "getdents64",
	"lchown", "link", "linkat", "lseek", "lstat", "mkdir", "mkdirat", "newfstatat", "open",
	"openat", "openat2", "pread64", "preadv", "preadv2", "pwrite64", "pwritev", "pwritev2",
	"read", "readahead", "readlink", "readlinkat", "readv", "rename", "renameat", "renameat2",
	"rmdir", "sendfile", "splice", "stat", "statfs", "statx", "symlink", "symlinkat", "sync",
	"sync_file_range", "syncfs", "tee", "truncate", "umask", "unlink", "unlinkat", "utime",
	"utimensat", "utimes", "vmsplice", "write", "writev",
	// extended attributes
	"fgetxattr", "flistxattr", "fremovexattr", "fsetxattr", "getxattr", "getxattrat",
	"lgetxattr", "listxattr", "listxattrat", "llistxattr", "lremovexattr", "lsetxattr",
	"removexattr", "removexattrat", "setxattr", "setxattrat",
	// file descriptors for events, pipes, memory
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
	"eventfd", "eventfd2", "inotify_add_watch", "inotify_init", "inotify_init1",
	"inotify_rm_watch", "memfd_create", "pipe", "pipe2", "poll", "ppoll", "pselect6", "select",
	"signalfd", "signalfd4", "timerfd_create", "timerfd_gettime", "timerfd_settime",
	// asynchronous I/O (databases); io_uring is refused, see refused
	"io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
	// memory
	"brk", "cachestat", "get_mempolicy", "madvise", "map_shadow_stack", "mbind", "membarrier",
	"mincore", "mlock", "mlock2", "mlockall", "mmap", "mprotect", "mremap", "mseal", "msync",
	"munlock", "munlockall", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect",
	"set_mempolicy",
	// processes and threads (clone has argument filters, see below)
	"arch_prctl", "execve", "execveat", "exit", "exit_group", "fork", "get_robust_list",
	"getcpu", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrlimit", "getrusage",
	"getsid", "gettid", "ioprio_get", "ioprio_set", "pidfd_open", "pidfd_send_signal", "prctl",
	"prlimit64", "rseq", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
	"sched_rr_get_interval", "sched_setaffinity", "sched_setattr", "sched_setparam",
	"sched_setscheduler", "sched_yield", "set_robust_list", "set_tid_address", "setpgid",
	"setpriority", "setrlimit", "setsid", "sysinfo", "uname", "vfork", "wait4", "waitid",
	// futexes
	"futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake",
	// signals
	"kill", "pause", "restart_syscall", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
	"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_tgsigqueueinfo",
	"sigaltstack", "tgkill", "tkill",
	// time (reading only; setting the clock is refused)
	"alarm", "clock_getres", "clock_gettime", "clock_nanosleep", "getitimer", "gettimeofday",
	"nanosleep", "setitimer", "time", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_settime", "times",
	// identity (capabilities decide what a change may do)
	"capget", "capset", "getegid", "geteuid", "getgid", "getgroups", "getresgid", "getresuid",
	"getuid", "setfsgid", "setfsuid", "setgid", "setgroups", "setregid", "setresgid",
	"setresuid", "setreuid", "setuid",
	// sockets (socket itself has argument filters, see below)
	"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
	"listen", "recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto", "setsockopt",
	"shutdown", "socketpair",
	// System V and POSIX IPC (PostgreSQL and friends)
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink",
	"msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop", "shmat",
	"shmctl", "shmdt", "shmget",
	// a service may restrict itself further
	"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp",
	// randomness
	"getrandom",
}

// refused are syscalls the default profile never allows, and seccomp_allow
// cannot add (a spec that needs one must bring its own profile): they
// reach kernel interfaces a service has no business with, and most are the
// usual first steps of a container escape.
//
// io_uring_* deserve a word: operations submitted through an io_uring are
// executed by the kernel without passing the seccomp filter again, so an
// allowed ring would turn every argument filter here (socket families,
// ioctl requests) into a suggestion; io_uring has also been the source of a
// large share of recent kernel privilege escalations, which is why Docker,
// ChromeOS and Android refuse it too.
var refused = [...]reason{
	{"mount", "mounting"},
	{"umount2", "mounting"},
	{"pivot_root", "mounting"},
	{"chroot", "mounting"},
	{"fsopen", "mounting"},
	{"fsmount", "mounting"},
	{"move_mount", "mounting"},
	{"open_tree", "mounting"},
	{"open_tree_attr", "mounting"},
	{"fsconfig", "mounting"},
	{"fspick", "mounting"},
	{"mount_setattr", "mounting"},
	{"unshare", "namespaces"},
	{"setns", "namespaces"},
	{"kexec_load", "kernel loading"},
	{"kexec_file_load", "kernel loading"},
	{"init_module", "kernel modules"},
	{"finit_module", "kernel modules"},
	{"delete_module", "kernel modules"},
	{"bpf", "eBPF"},
	{"keyctl", "kernel keyrings"},
	{"add_key", "kernel keyrings"},
	{"request_key", "kernel keyrings"},
	{"perf_event_open", "performance monitoring"},
	{"userfaultfd", "userfaultfd (an exploitation primitive)"},
	{"ptrace", "tracing"},
	{"process_vm_readv", "tracing"},
	{"process_vm_writev", "tracing"},
	{"open_by_handle_at", "file handles (the Shocker escape)"},
	{"name_to_handle_at", "file handles"},
	{"reboot", "reboot"},
	{"swapon", "swap"},
	{"swapoff", "swap"},
	{"acct", "process accounting"},
	{"settimeofday", "setting the clock"},
	{"clock_settime", "setting the clock"},
	{"adjtimex", "setting the clock"},
	{"clock_adjtime", "setting the clock"},
	{"iopl", "raw I/O ports"},
	{"ioperm", "raw I/O ports"},
	{"lookup_dcookie", "profiling"},
	{"mknod", "device nodes"},
	{"mknodat", "device nodes"},
	{"quotactl", "disk quotas"},
	{"quotactl_fd", "disk quotas"},
	{"io_uring_setup", "io_uring (bypasses seccomp)"},
	{"io_uring_enter", "io_uring (bypasses seccomp)"},
	{"io_uring_register", "io_uring (bypasses seccomp)"},
}

// Argument-filtered syscalls of the default profile.
const (
	// namespaceFlags are the clone flags that create namespaces; a service
	// gets none (CLONE_NEWTIME shares its bit with CSIGNAL in clone(2) and
	// can only be asked for through clone3 or unshare, both refused).
	namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
		unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

	ipprotoMPTCP = 262 // IPPROTO_MPTCP
)

// personalities are the personality(2) values a service may set or query:
// the Linux defaults, UNAME26 for old software, and the 0xffffffff query
// (also as the sign-extended -1 an int argument becomes). Docker allows the
// same. ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC, which weaken exploit
// mitigations, are refused.
var personalities = []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff, 0xffffffffffffffff}

// argFiltered names the syscalls that the default profile allows only with
// argument filters; seccomp_allow cannot widen them.
var argFiltered = [...]reason{
	{"clone", "allowed without namespace flags"},
	{"clone3", "returns ENOSYS so that libc falls back to clone, whose flags seccomp can check (clone3's are behind a pointer)"},
	{"socket", "allowed for AF_UNIX, AF_INET/AF_INET6 (no raw sockets, no MPTCP) and AF_NETLINK route"},
	{"ioctl", "allowed except TIOCSTI and TIOCLINUX"},
	{"personality", "allowed for the harmless personalities"},
}

// reason is a syscall name and why the default profile treats it specially.
// The lists are arrays, not maps: a map literal is built by package
// initialisation in every nucleus-exec process, and these are read only
// when a spec names seccomp_allow.
type reason struct{ name, why string }

func lookupReason(list []reason, name string) (string, bool) {
	for _, r := range list {
		if r.name == name {
			return r.why, true
		}
	}
	return "", false
}

// Known reports whether name is a syscall on this architecture (x86_64), for
// validating seccomp_allow elsewhere.
func Known(name string) bool {
	_, ok := syscallNumber(name)
	return ok
}

// Names lists the x86_64 syscall names Known accepts, sorted (for "did you
// mean" hints). The table is static: unlike importing
// github.com/elastic/go-seccomp-bpf/arch, whose maps cost 0.4-0.6 ms of
// package initialisation in every nucleus-exec start, using it costs
// nothing until called.
func Names() []string {
	names := make([]string, len(x86_64Syscalls))
	for i, s := range x86_64Syscalls {
		names[i] = s.name
	}
	return names
}

// CheckAllow says whether name may be added to the default profile with
// seccomp_allow: nil when it may (including names the profile already
// allows), an error saying why not otherwise.
func CheckAllow(name string) error {
	if !Known(name) {
		return fmt.Errorf("seccomp_allow: %q is not a Linux x86_64 syscall", name)
	}
	if why, ok := lookupReason(refused[:], name); ok {
		return fmt.Errorf("seccomp_allow: %q is refused by nucleus's default profile (%s); a spec that needs it must use its own seccomp profile", name, why)
	}
	if how, ok := lookupReason(argFiltered[:], name); ok {
		return fmt.Errorf("seccomp_allow: %q is already in the default profile with argument filters (%s); seccomp_allow cannot widen it", name, how)
	}
	return nil
}

// socketTypes are the socket types allowed for AF_INET and AF_INET6, each
// with every combination of SOCK_NONBLOCK and SOCK_CLOEXEC: SOCK_RAW and
// SOCK_PACKET are left out.
var socketTypes = []uint64{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET}

// defaultPolicy is the default profile plus the extra names.
func defaultPolicy(extra []string) (*policy, error) {
	allow := append([]string(nil), defaultAllow...)
	have := make(map[string]bool, len(allow)+len(extra))
	for _, n := range allow {
		have[n] = true
	}
	var bad []string
	for _, n := range extra {
		if err := CheckAllow(n); err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if !have[n] {
			have[n] = true
			allow = append(allow, n)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("seccomp: %s", strings.Join(bad, "; "))
	}
	eq := func(arg uint32, v uint64) cond {
		return cond{arg: arg, op: opEqual, val: v}
	}

	// socket(domain, type, protocol): domain and type are compared in
	// full, so a caller cannot hide a value in the upper 32 bits (which
	// the kernel drops) without falling to the default EPERM.
	var socketSets [][]cond
	socketSets = append(socketSets, []cond{eq(0, unix.AF_UNIX)})
	for _, family := range []uint64{unix.AF_INET, unix.AF_INET6} {
		for _, typ := range socketTypes {
			// type == typ, alone or with SOCK_NONBLOCK and/or
			// SOCK_CLOEXEC, as one masked comparison rather than four
			// equalities (a quarter of the instructions). The protocol
			// comes before the type: the assembler emits conditions a
			// set shares with the one before only once (assemble.go),
			// and these sets differ only in the type.
			set := []cond{
				eq(0, family),
				// IP protocols are < 256; MPTCP (262) is answered below.
				{arg: 2, op: opLessEqual, val: 255},
			}
			socketSets = append(socketSets, append(set, maskedEqual(1, ^uint64(unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC), typ)...))
		}
	}
	socketSets = append(socketSets, []cond{eq(0, unix.AF_NETLINK), eq(2, unix.NETLINK_ROUTE)})

	var personalitySets [][]cond
	for _, v := range personalities {
		personalitySets = append(personalitySets, []cond{eq(0, v)})
	}

	return &policy{
		source:        "nucleus default profile",
		defaultAction: errnoRet(unix.EPERM),
		groups: []group{
			// clone3's flags are in memory seccomp cannot read: ENOSYS
			// makes glibc (2.34+) fall back to clone.
			{action: errnoRet(unix.ENOSYS), names: []string{"clone3"}},
			// MPTCP is not covered by Landlock's TCP port rules; answer it
			// like a kernel without MPTCP, so that Go (which tries MPTCP
			// first since 1.24) and others fall back to plain TCP.
			{action: errnoRet(unix.EPROTONOSUPPORT), rules: []argRule{{name: "socket", anyOf: [][]cond{{eq(2, ipprotoMPTCP)}}}}},
			// TIOCSTI pushes input into the controlling terminal, TIOCLINUX
			// reaches the console: matched on the low 32 bits only, since
			// the kernel truncates ioctl's cmd and musl sign-extends it.
			{action: errnoRet(unix.EPERM), rules: []argRule{{name: "ioctl", anyOf: [][]cond{
				low32Equal(1, unix.TIOCSTI), low32Equal(1, unix.TIOCLINUX),
			}}}},
			// Every other ioctl is allowed. (Where the groups stand does
			// not change how far an ioctl walks: the program searches by
			// syscall number, then checks that syscall's rules only.)
			{action: retAllow, names: []string{"ioctl"}},
			{action: retAllow, names: allow, rules: []argRule{
				{name: "clone", anyOf: [][]cond{{{arg: 0, op: opNoneBits, val: namespaceFlags}}}},
				{name: "socket", anyOf: socketSets},
				{name: "personality", anyOf: personalitySets},
			}},
		},
	}, nil
}

// low32Equal matches when the low 32 bits of argument arg equal v, whatever
// the upper 32 bits hold.
func low32Equal(arg uint32, v uint32) []cond {
	return maskedEqual(arg, 0xffffffff, uint64(v))
}

// maskedEqual matches when argument arg & mask == want (want within mask):
// every bit of want is set, and no other bit of mask is.
func maskedEqual(arg uint32, mask, want uint64) []cond {
	var set []cond
	for bit := uint64(1); bit != 0; bit <<= 1 {
		if want&bit != 0 {
			set = append(set, cond{arg: arg, op: opAnyBits, val: bit})
		}
	}
	return append(set, cond{arg: arg, op: opNoneBits, val: mask &^ want})
}
