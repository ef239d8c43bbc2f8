// Package escapetest is the sandbox's escape battery as test support: the
// attempts a workload makes to get out of the default native sandbox (Run,
// executed inside the container), and the outcome each must have (Want,
// checked on the host). One table serves both places the battery runs:
// internal/sandbox's tests, where the test binary is the in-container
// program, and the e2e suite, where the nucleus-escape program (in
// ./nucleus-escape) runs as a unit's workload under a real systemd and its
// lines are read back from the journal.
//
// It must not be imported by the product's code: it only tries things.
// The default sandbox means root inside, every capability dropped,
// seccomp "default", Landlock, network "none", a pid namespace and the
// host's uids.
package escapetest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Variables of the in-container program's environment that tell it about
// the host side.
const (
	// EnvHostPID is a pid that exists outside the container and must not be
	// reachable from inside.
	EnvHostPID = "HOST_PID"
	// EnvHostPort is a TCP port listening on the host's 127.0.0.1, which
	// network = "none" must not reach.
	EnvHostPort = "HOST_PORT"
)

// Output format: one line per attempt, then a last line, so that a reader
// of the journal knows when it has everything.
const (
	linePrefix = "escape-attempt "
	// DoneLine ends the output.
	DoneLine = "escape-done"
)

// Attempt is what one escape attempt did.
type Attempt struct {
	Name    string
	Outcome string // "ok", an errno name (EPERM…) or what was observed
}

// Outcome names what a call did: "ok" or the errno's name (EPERM…).
func Outcome(err error) string {
	if err == nil {
		return "ok"
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
		return "errno" + strconv.Itoa(int(en))
	}
	return "error: " + err.Error()
}

func rawOutcome(_, _ uintptr, e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return Outcome(e)
}

// ReadOutcome opens and reads a file: its errno, "empty" or "read N bytes".
func ReadOutcome(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return Outcome(err)
	}
	if len(b) == 0 {
		return "empty"
	}
	return fmt.Sprintf("read %d bytes", len(b))
}

// OpenOutcome opens path with flags (O_CLOEXEC added) and closes it.
func OpenOutcome(path string, flags int) string {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	}
	return Outcome(err)
}

// Run makes every attempt, in order, from inside the container. The host
// side is described by EnvHostPID and EnvHostPort in the environment.
func Run() []Attempt {
	hostPid, _ := strconv.Atoi(os.Getenv(EnvHostPID))
	hostPort := os.Getenv(EnvHostPort)
	var out []Attempt
	add := func(name, res string) { out = append(out, Attempt{name, res}) }

	add("mount", Outcome(unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "")))
	add("umount", Outcome(unix.Unmount("/proc", unix.MNT_DETACH)))
	add("unshare-user", Outcome(unix.Unshare(unix.CLONE_NEWUSER)))
	add("unshare-mount", Outcome(unix.Unshare(unix.CLONE_NEWNS)))
	if fd, err := unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		add("setns", Outcome(unix.Setns(fd, unix.CLONE_NEWNET)))
		unix.Close(fd)
	} else {
		add("setns", "open ns: "+Outcome(err))
	}
	add("pivot_root", Outcome(unix.PivotRoot("/tmp", "/tmp")))
	add("chroot", Outcome(unix.Chroot("/tmp")))
	add("ptrace-init", Outcome(unix.PtraceAttach(1)))
	add("kexec_load", rawOutcome(unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, 0, 0, 0)))
	empty := []byte{0}
	add("init_module", rawOutcome(unix.Syscall(unix.SYS_INIT_MODULE, uintptr(unsafe.Pointer(&empty[0])), 1, uintptr(unsafe.Pointer(&empty[0])))))
	add("finit_module", rawOutcome(unix.Syscall(unix.SYS_FINIT_MODULE, 0, uintptr(unsafe.Pointer(&empty[0])), 0)))
	var bpfAttr [128]byte
	bpfAttr[0] = 2 // BPF_MAP_TYPE_ARRAY
	bpfAttr[4], bpfAttr[8], bpfAttr[12] = 4, 4, 1
	add("bpf", rawOutcome(unix.Syscall(unix.SYS_BPF, 0 /* BPF_MAP_CREATE */, uintptr(unsafe.Pointer(&bpfAttr[0])), unsafe.Sizeof(bpfAttr))))
	add("keyctl", rawOutcome(unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)))
	pattr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK, Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
	_, perr := unix.PerfEventOpen(&pattr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	add("perf_event_open", Outcome(perr))
	add("userfaultfd", rawOutcome(unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)))
	_, rerr := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	add("raw-socket", Outcome(rerr))
	_, perr = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	add("packet-socket", Outcome(perr))
	add("write-etc-new", OpenOutcome("/etc/nucleus-escape", unix.O_CREAT|unix.O_WRONLY))
	add("write-etc-passwd", OpenOutcome("/etc/passwd", unix.O_WRONLY))
	add("write-usr-new", OpenOutcome("/usr/nucleus-escape", unix.O_CREAT|unix.O_WRONLY))
	add("read-kcore", ReadOutcome("/proc/kcore"))
	add("read-kallsyms", ReadOutcome("/proc/kallsyms"))
	add("write-sysrq-trigger", OpenOutcome("/proc/sysrq-trigger", unix.O_WRONLY))
	add("write-proc-sys-core_pattern", OpenOutcome("/proc/sys/kernel/core_pattern", unix.O_WRONLY))
	add("create-in-sys", OpenOutcome("/sys/kernel/nucleus-escape", unix.O_CREAT|unix.O_WRONLY))
	add("signal-host-pid", Outcome(unix.Kill(hostPid, 0)))
	add("proc-host-pid", ReadOutcome("/proc/"+strconv.Itoa(hostPid)+"/stat"))
	if ents, err := os.ReadDir("/proc"); err == nil {
		n := 0
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				n++
			}
		}
		add("proc-pid-count", strconv.Itoa(n))
	} else {
		add("proc-pid-count", "read /proc: "+Outcome(err))
	}
	conn, cerr := net.Dial("tcp", "127.0.0.1:"+hostPort)
	if conn != nil {
		conn.Close()
	}
	add("host-tcp", Outcome(cerr))
	add("proc1-exe-write", OpenOutcome("/proc/1/exe", unix.O_WRONLY))
	add("proc1-exe-path", OpenOutcome("/proc/1/exe", unix.O_PATH))
	add("mknod", Outcome(unix.Mknod("/tmp/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))))
	add("sethostname", Outcome(unix.Sethostname([]byte("pwned"))))
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: 1 << 21, Permitted: 1 << 21}}
	add("capset-sys-admin", Outcome(unix.Capset(&hdr, &data[0])))
	add("ambient-raise", Outcome(unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, 21, 0, 0)))
	add("setuid-nobody-back-to-root", Outcome(setresuidRoundTrip()))
	add("memfd-create-exec", memfdCreateExec())
	add("exec-memfd", execMemfd())
	nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	add("no_new_privs", strconv.Itoa(nnp))
	add("caps", CapsLine())
	return out
}

// setresuidRoundTrip needs CAP_SETUID to leave root at all; without it the
// first step already fails.
func setresuidRoundTrip() error {
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 65534, 65534, 65534); e != 0 {
		return e
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 {
		return e
	}
	return nil
}

// memfdCreateExec asks for an executable memfd outright.
func memfdCreateExec() string {
	fd, err := unix.MemfdCreate("nucleus-escape", unix.MFD_CLOEXEC|unix.MFD_EXEC)
	if err == nil {
		unix.Close(fd)
	}
	return Outcome(err)
}

// execMemfd writes a program (a copy of the static busybox, which the
// container may read) into a memfd created with no exec flag and runs it
// through /proc/self/fd/N: a way around Landlock's execute rules, which
// only know paths.
func execMemfd() string {
	fd, err := unix.MemfdCreate("nucleus-escape", unix.MFD_CLOEXEC)
	if err != nil {
		return "memfd_create: " + Outcome(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	defer f.Close()
	prog, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "read /bin/busybox: " + Outcome(err)
	}
	if _, err := f.Write(prog); err != nil {
		return "write: " + Outcome(err)
	}
	p, err := os.StartProcess("/proc/self/fd/"+strconv.Itoa(fd), []string{"busybox", "true"}, &os.ProcAttr{})
	if err != nil {
		return Outcome(err)
	}
	st, err := p.Wait()
	if err != nil {
		return "wait: " + Outcome(err)
	}
	if !st.Success() {
		return "exited " + st.String()
	}
	return "ok"
}

// CapsLine is the capability sets from /proc/self/status, e.g.
// "CapInh=0… CapPrm=0… CapEff=0… CapBnd=0… CapAmb=0…".
func CapsLine() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Outcome(err)
	}
	var parts []string
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(k, "Cap") {
			parts = append(parts, k+"="+strings.TrimSpace(v))
		}
	}
	return strings.Join(parts, " ")
}

// Print writes the attempts one per line, then DoneLine. Lines carry no
// tabs or other control characters, so they pass through the journal
// unchanged.
func Print(w io.Writer, attempts []Attempt) error {
	for _, a := range attempts {
		if _, err := fmt.Fprintf(w, "%s%s %s\n", linePrefix, a.Name, a.Outcome); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, DoneLine)
	return err
}

// Parse reads the lines Print wrote (other lines are ignored, so it can be
// given a whole journal): attempt name → outcome.
func Parse(lines []string) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		rest, ok := strings.CutPrefix(strings.TrimRight(l, "\r\n"), linePrefix)
		if !ok {
			continue
		}
		if name, outcome, ok := strings.Cut(rest, " "); ok {
			m[name] = outcome
		}
	}
	return m
}

// Host is what the host's kernel has, which some expectations depend on.
type Host struct {
	Kcore        bool // /proc/kcore exists
	SysrqTrigger bool // /proc/sysrq-trigger exists
	MemfdNoexec  bool // vm.memfd_noexec exists (kernel 6.3 or later)
}

// ThisHost reads Host from this machine's /proc (the kernel a container
// started from here runs on).
func ThisHost() Host {
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	return Host{
		Kcore:        exists("/proc/kcore"),
		SysrqTrigger: exists("/proc/sysrq-trigger"),
		MemfdNoexec:  exists("/proc/sys/vm/memfd_noexec"),
	}
}

// Case is the expected outcome of one attempt.
type Case struct {
	Name string
	// Want lists the outcomes that mean "refused". Where two errnos are
	// listed, which one comes first depends on the kernel's order of
	// checks (seccomp answers EPERM before the kernel would say EACCES).
	Want []string
	Why  string
	// Skip, when set, says why this kernel cannot show the restriction:
	// the attempt is not checked.
	Skip string
}

// Check compares an attempt's reported outcome with the case: nil when it
// is one of Want.
func (c Case) Check(got map[string]string) error {
	g, ok := got[c.Name]
	if !ok {
		return fmt.Errorf("attempt %s did not report", c.Name)
	}
	for _, w := range c.Want {
		if g == w {
			return nil
		}
	}
	return fmt.Errorf("%s: got %q, want one of %q (%s)", c.Name, g, c.Want, c.Why)
}

// CheckAll checks outcomes (Parse of a run in the default sandbox) against
// Want for this host, one subtest per attempt; an attempt this kernel
// cannot make is skipped with the reason.
func CheckAll(t *testing.T, outcomes map[string]string) {
	t.Helper()
	for _, tc := range Want(ThisHost()) {
		t.Run(tc.Name, func(t *testing.T) {
			if tc.Skip != "" {
				t.Skip(tc.Skip)
			}
			if err := tc.Check(outcomes); err != nil {
				t.Error(err)
			}
		})
	}
}

// Want is the expected outcome of every attempt of Run in the default
// sandbox on host h.
func Want(h Host) []Case {
	absentOr := func(present bool, want ...string) []string {
		if present {
			return want
		}
		return []string{"ENOENT"} // this kernel has no such file
	}
	skipUnless := func(present bool, why string) string {
		if present {
			return ""
		}
		return why
	}
	noMemfdNoexec := "kernel before 6.3: no vm.memfd_noexec, memfds stay executable (init logs it)"
	return []Case{
		{Name: "mount", Want: []string{"EPERM"}, Why: "no CAP_SYS_ADMIN; seccomp"},
		{Name: "umount", Want: []string{"EPERM"}, Why: "no CAP_SYS_ADMIN; seccomp"},
		{Name: "unshare-user", Want: []string{"EPERM"}, Why: "seccomp refuses namespace flags: a user namespace needs no capability"},
		{Name: "unshare-mount", Want: []string{"EPERM"}, Why: "seccomp / no CAP_SYS_ADMIN"},
		{Name: "setns", Want: []string{"EPERM"}, Why: "no CAP_SYS_ADMIN; seccomp"},
		{Name: "pivot_root", Want: []string{"EPERM"}, Why: "no CAP_SYS_ADMIN; seccomp"},
		{Name: "chroot", Want: []string{"EPERM"}, Why: "no CAP_SYS_CHROOT"},
		{Name: "ptrace-init", Want: []string{"EPERM"}, Why: "init is non-dumpable, no CAP_SYS_PTRACE; seccomp"},
		{Name: "kexec_load", Want: []string{"EPERM"}, Why: "no CAP_SYS_BOOT; seccomp"},
		{Name: "init_module", Want: []string{"EPERM"}, Why: "no CAP_SYS_MODULE; seccomp"},
		{Name: "finit_module", Want: []string{"EPERM"}, Why: "no CAP_SYS_MODULE; seccomp"},
		{Name: "bpf", Want: []string{"EPERM"}, Why: "seccomp; unprivileged bpf disabled"},
		{Name: "keyctl", Want: []string{"EPERM"}, Why: "seccomp: keyrings are not namespaced"},
		{Name: "perf_event_open", Want: []string{"EPERM", "EACCES"}, Why: "seccomp (EPERM) or perf_event_paranoid (EACCES)"},
		{Name: "userfaultfd", Want: []string{"EPERM"}, Why: "seccomp; vm.unprivileged_userfaultfd"},
		{Name: "raw-socket", Want: []string{"EPERM"}, Why: "no CAP_NET_RAW; seccomp"},
		{Name: "packet-socket", Want: []string{"EPERM", "EAFNOSUPPORT"}, Why: "seccomp refuses AF_PACKET"},
		{Name: "write-etc-new", Want: []string{"EROFS"}, Why: "host /etc is a read-only bind"},
		{Name: "write-etc-passwd", Want: []string{"EROFS"}, Why: "host /etc is a read-only bind"},
		{Name: "write-usr-new", Want: []string{"EROFS"}, Why: "host /usr is a read-only bind"},
		{Name: "read-kcore", Want: absentOr(h.Kcore, "empty"), Why: "masked by /dev/null"},
		{Name: "read-kallsyms", Want: []string{"empty"}, Why: "masked by /dev/null"},
		{Name: "write-sysrq-trigger", Want: absentOr(h.SysrqTrigger, "EROFS"), Why: "read-only bind of itself"},
		{Name: "write-proc-sys-core_pattern", Want: []string{"EROFS"}, Why: "/proc/sys is a read-only bind (core_pattern runs a host program as root)"},
		{Name: "create-in-sys", Want: []string{"EROFS"}, Why: "/sys is mounted read-only"},
		{Name: "signal-host-pid", Want: []string{"ESRCH"}, Why: "pid namespace: the host pid does not exist inside"},
		{Name: "proc-host-pid", Want: []string{"ENOENT"}, Why: "fresh /proc of the pid namespace"},
		{Name: "proc-pid-count", Want: []string{"2"}, Why: "only init and the program are visible"},
		{Name: "host-tcp", Want: []string{"ECONNREFUSED"}, Why: "network none: the container's loopback is not the host's"},
		{Name: "proc1-exe-write", Want: []string{"EACCES"}, Why: "init is non-dumpable (CVE-2019-5736)"},
		{Name: "proc1-exe-path", Want: []string{"EACCES"}, Why: "init is non-dumpable (CVE-2019-5736)"},
		{Name: "mknod", Want: []string{"EPERM"}, Why: "no CAP_MKNOD"},
		{Name: "sethostname", Want: []string{"EPERM"}, Why: "no CAP_SYS_ADMIN"},
		{Name: "capset-sys-admin", Want: []string{"EPERM"}, Why: "not in the permitted or bounding set"},
		{Name: "ambient-raise", Want: []string{"EPERM"}, Why: "not permitted/inheritable"},
		{Name: "setuid-nobody-back-to-root", Want: []string{"EPERM"}, Why: "no CAP_SETUID"},
		{Name: "memfd-create-exec", Want: []string{"EACCES"}, Why: "vm.memfd_noexec = 2 in the container's pid namespace",
			Skip: skipUnless(h.MemfdNoexec, noMemfdNoexec)},
		{Name: "exec-memfd", Want: []string{"EACCES"}, Why: "vm.memfd_noexec = 2: a memfd is created non-executable and sealed (Landlock does not cover memfds)",
			Skip: skipUnless(h.MemfdNoexec, noMemfdNoexec)},
		{Name: "no_new_privs", Want: []string{"1"}, Why: "always set"},
		{Name: "caps", Want: []string{"CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000"}, Why: "every capability dropped"},
	}
}
