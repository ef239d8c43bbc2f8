package seccomp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Filters are tested where they act: in a child process (this test binary
// re-executed with childEnv set), which locks its thread, sets
// no_new_privs, installs the filter, then makes raw syscalls on that
// thread and prints one "probe errno" line each, or execs a program.
const (
	childEnv = "NUCLEUS_SECCOMP_TEST_CHILD" // the scenario to run
	execEnv  = "NUCLEUS_SECCOMP_TEST_EXEC"  // exec scenario: argv as a JSON array
)

func TestMain(m *testing.M) {
	if scenario := os.Getenv(childEnv); scenario != "" {
		os.Exit(runChild(scenario))
	}
	if job := os.Getenv(benchEnv); job != "" {
		os.Exit(runBenchChild(job))
	}
	os.Exit(m.Run())
}

// probe is one raw syscall made under the filter.
type probe struct {
	name string
	call func() unix.Errno
}

func sys(nr uintptr, args ...uintptr) unix.Errno {
	var a [6]uintptr
	copy(a[:], args)
	r, _, e := unix.Syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	if e == 0 && (nr == unix.SYS_SOCKET || nr == unix.SYS_OPENAT) {
		unix.Close(int(r))
	}
	return e
}

// cstr returns a pointer to a NUL-terminated copy of s; the copy is kept
// reachable by the Go heap for the life of the child.
func cstr(s string) uintptr {
	p, err := unix.BytePtrFromString(s)
	if err != nil {
		panic(err)
	}
	keep = append(keep, p)
	return uintptr(unsafe.Pointer(p))
}

var keep []*byte

// atFDCWD is AT_FDCWD (-100) as a raw syscall argument.
func atFDCWD() uintptr {
	fd := unix.AT_FDCWD
	return uintptr(fd)
}

// probes are chosen so that each outcome tells filter and kernel apart:
// without the filter, the refused calls fail differently (ENOENT, EINVAL,
// EBADF, ENODEV...) or succeed.
func probes() []probe {
	devnull, _ := unix.Open("/dev/null", unix.O_RDONLY, 0)
	var pipe [2]int
	_ = unix.Pipe(pipe[:])
	var n int32
	return []probe{
		{"getpid", func() unix.Errno { return sys(unix.SYS_GETPID) }},
		{"uname", func() unix.Errno { var u unix.Utsname; return sys(unix.SYS_UNAME, uintptr(unsafe.Pointer(&u))) }},
		{"mount", func() unix.Errno {
			return sys(unix.SYS_MOUNT, cstr("none"), cstr("/nonexistent-nucleus"), cstr("nucleus-no-such-fs"), 0, 0)
		}},
		{"umount2", func() unix.Errno { return sys(unix.SYS_UMOUNT2, cstr("/nonexistent-nucleus"), 0) }},
		{"pivot_root", func() unix.Errno { return sys(unix.SYS_PIVOT_ROOT, cstr("/nonexistent-a"), cstr("/nonexistent-b")) }},
		{"chroot", func() unix.Errno { return sys(unix.SYS_CHROOT, cstr("/nonexistent-nucleus")) }},
		{"unshare", func() unix.Errno { return sys(unix.SYS_UNSHARE, unix.CLONE_NEWUSER|unix.CLONE_NEWNS) }},
		{"setns", func() unix.Errno { return sys(unix.SYS_SETNS, ^uintptr(0), 0) }},
		// clone: CLONE_NEWUSER|CLONE_FS is EINVAL in the kernel, so an
		// unfiltered call cannot fork this Go process by accident.
		{"clone-newuser", func() unix.Errno { return sys(unix.SYS_CLONE, unix.CLONE_NEWUSER|unix.CLONE_FS|uintptr(unix.SIGCHLD)) }},
		{"clone-newnet", func() unix.Errno { return sys(unix.SYS_CLONE, unix.CLONE_NEWNET|unix.CLONE_SIGHAND) }},
		// CLONE_SIGHAND without CLONE_VM: EINVAL from the kernel means the
		// filter let a namespace-free clone through.
		{"clone-plain", func() unix.Errno { return sys(unix.SYS_CLONE, unix.CLONE_SIGHAND) }},
		{"clone3", func() unix.Errno { return sys(unix.SYS_CLONE3, 0, 0) }},
		{"socket-packet", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_PACKET, unix.SOCK_RAW, 0) }},
		{"socket-inet-raw", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP) }},
		{"socket-inet-packet-type", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_PACKET, 0) }},
		{"socket-packet-hibits", func() unix.Errno { return sys(unix.SYS_SOCKET, 1<<32|unix.AF_PACKET, unix.SOCK_RAW, 0) }},
		{"socket-inet-stream", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0) }},
		{"socket-inet6-dgram", func() unix.Errno {
			return sys(unix.SYS_SOCKET, unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
		}},
		{"socket-unix", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_UNIX, unix.SOCK_SEQPACKET, 0) }},
		{"socket-netlink-route", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE) }},
		{"socket-netlink-audit", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT) }},
		{"socket-mptcp", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, ipprotoMPTCP) }},
		{"socket-vsock", func() unix.Errno { return sys(unix.SYS_SOCKET, unix.AF_VSOCK, unix.SOCK_STREAM, 0) }},
		// ioctl on /dev/null: a terminal ioctl is ENOTTY there, unfiltered.
		{"ioctl-tiocsti", func() unix.Errno {
			c := byte('x')
			return sys(unix.SYS_IOCTL, uintptr(devnull), unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
		}},
		{"ioctl-tiocsti-hibits", func() unix.Errno {
			c := byte('x')
			return sys(unix.SYS_IOCTL, uintptr(devnull), 0xffffffff00000000|unix.TIOCSTI, uintptr(unsafe.Pointer(&c)))
		}},
		{"ioctl-tioclinux", func() unix.Errno {
			c := byte(0)
			return sys(unix.SYS_IOCTL, uintptr(devnull), unix.TIOCLINUX, uintptr(unsafe.Pointer(&c)))
		}},
		{"ioctl-tcgets", func() unix.Errno {
			var t unix.Termios
			return sys(unix.SYS_IOCTL, uintptr(devnull), unix.TCGETS, uintptr(unsafe.Pointer(&t)))
		}},
		{"ioctl-fionread", func() unix.Errno {
			return sys(unix.SYS_IOCTL, uintptr(pipe[0]), unix.TIOCINQ, uintptr(unsafe.Pointer(&n)))
		}},
		{"personality-query", func() unix.Errno { return sys(unix.SYS_PERSONALITY, 0xffffffff) }},
		{"personality-linux", func() unix.Errno { return sys(unix.SYS_PERSONALITY, 0) }},
		{"personality-norandom", func() unix.Errno { return sys(unix.SYS_PERSONALITY, 0x0040000 /* ADDR_NO_RANDOMIZE */) }},
		{"mknodat-fifo", func() unix.Errno {
			return sys(unix.SYS_MKNODAT, atFDCWD(), cstr("/nonexistent-nucleus/fifo"), unix.S_IFIFO|0o600, 0)
		}},
		{"ptrace", func() unix.Errno { return sys(unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 0, 0, 0) }},
		{"process_vm_readv", func() unix.Errno { return sys(unix.SYS_PROCESS_VM_READV, 0, 0, 0, 0, 0, 0) }},
		{"bpf", func() unix.Errno { return sys(unix.SYS_BPF, ^uintptr(0), 0, 0) }},
		{"keyctl", func() unix.Errno { return sys(unix.SYS_KEYCTL, ^uintptr(0)) }},
		{"add_key", func() unix.Errno { return sys(unix.SYS_ADD_KEY, 0, 0, 0, 0, 0) }},
		{"perf_event_open", func() unix.Errno { return sys(unix.SYS_PERF_EVENT_OPEN, 0, 0, ^uintptr(0), ^uintptr(0), 0) }},
		{"userfaultfd", func() unix.Errno { return sys(unix.SYS_USERFAULTFD, ^uintptr(0)) }},
		{"io_uring_setup", func() unix.Errno { return sys(unix.SYS_IO_URING_SETUP, 0, 0) }},
		{"kexec_load", func() unix.Errno { return sys(unix.SYS_KEXEC_LOAD, 0, ^uintptr(0), 0, ^uintptr(0)) }},
		{"init_module", func() unix.Errno { return sys(unix.SYS_INIT_MODULE, 0, 0, 0) }},
		{"finit_module", func() unix.Errno { return sys(unix.SYS_FINIT_MODULE, ^uintptr(0), 0, 0) }},
		{"open_by_handle_at", func() unix.Errno { return sys(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0) }},
		{"fsopen", func() unix.Errno { return sys(unix.SYS_FSOPEN, cstr("nucleus-no-such-fs"), 0) }},
		{"open_tree", func() unix.Errno { return sys(unix.SYS_OPEN_TREE, ^uintptr(0), cstr("/nonexistent-nucleus"), 0) }},
		{"clock_settime", func() unix.Errno { return sys(unix.SYS_CLOCK_SETTIME, ^uintptr(0), 0) }},
		{"iopl", func() unix.Errno { return sys(unix.SYS_IOPL, 99) }},
		{"reboot", func() unix.Errno { return sys(unix.SYS_REBOOT, 0, 0, 0, 0) }},
		{"swapon", func() unix.Errno { return sys(unix.SYS_SWAPON, cstr("/nonexistent-nucleus"), 0) }},
		{"mkdir", func() unix.Errno { return sys(unix.SYS_MKDIR, cstr("/nonexistent-nucleus/dir"), 0o755) }},
		{"syslog", func() unix.Errno { return sys(unix.SYS_SYSLOG, 10, 0, 0) }}, // SYSLOG_ACTION_SIZE_BUFFER
		{"getppid", func() unix.Errno { return sys(unix.SYS_GETPPID) }},
		{"getpgid-0", func() unix.Errno { return sys(unix.SYS_GETPGID, 0) }},
		{"kill-self-0", func() unix.Errno { return sys(unix.SYS_KILL, uintptr(os.Getpid()), 0) }},
		// SIGUSR2 is ignored by the child (runChild), so delivery is harmless.
		{"kill-self-sigusr2", func() unix.Errno { return sys(unix.SYS_KILL, uintptr(os.Getpid()), uintptr(unix.SIGUSR2)) }},
	}
}

// runChild is the child's side: scenario is "default", "default+syslog",
// "profile:PATH", "x32", or "exec" (with execEnv).
func runChild(scenario string) int {
	runtime.LockOSThread()
	signal.Ignore(syscall.SIGUSR2)
	var o Options
	switch {
	case scenario == "default" || scenario == "x32" || scenario == "exec":
		o = Options{Mode: ModeDefault}
	case scenario == "default+syslog":
		o = Options{Mode: ModeDefault, Allow: []string{"syslog"}}
	case strings.HasPrefix(scenario, "profile:"):
		o = Options{Mode: ModeProfile, ProfilePath: strings.TrimPrefix(scenario, "profile:")}
	default:
		fmt.Fprintf(os.Stderr, "unknown scenario %q\n", scenario)
		return 2
	}
	ps := probes() // opens its fds before the filter
	f, err := Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := f.Install(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	switch scenario {
	case "x32":
		// getpid through the x32 ABI: the filter must kill the process.
		unix.Syscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
		fmt.Println("survived")
		return 0
	case "exec":
		var argv []string
		if err := json.Unmarshal([]byte(os.Getenv(execEnv)), &argv); err != nil || len(argv) == 0 {
			fmt.Fprintf(os.Stderr, "%s: %v\n", execEnv, err)
			return 2
		}
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, childEnv+"=") && !strings.HasPrefix(kv, execEnv+"=") {
				env = append(env, kv)
			}
		}
		err := syscall.Exec(argv[0], argv, env)
		fmt.Fprintf(os.Stderr, "exec %v: %v\n", argv, err)
		return 2
	}
	out := bufio.NewWriter(os.Stdout)
	for _, p := range ps {
		fmt.Fprintf(out, "%s %d\n", p.name, int(p.call()))
	}
	out.Flush()
	return 0
}

// runScenario runs the child and returns its probe results.
func runScenario(t *testing.T, scenario string) map[string]unix.Errno {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+scenario)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", scenario, err, stderr.Bytes())
	}
	results := map[string]unix.Errno{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		name, num, ok := strings.Cut(line, " ")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			t.Fatalf("child %s: bad line %q", scenario, line)
		}
		results[name] = unix.Errno(n)
	}
	return results
}

func errnoName(e unix.Errno) string {
	if e == 0 {
		return "OK"
	}
	return unix.ErrnoName(e)
}

// TestDefaultFilterInChild asserts the exact outcome of each probe under
// the default filter.
func TestDefaultFilterInChild(t *testing.T) {
	want := map[string]unix.Errno{
		"getpid": 0, "uname": 0, "getppid": 0, "getpgid-0": 0, "kill-self-0": 0,
		"mount": unix.EPERM, "umount2": unix.EPERM, "pivot_root": unix.EPERM, "chroot": unix.EPERM,
		"unshare": unix.EPERM, "setns": unix.EPERM,
		"clone-newuser": unix.EPERM, "clone-newnet": unix.EPERM,
		"clone-plain":   unix.EINVAL, // reached the kernel
		"clone3":        unix.ENOSYS,
		"socket-packet": unix.EPERM, "socket-inet-raw": unix.EPERM, "socket-inet-packet-type": unix.EPERM,
		"socket-packet-hibits": unix.EPERM, "socket-netlink-audit": unix.EPERM, "socket-vsock": unix.EPERM,
		"socket-inet-stream": 0, "socket-inet6-dgram": 0, "socket-unix": 0, "socket-netlink-route": 0,
		"socket-mptcp":  unix.EPROTONOSUPPORT,
		"ioctl-tiocsti": unix.EPERM, "ioctl-tiocsti-hibits": unix.EPERM, "ioctl-tioclinux": unix.EPERM,
		"ioctl-tcgets":      unix.ENOTTY, // reached the kernel: /dev/null is no terminal
		"ioctl-fionread":    0,
		"personality-query": 0, "personality-linux": 0, "personality-norandom": unix.EPERM,
		"mknodat-fifo": unix.EPERM, "ptrace": unix.EPERM, "process_vm_readv": unix.EPERM, "bpf": unix.EPERM,
		"keyctl": unix.EPERM, "add_key": unix.EPERM, "perf_event_open": unix.EPERM, "userfaultfd": unix.EPERM,
		"io_uring_setup": unix.EPERM, "kexec_load": unix.EPERM, "init_module": unix.EPERM,
		"finit_module": unix.EPERM, "open_by_handle_at": unix.EPERM, "fsopen": unix.EPERM,
		"open_tree": unix.EPERM, "clock_settime": unix.EPERM, "iopl": unix.EPERM, "reboot": unix.EPERM,
		"swapon": unix.EPERM, "syslog": unix.EPERM,
		"mkdir":             unix.ENOENT, // reached the kernel
		"kill-self-sigusr2": 0,
	}
	got := runScenario(t, "default")
	for _, p := range probes() {
		w, ok := want[p.name]
		if !ok {
			t.Errorf("probe %s has no expectation", p.name)
			continue
		}
		if got[p.name] != w {
			t.Errorf("%s: got %s, want %s", p.name, errnoName(got[p.name]), errnoName(w))
		}
	}
}

// TestAllowInChild: seccomp_allow adds a syscall the default refuses.
func TestAllowInChild(t *testing.T) {
	if got := runScenario(t, "default+syslog")["syslog"]; got != 0 {
		t.Fatalf("syslog with Allow: got %s, want OK", errnoName(got))
	}
}

// TestProfileInChild installs testdata/profiles/args.json (default allow,
// argument-conditional errno rules) and checks each rule's errno.
func TestProfileInChild(t *testing.T) {
	got := runScenario(t, "profile:testdata/profiles/args.json")
	want := map[string]unix.Errno{
		"getppid":              unix.EOPNOTSUPP, // errnoRet 95
		"personality-norandom": unix.EACCES,     // MASKED_EQ
		"personality-query":    unix.EACCES,     // 0xffffffff has the masked bit
		"personality-linux":    0,
		"getpgid-0":            unix.ESRCH, // arg0 < 1
		"kill-self-0":          0,
		"kill-self-sigusr2":    unix.EPERM,  // arg1 == 10 || arg1 == 12
		"mount":                unix.ENOENT, // default allow: the kernel answers
		"clone3":               unix.EINVAL,
		"getpid":               0,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %s, want %s", name, errnoName(got[name]), errnoName(w))
		}
	}
}

// TestDenylistProfileInChild installs testdata/profiles/denylist.json
// (default allow, SECCOMP_FILTER_FLAG_SPEC_ALLOW): mkdir gets the
// profile's EROFS, everything else reaches the kernel.
func TestDenylistProfileInChild(t *testing.T) {
	got := runScenario(t, "profile:testdata/profiles/denylist.json")
	want := map[string]unix.Errno{
		"mkdir": unix.EROFS, "getpid": 0, "mount": unix.ENOENT, "clone3": unix.EINVAL,
		"socket-packet": 0, // allowed: this test runs as root
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %s, want %s", name, errnoName(got[name]), errnoName(w))
		}
	}
}

// TestX32Killed: an x32-ABI syscall kills the process with SIGSYS.
func TestX32Killed(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=x32")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child: %v, want death by SIGSYS\n%s", err, out)
	}
	ws := exit.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child ended with %v, want death by SIGSYS\n%s", ws, out)
	}
}

// runUnderFilter execs argv with the default filter installed and returns
// its combined output.
func runUnderFilter(t *testing.T, argv ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	argvJSON, err := json.Marshal(argv)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), childEnv+"=exec", execEnv+"="+string(argvJSON))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v under the default filter: %v\n%s", argv, err, out)
	}
	return string(out)
}

// TestProgramsUnderDefaultFilter: ordinary service programs run under the
// default filter (execve'd by the filtered child, so the whole program is
// filtered, threads included).
func TestProgramsUnderDefaultFilter(t *testing.T) {
	python := `
import http.server, threading, urllib.request, os, subprocess
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
with urllib.request.urlopen("http://127.0.0.1:%d/" % srv.server_address[1]) as r:
    print("http", r.status)
print("sub", subprocess.run(["/bin/busybox", "true"]).returncode)
print([l for l in open("/proc/self/status") if l.startswith("Seccomp:")][0].split()[1] == "2" and "filtered")
srv.shutdown()
`
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"python3-http-server", []string{"/usr/bin/python3", "-c", python}, "http 200\nsub 0\nfiltered\n"},
		{"busybox-sh", []string{"/bin/busybox", "sh", "-c", `x=$(echo hello | /bin/busybox tr a-z A-Z); echo "$x"; /bin/busybox ls / >/dev/null && echo listed; /bin/busybox wget -q -O /dev/null http://127.0.0.1:1/ 2>/dev/null || echo refused; /bin/busybox grep -q "^Seccomp:.2" /proc/self/status && echo filtered`}, "HELLO\nlisted\nrefused\nfiltered\n"},
		{"bash", []string{"/bin/bash", "-c", `for i in 1 2 3; do echo $i; done | /bin/busybox wc -l; read -r l < /etc/hostname && echo read`}, "3\nread\n"},
		{"dash", []string{"/bin/dash", "-c", `echo $(( 6 * 7 )) && /bin/busybox true`}, "42\n"},
		// This test binary, a Go program, serving HTTP and running a
		// subprocess under the filter (MPTCP falls back to TCP).
		{"go-http-server", []string{os.Args[0], "-test.run=^TestGoServerChild$"}, "go ok, seccomp mode 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runUnderFilter(t, tt.argv...); !strings.Contains(got, tt.want) {
				t.Fatalf("output %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

// TestGoServerChild is the Go workload of TestProgramsUnderDefaultFilter;
// on its own (no filter) it just runs.
func TestGoServerChild(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })}
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "pong" {
		t.Fatalf("body %q", body)
	}
	if err := exec.Command("/bin/busybox", "true").Run(); err != nil {
		t.Fatal(err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	mode := "?"
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			mode = strings.TrimSpace(v)
		}
	}
	fmt.Printf("go ok, seccomp mode %s\n", mode)
}
