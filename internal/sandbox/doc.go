// Package sandbox owns the native container of nucleus-exec: namespaces,
// the mount layout and pivot_root, the in-namespace init, the workload's
// identity, capabilities and rlimits, and the point where the seccomp
// filter and the Landlock domain are applied. It must not schedule probes,
// talk to systemd, or parse spec files: it takes a validated *spec.Spec.
//
// # Processes
//
// Start (in the supervisor, multi-threaded Go) computes a plan from the spec
// once and re-executes /proc/self/exe as init (argv[0] "nucleus:init") with
// CLONE_NEWNS plus the configured pid/ipc/uts/net/cgroup namespaces (and
// CLONE_NEWUSER for user_namespace = "auto"), PDEATHSIG SIGKILL and its own
// process group. The plan travels in the environment of init only
// (encodePlan: a hand-written format, no reflection in a fresh process);
// a SOCK_SEQPACKET socketpair carries control messages both ways. init
// marks every descriptor from 3 up close-on-exec: the workload and the
// probes get stdio only.
//
// init is PID 1 of the new pid namespace. It sets itself non-dumpable
// (CVE-2019-5736: /proc/1/exe cannot be opened by the workload), builds the
// seccomp filter (once per container), builds the filesystem (resolving the
// user in the container's /etc/passwd and /etc/group before pivot_root,
// because the credentials' copies belong to that user), sets the
// hostname, brings loopback up, and sets RLIMIT_NOFILE (from [resources]
// nofile; a value below 64, which init itself could not live with, is set
// on each started process with prlimit right after it starts, a window of
// microseconds) and RLIMIT_NPROC (only with user_namespace = "auto", where the
// per-uid count means this container; with host uids TasksMax= is the
// bound) on itself, to be inherited. It then reaps every zombie, forwards
// SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 (and any signal sent with
// Container.Signal) to the workload through a pidfd, runs exec probes on
// request, and exits with the workload's status (128+signal when killed).
// When init exits the kernel kills everything else in the pid namespace; if
// the supervisor dies, PDEATHSIG kills init. Without a pid namespace init
// is a child subreaper and kills the workload's session on exit, and the
// workload's own PDEATHSIG ends it when init is killed.
//
// The workload and every exec probe are started without a second Go
// program, by one thread of init, the spawner. Before starting the
// workload, init locks a goroutine to a fresh OS thread and, on that
// thread only and once, drops the bounding set, calls setgroups/
// setresgid/setresuid as raw per-thread syscalls, sets permitted =
// effective = inheritable = ambient = the spec's capabilities, sets
// no_new_privs, applies Landlock and installs seccomp last. The goroutine
// then serves spawn requests over a channel for as long as init lives: for
// each it checks the workdir and resolves the command in PATH (with the
// user's ids, under the restrictions) and forks + execs it (new session,
// workdir, environment, PDEATHSIG); the child inherits exactly that
// thread's state. A parent-death signal follows the forking thread, which
// is why the spawner never exits before init. It is never unlocked, so no
// other goroutine runs on it; the Go runtime creates new threads from a
// clean template thread, never from a locked one, so init itself (every
// other thread) keeps its privileges. The other way round, init must never
// call syscall.Setuid, Setgid, Setgroups & co.: Go runs those on every
// thread (AllThreadsSyscall), the spawner included.
//
// The cost: everything the Go runtime does on the spawner thread runs
// under the workload's seccomp filter and Landlock domain — parking and
// waking (futex), memory (mmap, munmap, madvise), signal handlers (any
// signal to init may run on it: rt_sigreturn), stopping and starting the
// world when its goroutine triggers a collection (epoll_pwait, write,
// tgkill, getpid, gettid, sched_yield, nanosleep, clock_gettime) — and so
// does Go's fork path (faccessat, newfstatat, clone without namespace
// flags, rt_sigprocmask, pipe2, read, close, wait4; in the child dup3,
// chdir, setsid, prctl, execve). The default filter allows all of it; a
// custom OCI profile must too. Init checks the assembled filter for the
// spawner's own calls (spawnerSyscalls, with seccomp.Filter.Verdict)
// before anything else and refuses, naming the call, one that denies a
// call the spawner cannot do without or that kills or traps on any of
// them: a killed spawner thread would leave init waiting forever, so this
// is a setup error (125) instead of a hang. A refusal in the child's part
// shows as the command's failure (126), a kill as its signal. (Landlock's
// signal scope, ABI 6, refused signals from the spawner to init's other
// threads until the kernel's erratum 2 fix; Go's preemption signals then
// fail and the runtime falls back to cooperative preemption, which is
// slower for the collector but not wrong.) A command
// that is not found exits 127, one that cannot be executed 126: Start
// still succeeds and Wait reports that status (the reason goes to
// Options.Log and stderr); every other failure is a setup error returned
// by Start, for which nucleus-exec exits 125.
//
// Exec probes therefore have exactly the workload's identity,
// capabilities, seccomp filter and Landlock rules; their session is killed
// when the caller's context ends. Dial creates its socket on a locked
// thread switched (setns) into the container's network namespace.
//
// # Filesystem
//
// Inside init's private mount namespace a staging tmpfs is mounted over
// /tmp and pivoted to (the host tree is then reachable at /oldroot, so
// sources anywhere, /tmp included, stay reachable). The container root is
// assembled at /newroot, in this order:
//
//   - rootfs = "": a fresh tmpfs with the host's /usr /bin /sbin /lib*
//     /etc bound read-only, nosuid, nodev together with every mount below
//     them (mount_setattr AT_RECURSIVE; symlinks such as /bin -> usr/bin
//     recreated as symlinks); a directory rootfs: bound recursively;
//   - /proc: a fresh proc (mounted while the host proc is still attached,
//     as the kernel requires in a user namespace) with kcore, kallsyms,
//     kmsg, keys, timer_list, sched_debug, … replaced by /dev/null,
//     acpi/asound/scsi/driver hidden under empty read-only tmpfs, and sys,
//     bus, fs, irq, sysrq-trigger read-only;
//   - /sys: read-only sysfs with firmware and security masked, or empty
//     when the kernel refuses sysfs (user namespace with host network);
//   - /dev: tmpfs with null, zero, full, random, urandom, tty (mknod'ed;
//     the host's bound in a user namespace, where mknod is refused), a
//     private devpts, ptmx, /dev/shm, fd/stdin/stdout/stderr links; then
//     read-only;
//   - /tmp and /run: tmpfs; the notify socket at /run/nucleus/notify;
//   - [[mount]] entries in order; binds are nosuid,nodev;
//   - credentials: the supervisor opens each source (under systemd a
//     root-owned 0400 file in $CREDENTIALS_DIRECTORY) as host root before
//     any namespace and passes the descriptor to init, which copies it
//     into a private tmpfs in the staging root as a file owned by the
//     workload's uid/gid, mode 0400, remounts that tmpfs read-only and
//     binds each copy at its target (read-only, nosuid, nodev, noexec).
//     The systemd-managed file is never bound or changed;
//   - the root itself read-only when isolation.read_only.
//
// Then pivot_root(".", ".") stacks the staging root on /newroot, and one
// detach removes it with the host tree below it. Mount targets are resolved with
// github.com/cyphar/filepath-securejoin inside /newroot, so a symlink in a
// directory rootfs cannot send a mount outside it. init is started from
// /proc/self/exe before any of this, so the rootfs needs no loader or libc
// for nucleus itself (nucleus-exec is static anyway: CGO_ENABLED=0).
//
// # Landlock policy
//
// The workload may: read and execute the host view (rootfs = "") or the
// whole directory rootfs (and write it when not read-only); read /proc,
// /sys and /dev; read and write /tmp, /dev/shm, /run, /proc, /dev/null,
// /dev/zero, /dev/full, /dev/tty, /dev/pts and /dev/ptmx; read every
// [[mount]] and credential, write the read-write mounts, execute bind
// mounts (except credentials); plus [landlock] read/write/execute and
// tcp_bind/tcp_connect. Everything else (the tmpfs root itself, the host
// binary through /proc/self/exe) is denied where the kernel has Landlock.
//
// Landlock's rules are paths, and a memfd has none under them: a program
// written into a memfd could be executed through /proc/self/fd/N. So init
// sets vm.memfd_noexec = 2 in the container's pid namespace (while the
// fresh /proc/sys is still writable): every memfd created inside is
// non-executable and sealed so, and memfd_create with MFD_EXEC fails
// (EACCES). This needs kernel 6.3 or later and a pid namespace (the
// sysctl is per pid namespace; without one it would be the host's), and
// it is not possible with user_namespace = "auto" (the kernel lets only
// the host's root write sysctls); in those cases memfds stay executable
// and init logs why.
//
// # Environment
//
// The workload's environment is reset to workload.Env's (shared with the
// gVisor runtime): PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:
// /sbin:/bin, HOME (from passwd), USER, HOSTNAME (the host's without a UTS
// namespace), container=nucleus, NOTIFY_SOCKET=/run/nucleus/notify only
// with a notify socket, then the spec's [exec] environment on top. TERM is
// not passed. Variables starting with LD_ and NOTIFY_SOCKET never reach
// here: spec refuses them.
//
// # User namespace "auto"
//
// Container ids 0..65535 map to a 65536-id host range starting at
// 0x100000 + 65536*(FNV-1a 32-bit(NAME) mod 16384): the same spec name
// always gets the same range, so files the container creates keep their
// owner across restarts. Host files appear owned by the overflow id 65534
// (nobody) unless owned by the range; to give the container's uid N write
// access to a bound directory, chown it to host uid base+N (the base is in
// /proc/<init pid>/uid_map). Bind sources and a rootfs are reached as the
// namespace's root, an unprivileged host uid: the directories above them
// must be searchable by others. nucleus.toml(5) "User namespaces" says the
// same for users; TestUserNamespaceOwnership pins it.
package sandbox
