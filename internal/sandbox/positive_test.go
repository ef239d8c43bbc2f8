package sandbox_test

import (
	"bufio"
	"context"
	"debug/elf"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

func TestPrograms(t *testing.T) {
	cases := []struct {
		name string
		argv []string
		want string
	}{
		{"python3", []string{"/usr/bin/python3", "-c", "import os, json; print(6*7, os.getcwd())"}, "42 /\n"},
		{"busybox via PATH", []string{"busybox", "sh", "-c", "echo $((6*7)) $(busybox hostname)"}, "42 sbtest\n"},
		{"busybox pipeline", []string{"/bin/busybox", "sh", "-c", "busybox seq 3 | busybox wc -l"}, "3\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, newSpec(t, tc.argv...))
			if r.status != 0 || r.stdout != tc.want {
				t.Fatalf("status %d stdout %q (want %q) stderr %q", r.status, r.stdout, tc.want, r.stderr)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	cases := []struct {
		name string
		argv []string
		want int
	}{
		{"success", []string{"/bin/true"}, 0},
		{"failure", []string{"/bin/busybox", "sh", "-c", "exit 7"}, 7},
		{"killed by signal", []string{"/bin/busybox", "sh", "-c", "kill -KILL $$"}, 128 + 9},
		{"not found", []string{"/no/such/command"}, 127},
		{"not found in PATH", []string{"no-such-command"}, 127},
		{"not executable", []string{"/etc/passwd"}, 126},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, newSpec(t, tc.argv...))
			if r.status != tc.want {
				t.Fatalf("status %d, want %d (stderr %q logs %v)", r.status, tc.want, r.stderr, r.logs)
			}
		})
	}
}

func TestNetBindService(t *testing.T) {
	cases := []struct {
		name string
		user string
		caps []string
		want string
	}{
		{"nobody with CAP_NET_BIND_SERVICE", "nobody", []string{"CAP_NET_BIND_SERVICE"}, "ok"},
		{"nobody without it", "nobody", nil, "EACCES"},
		{"root without it", "", nil, "EACCES"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := withProbe(t, newSpec(t), "bind", "80")
			s.Exec.User = tc.user
			s.Isolation.Capabilities = tc.caps
			r := run(t, s)
			if got := strings.TrimSpace(r.stdout); r.status != 0 || got != tc.want {
				t.Fatalf("bind :80 = %q (status %d, stderr %q), want %q", got, r.status, r.stderr, tc.want)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	cases := []struct {
		name   string
		user   string
		groups []string
		caps   []string
		want   string
	}{
		{"root", "", nil, nil, "uid=0 euid=0 gid=0 groups=[] CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000"},
		{"nobody by name", "nobody", nil, nil, "uid=65534 euid=65534 gid=65534 groups=[] CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000"},
		{"uid:gid with groups", "1234:5678", []string{"nogroup", "42"}, nil, "uid=1234 euid=1234 gid=5678 groups=[42 65534] CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000"},
		{"kept capability", "nobody", nil, []string{"CAP_NET_BIND_SERVICE"}, "uid=65534 euid=65534 gid=65534 groups=[] CapInh=0000000000000400 CapPrm=0000000000000400 CapEff=0000000000000400 CapBnd=0000000000000400 CapAmb=0000000000000400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := withProbe(t, newSpec(t), "whoami")
			s.Exec.User, s.Exec.SupplementaryGroups, s.Isolation.Capabilities = tc.user, tc.groups, tc.caps
			r := run(t, s)
			if got := strings.TrimSpace(r.stdout); got != tc.want {
				t.Fatalf("got  %q\nwant %q (stderr %q)", got, tc.want, r.stderr)
			}
		})
	}
}

// TestSetuidBinaryGainsNothing execs a setuid-root copy of the test binary
// as nobody from a bind mount and checks the effective uid stays nobody.
func TestSetuidBinaryGainsNothing(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := hostDir(t, "", "")
	suid := filepath.Join(dir, "suid")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(suid, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	s := newSpec(t, "/suid/suid")
	s.Exec.User = "nobody"
	s.Exec.Environment = map[string]string{probeEnv: "whoami"}
	s.Mounts = []spec.Mount{{Type: spec.MountBind, Source: dir, Target: "/suid", ReadOnly: true}}
	r := run(t, s)
	if !strings.HasPrefix(r.stdout, "uid=65534 euid=65534 ") {
		t.Fatalf("setuid-root binary run by nobody: %q (stderr %q), want euid 65534", r.stdout, r.stderr)
	}
}

func TestMountsWritability(t *testing.T) {
	rw, ro := hostDir(t, "", ""), hostDir(t, "f", "x")
	s := withProbe(t, newSpec(t), "write", "/rw/new", "/ro/new", "/ro/f", "/tmp/new", "/dev/shm/new", "/tmpfs/new", "/")
	s.Mounts = append(s.Mounts,
		spec.Mount{Type: spec.MountBind, Source: rw, Target: "/rw"},
		spec.Mount{Type: spec.MountBind, Source: ro, Target: "/ro", ReadOnly: true},
		spec.Mount{Type: spec.MountTmpfs, Target: "/tmpfs", Size: 1 << 20})
	r := run(t, s)
	got := parseOutcomes(r.stdout)
	want := map[string]string{"/rw/new": "ok", "/ro/new": "EROFS", "/ro/f": "EROFS", "/tmp/new": "ok",
		"/dev/shm/new": "ok", "/tmpfs/new": "ok", "/": "EISDIR"}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("write %s: %q, want %q", p, got[p], w)
		}
	}
	if _, err := os.Stat(filepath.Join(rw, "new")); err != nil {
		t.Errorf("write to rw mount did not reach the host: %v", err)
	}
}

// TestLandlockDeniesOutsideRules writes to the writable tmpfs root, which
// no rule covers: permissions and mount flags allow it, Landlock must not.
func TestLandlockDeniesOutsideRules(t *testing.T) {
	s := withProbe(t, newSpec(t), "write", "/outside", "/tmp/inside")
	s.Isolation.ReadOnly = false
	r := run(t, s)
	if landlockABI(r.logs) == 0 {
		t.Skipf("kernel has no Landlock (logs %v)", r.logs)
	}
	got := parseOutcomes(r.stdout)
	if got["/outside"] != "EACCES" || got["/tmp/inside"] != "ok" {
		t.Fatalf("outcomes %v, want /outside EACCES (Landlock) and /tmp/inside ok", got)
	}
	// The same write without Landlock's rules in the way succeeds, which
	// shows the EACCES above is Landlock's.
	s2 := newSpec(t, "/bin/busybox", "sh", "-c", "echo x > /outside && echo written")
	s2.Isolation.ReadOnly = false
	s2.Landlock.Write = []string{"/"}
	if r := run(t, s2); strings.TrimSpace(r.stdout) != "written" {
		t.Fatalf("with a write rule for /: %q %q", r.stdout, r.stderr)
	}
}

func landlockABI(logs []string) int {
	for _, l := range logs {
		if v, ok := strings.CutPrefix(l, "landlock: ABI "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func TestSignalForwarding(t *testing.T) {
	cases := []struct {
		sig  syscall.Signal
		name string
		want int
	}{
		{syscall.SIGTERM, "TERM", 42},
		{syscall.SIGHUP, "HUP", 43},
		{syscall.SIGUSR1, "USR1", 44},
		{syscall.SIGALRM, "ALRM", 45}, // not in init's set: travels as a control message
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			script := "trap 'exit " + itoa(tc.want) + "' " + tc.name + "; busybox touch /tmp/ready; while :; do busybox sleep 0.05; done"
			c, _, _, _ := start(t, newSpec(t, "/bin/busybox", "sh", "-c", script), sandbox.Options{})
			// Signal only once the trap is installed.
			waitExec(t, c, "/bin/busybox", "test", "-e", "/tmp/ready")
			if err := c.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			st, err := c.Wait()
			if err != nil || st != tc.want {
				t.Fatalf("status %d err %v, want %d from the %s trap", st, err, tc.want, tc.name)
			}
		})
	}
}

// waitExec retries an exec probe until it succeeds.
func waitExec(t *testing.T, c *sandbox.Container, argv ...string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		code, out, err := c.Exec(context.Background(), argv)
		if err != nil {
			t.Fatal(err)
		}
		if code == 0 {
			return
		}
		if code >= 125 {
			t.Fatalf("probe %v: status %d: %s", argv, code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("probe %v never succeeded", argv)
}

func TestZombieReaping(t *testing.T) {
	// Orphans that exit are re-parented to init, which must reap them; the
	// workload then finds no zombie in its pid namespace.
	script := `for i in 1 2 3 4 5; do (busybox true &) ; done
for i in $(busybox seq 100); do
  z=$(busybox grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null)
  [ -z "$z" ] && { echo no-zombies; exit 0; }
  busybox sleep 0.05
done
echo zombies: $z; exit 1`
	r := run(t, newSpec(t, "/bin/busybox", "sh", "-c", script))
	if r.status != 0 || strings.TrimSpace(r.stdout) != "no-zombies" {
		t.Fatalf("status %d: %q %q", r.status, r.stdout, r.stderr)
	}
}

func TestKillSupervisorLeavesNothing(t *testing.T) {
	for _, mode := range []string{"supervisor", "supervisor-userns"} {
		t.Run(mode, func(t *testing.T) { killSupervisor(t, mode) })
	}
}

func killSupervisor(t *testing.T, mode string) {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	initPid, _ := strconv.Atoi(strings.TrimSpace(line))
	inside := descendants(initPid)
	if len(inside) == 0 {
		t.Fatalf("no processes under init %d", initPid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, pid := range append([]int{initPid}, inside...) {
		if !waitGone(pid) {
			t.Errorf("pid %d survived its supervisor", pid)
		}
	}
}

// descendants lists the host pids below pid (waiting until the workload
// has forked its two sleeps).
func descendants(pid int) []int {
	var out []int
	for i := 0; i < 500; i++ {
		out = out[:0]
		queue := []int{pid}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, f := range children(p) {
				c, _ := strconv.Atoi(f)
				out = append(out, c)
				queue = append(queue, c)
			}
		}
		if len(out) >= 2 { // the workload and its background sleep
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out
}

func TestSetupFailures(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	cases := []struct {
		name   string
		mutate func(*spec.Spec)
		want   string
	}{
		{"missing rootfs", func(s *spec.Spec) { s.Isolation.Rootfs = missing }, "rootfs"},
		{"unknown user", func(s *spec.Spec) { s.Exec.User = "no-such-user" }, `user "no-such-user" not found`},
		{"unknown group", func(s *spec.Spec) { s.Exec.SupplementaryGroups = []string{"no-such-group"} }, `group "no-such-group" not found`},
		{"missing mount source", func(s *spec.Spec) {
			s.Mounts = []spec.Mount{{Type: spec.MountBind, Source: missing, Target: "/x"}}
		}, "mount /x"},
		{"mount target through ro host view", func(s *spec.Spec) {
			s.Mounts = []spec.Mount{{Type: spec.MountTmpfs, Target: "/usr/nucleus-x"}}
		}, "mount /usr/nucleus-x"},
		{"bad workdir", func(s *spec.Spec) { s.Exec.Workdir = "/no/such/dir" }, "workdir /no/such/dir"},
		{"unknown seccomp name", func(s *spec.Spec) { s.Isolation.SeccompAllow = []string{"no_such_syscall"} }, "seccomp"},
		{"no mount namespace", func(s *spec.Spec) { s.Isolation.Namespaces = []spec.Namespace{spec.NSPid} }, `namespace "mount" is required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpec(t, "/bin/true")
			tc.mutate(s)
			before := children(os.Getpid())
			c, err := sandbox.Start(s, sandbox.Options{})
			if err == nil {
				c.Kill()
				c.Wait()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if after := children(os.Getpid()); len(after) > len(before) {
				t.Fatalf("processes left behind: %v (before %v)", after, before)
			}
		})
	}
}

// children lists pid's children over all its threads (a Go process forks
// from whichever thread it is on).
func children(pid int) []string {
	var out []string
	for _, tid := range taskIDs(pid) {
		b2, _ := os.ReadFile("/proc/" + itoa(pid) + "/task/" + tid + "/children")
		out = append(out, strings.Fields(string(b2))...)
	}
	return out
}

func taskIDs(pid int) []string {
	ents, _ := os.ReadDir("/proc/" + itoa(pid) + "/task")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestExecProbe(t *testing.T) {
	s := newSpec(t, "/bin/busybox", "sleep", "1000")
	s.Exec.User = "nobody"
	c, _, _, _ := start(t, s, sandbox.Options{})
	ctx := context.Background()

	code, out, err := c.Exec(ctx, []string{"/bin/busybox", "sh", "-c", "echo hi; busybox id -u; exit 3"})
	if err != nil || code != 3 || string(out) != "hi\n65534\n" {
		t.Fatalf("Exec = %d %q %v, want 3 \"hi\\n65534\\n\"", code, out, err)
	}
	code, out, err = c.Exec(ctx, []string{"/bin/busybox", "sh", "-c", "busybox seq 10000"})
	if err != nil || code != 0 || len(out) != 4096 {
		t.Fatalf("capped output: code %d len %d err %v, want 4096 bytes", code, len(out), err)
	}
	code, _, err = c.Exec(ctx, []string{"no-such-probe"})
	if err != nil || code != 127 {
		t.Fatalf("missing probe command: %d %v, want 127", code, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	code, _, err = c.Exec(cctx, []string{"/bin/busybox", "sleep", "1000"})
	if err != context.DeadlineExceeded || code != 128+9 {
		t.Fatalf("cancelled probe: %d %v, want 137 and DeadlineExceeded", code, err)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Wait(); st != 128+9 {
		t.Fatalf("killed container status %d, want 137", st)
	}
	if _, _, err := c.Exec(ctx, []string{"/bin/true"}); err == nil {
		t.Fatal("Exec after exit succeeded")
	}
}

func TestDial(t *testing.T) {
	s := newSpec(t, "/usr/bin/python3", "-c", `
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080)); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b"hello from inside\n"); c.close()
`)
	c, _, _, _ := start(t, s, sandbox.Options{})
	var conn net.Conn
	var err error
	for i := 0; i < 500; i++ {
		conn, err = c.Dial(context.Background(), "tcp", "127.0.0.1:8080")
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	b, _ := io.ReadAll(conn)
	conn.Close()
	if string(b) != "hello from inside\n" {
		t.Fatalf("read %q", b)
	}
	// The host's loopback is another namespace: the port is not there.
	if hc, err := net.Dial("tcp", "127.0.0.1:8080"); err == nil {
		hc.Close()
		t.Log("note: something on the host listens on 8080; cannot check isolation from this side")
	}
}

func TestEnvironment(t *testing.T) {
	s := withProbe(t, newSpec(t), "env")
	s.Exec.Environment["APP_ENV"] = "prod"
	s.Exec.User = "nobody"
	t.Setenv("TERM", "xterm")
	r := run(t, s)
	got := strings.Split(strings.TrimSpace(r.stdout), "\n")
	want := []string{"APP_ENV=prod", "HOME=/nonexistent", "HOSTNAME=sbtest", probeEnv + "=env",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "USER=nobody", "container=nucleus"}
	if strings.Join(sortedCopy(got), "\n") != strings.Join(sortedCopy(want), "\n") {
		t.Fatalf("environment\n got %q\nwant %q", got, want)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestNotifySocketAndCredentials(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	cred := filepath.Join(dir, "db-password")
	if err := os.WriteFile(cred, []byte("s3cret"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	s := newSpec(t, "/usr/bin/python3", "-c", `
import os, socket
print(open("/run/secrets/db-password").read())
try:
    open("/run/secrets/db-password", "w")
except OSError as e:
    print("write", e.errno)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
print(os.environ["NOTIFY_SOCKET"])
`)
	s.Credentials = []spec.Credential{{Name: "db-password", Source: cred, Target: "/run/secrets/db-password"}}
	c, out, errs, _ := start(t, s, sandbox.Options{NotifySocket: sock})
	buf := make([]byte, 64)
	_ = pc.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("notify datagram %q %v", buf[:n], err)
	}
	st, _ := c.Wait()
	want := "s3cret\nwrite 30\n/run/nucleus/notify\n" // 30 = EROFS
	if got := out(); st != 0 || got != want {
		t.Fatalf("status %d stdout %q want %q stderr %q", st, got, want, errs())
	}
}

func TestUserNamespaceAuto(t *testing.T) {
	s := newSpec(t, "/bin/busybox", "sh", "-c", "busybox cat /proc/self/uid_map; busybox id -u")
	s.Isolation.UserNamespace = spec.UserNSAuto
	r := run(t, s)
	f := strings.Fields(r.stdout)
	if r.status != 0 || len(f) != 4 || f[0] != "0" || f[2] != "65536" || f[3] != "0" {
		t.Fatalf("status %d uid_map/id %q stderr %q logs %v", r.status, r.stdout, r.stderr, r.logs)
	}
	if base, _ := strconv.Atoi(f[1]); base < 0x100000 {
		t.Fatalf("container root maps to host uid %d, want an unprivileged range", base)
	}
	// The one restriction a user namespace cannot have: say so.
	if !strings.Contains(strings.Join(r.logs, "\n"), "vm.memfd_noexec: cannot be set in a user namespace") {
		t.Errorf("no log line about vm.memfd_noexec in a user namespace: %v", r.logs)
	}
}

// TestDirectoryRootfs runs from a busybox directory rootfs that contains a
// symlink pointing at the host's /etc: a mount targeted through it must
// land inside the rootfs.
func TestDirectoryRootfs(t *testing.T) {
	root := busyboxRootfs(t, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n", "inside-etc")
	if err := os.Symlink("/etc", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	data := hostDir(t, "f", "data")
	s := newSpec(t, "/bin/busybox", "sh", "-c", "busybox cat /escape/mnt/f; busybox id -u; echo x > /newfile || echo ro")
	s.Isolation.Rootfs = root
	s.Exec.User = "app"
	s.Mounts = []spec.Mount{{Type: spec.MountBind, Source: data, Target: "/escape/mnt", ReadOnly: true}}
	if dynamicTestBinary(t) {
		// The sandbox re-executes its own binary inside the container;
		// nucleus-exec is static, but `go test` with cgo on builds a test
		// binary that needs the host's loader and libc in the rootfs.
		s.Mounts = append(s.Mounts,
			spec.Mount{Type: spec.MountBind, Source: "/lib64", Target: "/lib64", ReadOnly: true},
			spec.Mount{Type: spec.MountBind, Source: "/usr/lib", Target: "/lib", ReadOnly: true})
	}
	r := run(t, s)
	if !strings.HasPrefix(r.stdout, "data1000\nro\n") {
		t.Fatalf("status %d stdout %q stderr %q", r.status, r.stdout, r.stderr)
	}
	if _, err := os.Stat("/etc/mnt"); err == nil {
		t.Fatal("mount target escaped to the host's /etc/mnt")
	}
	if _, err := os.Stat(filepath.Join(root, "etc/mnt")); err != nil {
		t.Fatalf("mount target not created inside the rootfs: %v", err)
	}
}

// dynamicTestBinary reports whether this test binary has an ELF interpreter.
func dynamicTestBinary(t *testing.T) bool {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
