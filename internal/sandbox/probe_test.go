package sandbox_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }
func itoa(i int) string                 { return strconv.Itoa(i) }

// outcome names what an attempt did: "ok" or the errno's name (EPERM…).
func outcome(err error) string {
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
	return outcome(e)
}

// readOutcome opens and reads a file: its errno, "empty" or "read N bytes".
func readOutcome(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return outcome(err)
	}
	if len(b) == 0 {
		return "empty"
	}
	return fmt.Sprintf("read %d bytes", len(b))
}

func openOutcome(path string, flags int) string {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0o644)
	if err == nil {
		unix.Close(fd)
	}
	return outcome(err)
}

// escapeAttempts are run inside the default sandbox (root inside, every
// capability dropped, seccomp default, Landlock). Each prints one line
// "name outcome"; TestEscapeBattery holds the expected outcomes.
func escapeAttempts() [][2]string {
	hostPid, _ := strconv.Atoi(os.Getenv("HOST_PID"))
	hostPort := os.Getenv("HOST_PORT")
	var out [][2]string
	add := func(name, res string) { out = append(out, [2]string{name, res}) }

	add("mount", outcome(unix.Mount("tmpfs", "/tmp", "tmpfs", 0, "")))
	add("umount", outcome(unix.Unmount("/proc", unix.MNT_DETACH)))
	add("unshare-user", outcome(unix.Unshare(unix.CLONE_NEWUSER)))
	add("unshare-mount", outcome(unix.Unshare(unix.CLONE_NEWNS)))
	if fd, err := unix.Open("/proc/self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		add("setns", outcome(unix.Setns(fd, unix.CLONE_NEWNET)))
	} else {
		add("setns", "open ns: "+outcome(err))
	}
	add("pivot_root", outcome(unix.PivotRoot("/tmp", "/tmp")))
	add("chroot", outcome(unix.Chroot("/tmp")))
	add("ptrace-init", outcome(unix.PtraceAttach(1)))
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
	add("perf_event_open", outcome(perr))
	add("userfaultfd", rawOutcome(unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC, 0, 0)))
	_, rerr := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	add("raw-socket", outcome(rerr))
	_, perr = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	add("packet-socket", outcome(perr))
	add("write-etc-new", openOutcome("/etc/nucleus-escape", unix.O_CREAT|unix.O_WRONLY))
	add("write-etc-passwd", openOutcome("/etc/passwd", unix.O_WRONLY))
	add("write-usr-new", openOutcome("/usr/nucleus-escape", unix.O_CREAT|unix.O_WRONLY))
	add("read-kcore", readOutcome("/proc/kcore"))
	add("read-kallsyms", readOutcome("/proc/kallsyms"))
	add("write-sysrq-trigger", openOutcome("/proc/sysrq-trigger", unix.O_WRONLY))
	add("write-proc-sys-core_pattern", openOutcome("/proc/sys/kernel/core_pattern", unix.O_WRONLY))
	add("create-in-sys", openOutcome("/sys/kernel/nucleus-escape", unix.O_CREAT|unix.O_WRONLY))
	add("signal-host-pid", outcome(unix.Kill(hostPid, 0)))
	add("proc-host-pid", readOutcome("/proc/"+strconv.Itoa(hostPid)+"/stat"))
	if ents, err := os.ReadDir("/proc"); err == nil {
		n := 0
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				n++
			}
		}
		add("proc-pid-count", strconv.Itoa(n))
	}
	conn, cerr := net.Dial("tcp", "127.0.0.1:"+hostPort)
	if conn != nil {
		conn.Close()
	}
	add("host-tcp", outcome(cerr))
	add("proc1-exe-write", openOutcome("/proc/1/exe", unix.O_WRONLY))
	add("proc1-exe-path", openOutcome("/proc/1/exe", unix.O_PATH))
	add("mknod", outcome(unix.Mknod("/tmp/null", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3)))))
	add("sethostname", outcome(unix.Sethostname([]byte("pwned"))))
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: 1 << 21, Permitted: 1 << 21}}
	add("capset-sys-admin", outcome(unix.Capset(&hdr, &data[0])))
	add("ambient-raise", outcome(unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, 21, 0, 0)))
	add("setuid-nobody-back-to-root", outcome(setresuidRoundTrip()))
	nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	add("memfd-create-exec", memfdCreateExec())
	add("exec-memfd", execMemfd())
	add("no_new_privs", strconv.Itoa(nnp))
	add("caps", capsLine())
	return out
}

// memfdCreateExec asks for an executable memfd outright.
func memfdCreateExec() string {
	fd, err := unix.MemfdCreate("nucleus-escape", unix.MFD_CLOEXEC|unix.MFD_EXEC)
	if err == nil {
		unix.Close(fd)
	}
	return outcome(err)
}

// execMemfd writes a program (a copy of the static busybox, which the
// container may read) into a memfd created with no exec flag and runs it
// through /proc/self/fd/N: a way around Landlock's execute rules, which
// only know paths.
func execMemfd() string {
	fd, err := unix.MemfdCreate("nucleus-escape", unix.MFD_CLOEXEC)
	if err != nil {
		return "memfd_create: " + outcome(err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	defer f.Close()
	prog, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return "read /bin/busybox: " + outcome(err)
	}
	if _, err := f.Write(prog); err != nil {
		return "write: " + outcome(err)
	}
	p, err := os.StartProcess("/proc/self/fd/"+strconv.Itoa(fd), []string{"busybox", "true"}, &os.ProcAttr{})
	if err != nil {
		return outcome(err)
	}
	st, err := p.Wait()
	if err != nil {
		return "wait: " + outcome(err)
	}
	if !st.Success() {
		return "exited " + st.String()
	}
	return "ok"
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

// capsLine is the capability sets from /proc/self/status, e.g.
// "CapInh=0… CapPrm=0… CapEff=0… CapBnd=0… CapAmb=0…".
func capsLine() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return outcome(err)
	}
	var parts []string
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(k, "Cap") {
			parts = append(parts, k+"="+strings.TrimSpace(v))
		}
	}
	return strings.Join(parts, " ")
}

// runProbe is the test binary's behaviour inside a container.
func runProbe(mode string, args []string) int {
	switch mode {
	case "escape":
		for _, a := range escapeAttempts() {
			fmt.Printf("%s\t%s\n", a[0], a[1])
		}
	case "whoami":
		fmt.Printf("uid=%d euid=%d gid=%d groups=%v %s\n", os.Getuid(), os.Geteuid(), os.Getgid(), mustGroups(), capsLine())
	case "bind":
		// args: port
		l, err := net.Listen("tcp", "0.0.0.0:"+args[0])
		if l != nil {
			l.Close()
		}
		fmt.Println(outcome(err))
	case "write":
		// args: paths; one outcome per line
		for _, p := range args {
			fmt.Printf("%s\t%s\n", p, openOutcome(p, unix.O_CREAT|unix.O_WRONLY))
		}
	case "read":
		for _, p := range args {
			fmt.Printf("%s\t%s\n", p, readOutcome(p))
		}
	case "exec":
		// args: path to exec; reports the errno of a failing execve
		err := unix.Exec(args[0], args, os.Environ())
		fmt.Println(outcome(err))
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown probe mode", mode)
		return 2
	}
	return 0
}

func mustGroups() []int {
	g, _ := os.Getgroups()
	return g
}
