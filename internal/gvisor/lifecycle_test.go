package gvisor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/probe"
	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// httpServer is a workload serving HTTP on 127.0.0.1:8080 inside the
// sandbox (python3 from the host view).
const httpServer = `command = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8080", "--directory", "/etc"]`

// TestProbes runs the probe package's own checks against a gvisor
// container: tcp and http through Dial (the relay, with network = "none"),
// exec through Exec.
func TestProbes(t *testing.T) {
	s := loadSpec(t, uniqueName(t), `
[exec]
`+httpServer+`

[readiness]
tcp = 8080
timeout = "30s"

[health]
http = "http://127.0.0.1:8080/hostname"
`)
	c, out, _ := start(t, s, sandbox.Options{})
	ctx := context.Background()
	eventually(t, "readiness (tcp 8080)", func() error {
		return probe.Check(ctx, c, spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Timeout: 30 * time.Second})
	})

	checks := []struct {
		name string
		p    spec.Probe
		ok   bool
		msg  string // in the error when !ok
	}{
		{"tcp open", spec.Probe{Kind: spec.ProbeTCP, Port: 8080}, true, ""},
		{"tcp closed", spec.Probe{Kind: spec.ProbeTCP, Port: 8081}, false, "connection refused"},
		{"http 200", spec.Probe{Kind: spec.ProbeHTTP, URL: "http://127.0.0.1:8080/hostname"}, true, ""},
		{"http 404", spec.Probe{Kind: spec.ProbeHTTP, URL: "http://127.0.0.1:8080/no-such-file"}, false, "404"},
		{"exec ok", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/sh", "-c", "test -r /etc/hostname"}}, true, ""},
		{"exec status", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/sh", "-c", "echo broken; exit 3"}}, false, "exit status 3: broken"},
		{"exec timeout", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/sleep", "1000"}, Timeout: 2 * time.Second}, false, "timed out"},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p
			if p.Timeout == 0 {
				p.Timeout = 30 * time.Second
			}
			err := probe.Check(ctx, c, p)
			switch {
			case tc.ok && err != nil:
				t.Errorf("Check(%s) = %v, want success", p, err)
			case !tc.ok && err == nil:
				t.Errorf("Check(%s) succeeded, want failure", p)
			case !tc.ok && !strings.Contains(err.Error(), tc.msg):
				t.Errorf("Check(%s) = %v, want an error containing %q", p, err, tc.msg)
			}
		})
	}

	// The timed-out exec probe was killed inside the sandbox, not just its
	// runsc exec: no sleep is left.
	code, ps, err := c.Exec(ctx, []string{"/bin/sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"})
	if err != nil || code != 0 {
		t.Fatalf("Exec(ps) = %d, %v", code, err)
	}
	if strings.Contains(string(ps), "sleep") {
		t.Errorf("the timed-out probe is still running in the sandbox: %s", ps)
	}

	// Exec runs with the workload's identity and environment.
	code, idOut, err := c.Exec(ctx, []string{"/bin/sh", "-c", `echo "$(id -u) $container $HOME"`})
	if err != nil || code != 0 || strings.TrimSpace(string(idOut)) != "0 nucleus /root" {
		t.Errorf("Exec(id) = %d, %q, %v; want 0, \"0 nucleus /root\"", code, idOut, err)
	}

	// A Dial'd connection carries data both ways.
	conn, err := c.Dial(ctx, "tcp", "127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /hostname HTTP/1.0\r\n\r\n")
	status, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || !strings.HasPrefix(status, "HTTP/1.0 200") {
		t.Errorf("GET through Dial: %q, %v", status, err)
	}
	_ = out
}

// TestHostNetwork: with network = "host" the workload's ports are the
// host's, and Dial dials them directly.
func TestHostNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := loadSpec(t, uniqueName(t), fmt.Sprintf(`
[exec]
command = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "%d", "--directory", "/etc"]

[network]
mode = "host"

[readiness]
tcp = %d
`, port, port))
	c, _, _ := start(t, s, sandbox.Options{})
	eventually(t, "listening", func() error {
		return probe.Check(context.Background(), c, spec.Probe{Kind: spec.ProbeHTTP, URL: fmt.Sprintf("http://127.0.0.1:%d/hostname", port), Timeout: 30 * time.Second})
	})
	// The host sees the same port.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("host cannot reach the workload's port with network = host: %v", err)
	}
	conn.Close()
}

// TestStatuses: what Wait reports for each way a workload ends.
func TestStatuses(t *testing.T) {
	// ready is created once the trap is installed, so the signal cannot
	// arrive before it.
	const trapped = `trap 'exit 7' TERM; touch /tmp/ready; while :; do sleep 0.1; done`
	const untrapped = `touch /tmp/ready; while :; do sleep 0.1; done`
	cases := []struct {
		name    string
		command string
		stop    func(*Container) error // nil: the workload ends by itself
		want    int
		log     string
	}{
		{"exit status", `["/bin/sh", "-c", "exit 3"]`, nil, 3, ""},
		{"true", `["true"]`, nil, 0, ""},
		{"SIGTERM handled", fmt.Sprintf(`["/bin/sh", "-c", %q]`, trapped), func(c *Container) error { return c.Signal(syscall.SIGTERM) }, 7, ""},
		{"SIGTERM default", fmt.Sprintf(`["/bin/sh", "-c", %q]`, untrapped), func(c *Container) error { return c.Signal(syscall.SIGTERM) }, 128 + 15, ""},
		{"Kill", fmt.Sprintf(`["/bin/sh", "-c", %q]`, trapped), func(c *Container) error { return c.Kill() }, 128 + 9, ""},
		{"not found", `["/no/such/command"]`, nil, 127, "no such file"},
		{"not found in PATH", `["no-such-command"]`, nil, 127, "command not found"},
		{"not executable", `["/etc/passwd"]`, nil, 126, "permission denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := loadSpec(t, uniqueName(t), "[exec]\ncommand = "+tc.command+"\n")
			c, out, l := start(t, s, sandbox.Options{})
			if tc.stop != nil {
				eventually(t, "workload ready", func() error {
					code, _, err := c.Exec(context.Background(), []string{"/bin/sh", "-c", "test -e /tmp/ready"})
					if err == nil && code != 0 {
						err = fmt.Errorf("exit %d", code)
					}
					return err
				})
				if err := tc.stop(c); err != nil {
					t.Fatal(err)
				}
			}
			if st := wait(t, c); st != tc.want {
				t.Errorf("status %d, want %d\noutput: %s\nlog: %s", st, tc.want, out, l)
			}
			if !strings.Contains(l.String(), tc.log) {
				t.Errorf("log %q does not say %q", l, tc.log)
			}
			if err := c.Signal(syscall.SIGTERM); !errors.Is(err, errExited) {
				t.Errorf("Signal after exit = %v, want errExited", err)
			}
			if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
				t.Errorf("state directory %s left behind", c.dir)
			}
		})
	}
}

// TestNotify: a datagram the workload sends to $NOTIFY_SOCKET inside
// gVisor reaches the host socket nucleus-exec owns.
func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	s := loadSpec(t, uniqueName(t), `
[exec]
command = ["/usr/bin/python3", "-c", "import os, socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(os.environ['NOTIFY_SOCKET']); s.send(b'READY=1' + bytes([10]) + b'STATUS=up from gvisor')"]

[readiness]
notify = true
`)
	c, out, _ := start(t, s, sandbox.Options{NotifySocket: path})
	_ = sock.SetReadDeadline(time.Now().Add(2 * time.Minute))
	buf := make([]byte, 512)
	n, err := sock.Read(buf)
	if err != nil {
		t.Fatalf("no datagram from the workload: %v\noutput: %s", err, out)
	}
	if got := string(buf[:n]); got != "READY=1\nSTATUS=up from gvisor" {
		t.Errorf("datagram %q", got)
	}
	if st := wait(t, c); st != 0 {
		t.Errorf("status %d\n%s", st, out)
	}
}

// TestRefusals: what Start says instead of starting.
func TestRefusals(t *testing.T) {
	t.Run("runsc missing", func(t *testing.T) {
		s := loadSpec(t, uniqueName(t), "[exec]\ncommand = [\"true\"]\n")
		t.Setenv("PATH", t.TempDir())
		_, err := Start(s, sandbox.Options{})
		if err == nil || !strings.Contains(err.Error(), "apt-get install runsc") || strings.Contains(err.Error(), "\n") {
			t.Errorf("Start without runsc = %v, want one line saying apt-get install runsc", err)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		s := loadSpec(t, uniqueName(t), "[exec]\ncommand = [\"true\"]\nuser = \"no-such-user\"\n")
		_, err := Start(s, sandbox.Options{})
		if err == nil || !strings.Contains(err.Error(), `user "no-such-user" not found`) {
			t.Errorf("Start = %v", err)
		}
	})
	t.Run("missing bind source", func(t *testing.T) {
		s := loadSpec(t, uniqueName(t), "[exec]\ncommand = [\"true\"]\n[[mount]]\ntype = \"bind\"\nsource = \"/no/such/dir\"\ntarget = \"/data\"\n")
		_, err := Start(s, sandbox.Options{})
		if err == nil || !strings.Contains(err.Error(), "mount /data") {
			t.Errorf("Start = %v", err)
		}
	})
}

// TestWarnings: settings gVisor cannot honour, written in the spec, get a
// warning line; the same settings left at their defaults get none.
func TestWarnings(t *testing.T) {
	s := loadSpec(t, uniqueName(t), `
[exec]
command = ["true"]

[isolation]
seccomp = "unconfined"
namespaces = ["pid", "mount", "net"]

[landlock]
read = ["/srv"]
`)
	c, _, l := start(t, s, sandbox.Options{})
	wait(t, c)
	for _, k := range []string{"isolation.seccomp has no effect", "isolation.namespaces has no effect", "landlock has no effect"} {
		if !strings.Contains(l.String(), k) {
			t.Errorf("no warning %q in:\n%s", k, l)
		}
	}
	plain := loadSpec(t, uniqueName(t)+"-plain", "[exec]\ncommand = [\"true\"]\n")
	c, _, l = start(t, plain, sandbox.Options{})
	wait(t, c)
	if strings.Contains(l.String(), "warning") {
		t.Errorf("warnings for a spec that asked for nothing:\n%s", l)
	}
}

// TestSIGKILLCleanup: a supervisor SIGKILLed while its workload runs
// leaves no sandbox process, and the next Start with the same name removes
// the stale state and runs.
func TestSIGKILLCleanup(t *testing.T) {
	requireRunsc(t)
	name := uniqueName(t)
	rd := t.TempDir()
	t.Setenv("RUNTIME_DIRECTORY", rd)
	specDir := t.TempDir()
	path := filepath.Join(specDir, name+".toml")
	if err := os.WriteFile(path, []byte("[exec]\ncommand = [\"/bin/sleep\", \"1000\"]\n[isolation]\nruntime = \"gvisor\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	helper := exec.Command("/proc/self/exe")
	helper.Env = append(os.Environ(), helperEnv+"="+path)
	// A file, not a buffer: exec.Cmd.Wait would otherwise wait for every
	// holder of the pipe (a surviving sandbox) to close it.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "helper.stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	helper.Stderr = stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "started\n" {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		msg, _ := os.ReadFile(stderr.Name())
		t.Fatalf("helper: %q\n%s", line, msg)
	}
	state := filepath.Join(rd, "gvisor")
	// Whatever happens below, no sandbox outlives the test.
	t.Cleanup(func() {
		_ = exec.Command("runsc", "--root="+filepath.Join(state, "runsc"), "delete", "--force", idPrefix+name).Run()
	})
	if n := processesUsing(state); n == 0 {
		t.Fatalf("no runsc process uses %s while the workload runs", state)
	}
	_ = helper.Process.Signal(syscall.SIGKILL)
	_ = helper.Wait()

	eventually(t, "sandbox processes gone after SIGKILL of the supervisor", func() error {
		if n := processesUsing(state); n > 0 {
			return fmt.Errorf("%d processes still use %s", n, state)
		}
		return nil
	})
	if _, err := os.Stat(filepath.Join(state, "runsc")); err != nil {
		t.Fatalf("expected stale runsc state after SIGKILL (the restart must clean it): %v", err)
	}

	s := loadSpec(t, name, "[exec]\ncommand = [\"/bin/sh\", \"-c\", \"exit 5\"]\n")
	c, out, l := start(t, s, sandbox.Options{})
	if st := wait(t, c); st != 5 {
		t.Errorf("restart: status %d, want 5\n%s\n%s", st, out, l)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state %s left after the restarted container ended", state)
	}
}

// processesUsing counts processes whose command line mentions dir.
func processesUsing(dir string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(dir)) {
			n++
		}
	}
	return n
}

// TestStaysInCgroup: every host process of the sandbox (runsc, gofer,
// sandbox) stays in the supervisor's cgroups, where systemd's MemoryMax=,
// CPUQuota= and TasksMax= for the unit apply. Without --ignore-cgroups runsc
// would move them to a cgroup of its own named after the container id, at
// the root of every hierarchy.
func TestStaysInCgroup(t *testing.T) {
	s := loadSpec(t, uniqueName(t), "[exec]\ncommand = [\"/bin/sleep\", \"1000\"]\n")
	c, _, _ := start(t, s, sandbox.Options{})
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(c.dir)) {
			continue
		}
		cg, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		n++
		if !bytes.Equal(cg, self) {
			t.Errorf("process %s (%s) is in cgroups\n%s\nnot the supervisor's\n%s", e.Name(), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), cg, self)
		}
	}
	if n < 3 {
		t.Errorf("found %d host processes of the sandbox, want runsc, gofer and sandbox", n)
	}
	_ = c.Kill()
	if st := wait(t, c); st != 128+9 {
		t.Errorf("status after Kill %d", st)
	}
}

// TestStartWithoutHook: runsc treats a poststart hook that fails as a
// warning; Start then learns from `runsc state` that the workload runs.
func TestStartWithoutHook(t *testing.T) {
	saved := hookShell
	hookShell = "/bin/false" // runs, writes nothing, fails
	t.Cleanup(func() { hookShell = saved })
	s := loadSpec(t, uniqueName(t), "[exec]\ncommand = [\"/bin/sleep\", \"1000\"]\n")
	c, _, l := start(t, s, sandbox.Options{})
	if !strings.Contains(l.String(), `start hook did not report; runsc state says "running"`) {
		t.Errorf("log does not say how the start was detected:\n%s", l)
	}
	code, _, err := c.Exec(context.Background(), []string{"/bin/true"})
	if err != nil || code != 0 {
		t.Errorf("Exec after a hook-less start = %d, %v", code, err)
	}
	_ = c.Kill()
	if st := wait(t, c); st != 128+9 {
		t.Errorf("status %d", st)
	}
}
