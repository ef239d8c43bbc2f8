package landlock

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Landlock is tested where it acts: the test binary re-executes itself
// with childEnv holding a childPlan; the child calls Restrict, performs
// each probe and prints "abi N" then one errno per probe.
const childEnv = "NUCLEUS_LANDLOCK_TEST_CHILD"

type childPlan struct {
	Rules  Rules
	Probes []probe
}

// probe is one operation attempted under the domain.
type probe struct {
	Op   string // read write create mkdir rename truncate unlink list exec ioctl-tty ioctl-tty-ro bind connect abstract-connect kill kill-self read-other-thread
	Path string `json:",omitempty"`
	To   string `json:",omitempty"` // rename target
	Port int    `json:",omitempty"` // bind, connect; kill: the pid
	Want unix.Errno
}

func TestMain(m *testing.M) {
	if plan := os.Getenv(childEnv); plan != "" {
		os.Exit(runChild(plan))
	}
	os.Exit(m.Run())
}

func runChild(planJSON string) int {
	var plan childPlan
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	runtime.LockOSThread()
	abi, err := Restrict(plan.Rules)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("abi %d\n", abi)
	for _, p := range plan.Probes {
		fmt.Printf("%d\n", int(do(p)))
	}
	return 0
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	for {
		if en, ok := err.(unix.Errno); ok {
			return en
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return unix.EIO // not a syscall error: shows up as a mismatch
}

// do performs one probe with raw syscalls on the (restricted) thread.
func do(p probe) unix.Errno {
	switch p.Op {
	case "read":
		fd, err := unix.Open(p.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer unix.Close(fd)
		var b [1]byte
		_, err = unix.Read(fd, b[:])
		return errnoOf(err)
	case "write":
		fd, err := unix.Open(p.Path, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer unix.Close(fd)
		_, err = unix.Write(fd, []byte("x"))
		return errnoOf(err)
	case "create":
		fd, err := unix.Open(p.Path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return errnoOf(err)
	case "mkdir":
		return errnoOf(unix.Mkdir(p.Path, 0o755))
	case "rename":
		return errnoOf(unix.Rename(p.Path, p.To))
	case "truncate":
		return errnoOf(unix.Truncate(p.Path, 0))
	case "unlink":
		return errnoOf(unix.Unlink(p.Path))
	case "list":
		fd, err := unix.Open(p.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer unix.Close(fd)
		buf := make([]byte, 4096)
		_, err = unix.Getdents(fd, buf)
		return errnoOf(err)
	case "exec":
		// fork+exec from this locked thread: the child inherits the domain.
		err := exec.Command(p.Path).Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return unix.Errno(1000 + ee.ExitCode()) // ran, but failed
		}
		return errnoOf(err)
	case "ioctl-tty", "ioctl-tty-ro":
		flags := unix.O_RDWR
		if p.Op == "ioctl-tty-ro" {
			flags = unix.O_RDONLY
		}
		fd, err := unix.Open(p.Path, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer unix.Close(fd)
		var t unix.Termios
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TCGETS, uintptr(unsafe.Pointer(&t)))
		return e
	case "bind", "connect":
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrInet4{Port: p.Port, Addr: [4]byte{127, 0, 0, 1}}
		if p.Op == "bind" {
			return errnoOf(unix.Bind(fd, sa))
		}
		return errnoOf(unix.Connect(fd, sa))
	case "abstract-connect":
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return errnoOf(err)
		}
		defer unix.Close(fd)
		return errnoOf(unix.Connect(fd, &unix.SockaddrUnix{Name: "@" + p.Path}))
	case "kill":
		return errnoOf(unix.Kill(p.Port, 0))
	case "read-other-thread":
		// A goroutine locked to another OS thread: Restrict covers the
		// calling thread only (Go starts new threads from its template
		// thread, not from a locked one, so they are not restricted).
		res := make(chan unix.Errno)
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			res <- do(probe{Op: "read", Path: p.Path})
		}()
		return <-res
	case "kill-self":
		return errnoOf(unix.Kill(os.Getpid(), 0))
	}
	return unix.EINVAL
}

// runPlan runs the child and checks every probe's errno and the ABI.
func runPlan(t *testing.T, plan childPlan) {
	t.Helper()
	planJSON, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(planJSON))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1+len(plan.Probes) {
		t.Fatalf("child printed %q, want abi and %d results", out, len(plan.Probes))
	}
	if lines[0] != fmt.Sprintf("abi %d", ABI()) {
		t.Errorf("child reported %q, want abi %d", lines[0], ABI())
	}
	for i, p := range plan.Probes {
		n, err := strconv.Atoi(lines[1+i])
		if err != nil {
			t.Fatalf("child line %q", lines[1+i])
		}
		if got := unix.Errno(n); got != p.Want {
			t.Errorf("%s %s%s%s: got %s, want %s", p.Op, p.Path, arrow(p.To), port(p.Port), name(got), name(p.Want))
		}
	}
}

func arrow(to string) string {
	if to == "" {
		return ""
	}
	return " -> " + to
}

func port(p int) string {
	if p == 0 {
		return ""
	}
	return ":" + strconv.Itoa(p)
}

func name(e unix.Errno) string {
	switch {
	case e == 0:
		return "OK"
	case e >= 1000:
		return fmt.Sprintf("ran, exit status %d", e-1000)
	}
	return unix.ErrnoName(e)
}

func requireABI(t *testing.T, min int) {
	t.Helper()
	if ABI() < min {
		t.Skipf("the kernel's Landlock ABI is %d; this test needs %d", ABI(), min)
	}
}

func mkfile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestRestrictFilesystem: what each rule list grants and what nothing
// grants, on directories and on single files.
func TestRestrictFilesystem(t *testing.T) {
	requireABI(t, 5) // ioctl_dev; the rest needs 3
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := func(rel string) string { return filepath.Join(dir, rel) }
	mkfile(t, p("ro/a"), []byte("a"), 0o644)
	mkfile(t, p("ro/true"), busybox, 0o755)
	mkfile(t, p("rw/b"), []byte("b"), 0o644)
	mkfile(t, p("rw/true"), busybox, 0o755)
	mkfile(t, p("rw/sub/keep"), nil, 0o644)
	mkfile(t, p("exe/true"), busybox, 0o755)
	mkfile(t, p("out/c"), []byte("c"), 0o644)
	mkfile(t, p("single"), []byte("s"), 0o644)
	mkfile(t, p("single-rw"), []byte("s"), 0o644)

	rules := Rules{
		Read:    []string{p("ro"), p("single"), "/dev/zero", p("no/such/dir")},
		Write:   []string{p("rw"), p("single-rw"), "/dev/null", p("out/c/not-a-dir")},
		Execute: []string{p("exe")},
	}
	if got, want := fmt.Sprint(rules.Missing()), fmt.Sprint([]string{p("no/such/dir"), p("out/c/not-a-dir")}); got != want {
		t.Errorf("Missing() = %s, want %s", got, want)
	}
	runPlan(t, childPlan{Rules: rules, Probes: []probe{
		// Read
		{Op: "read", Path: p("ro/a")},
		{Op: "list", Path: p("ro")},
		{Op: "write", Path: p("ro/a"), Want: unix.EACCES},
		{Op: "create", Path: p("ro/new"), Want: unix.EACCES},
		{Op: "truncate", Path: p("ro/a"), Want: unix.EACCES},
		{Op: "unlink", Path: p("ro/a"), Want: unix.EACCES},
		{Op: "exec", Path: p("ro/true"), Want: unix.EACCES},
		// Write
		{Op: "read", Path: p("rw/b")},
		{Op: "write", Path: p("rw/b")},
		{Op: "truncate", Path: p("rw/b")},
		{Op: "create", Path: p("rw/new")},
		{Op: "mkdir", Path: p("rw/dir")},
		{Op: "rename", Path: p("rw/new"), To: p("rw/sub/new")}, // refer
		{Op: "unlink", Path: p("rw/sub/new")},
		{Op: "exec", Path: p("rw/true"), Want: unix.EACCES},                // W^X
		{Op: "rename", Path: p("rw/b"), To: p("out/b"), Want: unix.EACCES}, // out of the tree
		// Execute
		{Op: "exec", Path: p("exe/true"), Want: 0},
		{Op: "read", Path: p("exe/true")},
		{Op: "write", Path: p("exe/true"), Want: unix.EACCES},
		// nothing
		{Op: "read", Path: p("out/c"), Want: unix.EACCES},
		{Op: "list", Path: p("out"), Want: unix.EACCES},
		{Op: "create", Path: p("out/new"), Want: unix.EACCES},
		{Op: "read", Path: "/etc/hostname", Want: unix.EACCES},
		{Op: "list", Path: dir, Want: unix.EACCES},
		{Op: "read-other-thread", Path: p("out/c")},
		// single-file rules get file rights
		{Op: "read", Path: p("single")},
		{Op: "write", Path: p("single"), Want: unix.EACCES},
		{Op: "write", Path: p("single-rw")},
		// devices: ioctl only under Write (ENOTTY: the ioctl reached
		// /dev/null's driver, which is no terminal)
		{Op: "ioctl-tty", Path: "/dev/null", Want: unix.ENOTTY},
		{Op: "ioctl-tty-ro", Path: "/dev/zero", Want: unix.EACCES},
		{Op: "write", Path: "/dev/zero", Want: unix.EACCES},
		// empty TCP lists restrict nothing
		{Op: "bind", Port: 0},
	}})
}

// TestRestrictTCP: non-empty tcp_bind / tcp_connect lists are the only
// ports allowed.
func TestRestrictTCP(t *testing.T) {
	requireABI(t, 4)
	allowed, other := listen(t), listen(t)
	bindOK, bindOther := freePort(t), freePort(t)
	runPlan(t, childPlan{
		Rules: Rules{TCPBind: []uint16{uint16(bindOK)}, TCPConnect: []uint16{uint16(allowed)}},
		Probes: []probe{
			{Op: "bind", Port: bindOK},
			{Op: "bind", Port: bindOther, Want: unix.EACCES},
			{Op: "connect", Port: allowed},
			{Op: "connect", Port: other, Want: unix.EACCES},
		},
	})
}

// TestRestrictTCPBindOnly: restricting bind leaves connect alone.
func TestRestrictTCPBindOnly(t *testing.T) {
	requireABI(t, 4)
	other := listen(t)
	runPlan(t, childPlan{
		Rules: Rules{TCPBind: []uint16{1}},
		Probes: []probe{
			{Op: "bind", Port: freePort(t), Want: unix.EACCES},
			{Op: "connect", Port: other},
		},
	})
}

// TestRestrictScopes: no connecting to abstract unix sockets or signalling
// processes outside the domain; inside is fine.
func TestRestrictScopes(t *testing.T) {
	requireABI(t, 6)
	name := fmt.Sprintf("nucleus-landlock-test-%d", os.Getpid())
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	runPlan(t, childPlan{Probes: []probe{
		{Op: "abstract-connect", Path: name, Want: unix.EPERM},
		{Op: "kill", Port: os.Getpid(), Want: unix.EPERM},
		{Op: "kill-self"},
	}})
}

// listen returns the port of a loopback listener that accepts and closes.
func listen(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// freePort is a loopback port nothing listens on (as far as the kernel
// knew a moment ago).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestRestrictErrors(t *testing.T) {
	requireABI(t, 1)
	// Errors come before anything is restricted, so they are safe to
	// provoke in the test process itself.
	if _, err := Restrict(Rules{Read: []string{"relative/path"}}); err == nil || !strings.Contains(err.Error(), `"relative/path" is not absolute`) {
		t.Errorf("relative path: %v", err)
	}
}

// TestABI: ABI() is the kernel's own answer to
// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION), asked
// here without go-landlock; 0 when the kernel has no Landlock.
func TestABI(t *testing.T) {
	const createRulesetVersion = 1 << 0
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, createRulesetVersion)
	want := int(v)
	if errno != 0 {
		want = 0
	}
	if ABI() != want {
		t.Fatalf("ABI() = %d, the kernel says %d (errno %v)", ABI(), want, errno)
	}
	t.Logf("Landlock ABI %d", want)
}
