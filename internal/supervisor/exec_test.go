package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// These tests run the real nucleus-exec binary, built here, with the real
// native sandbox, against a NOTIFY_SOCKET the test listens on.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func nucleusExec(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nucleus-exec-bin.")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "nucleus-exec")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/nucleus-containers/nucleus/cmd/nucleus-exec")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// systemdSocket listens where systemd's NOTIFY_SOCKET would be: under /run,
// which nucleus-exec insists on.
func systemdSocket(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "nucleus-exec-test.")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func writeSpec(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type execRun struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	mu     *sync.Mutex
	done   chan error
}

func startExec(t *testing.T, notifySocket string, args ...string) *execRun {
	t.Helper()
	cmd := exec.Command(nucleusExec(t), args...)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+notifySocket)
	r := &execRun{cmd: cmd, stderr: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	cmd.Stderr = lockedWriter{r.mu, r.stderr}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-r.done
	})
	return r
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (r *execRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

func (r *execRun) exitCode(t *testing.T) int {
	t.Helper()
	err := <-r.done
	r.done <- err // for the cleanup
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// stopWithSIGTERM sends SIGTERM to nucleus-exec, as systemd stops a unit,
// and checks that it reports STOPPING=1 (after any of the datagrams in
// mayPrecede) and exits with the workload's 128+SIGTERM.
func (r *execRun) stopWithSIGTERM(t *testing.T, conn *net.UnixConn, mayPrecede ...string) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		d := readDatagram(t, conn, r)
		if d == "STOPPING=1\nSTATUS=stopping (received SIGTERM)" {
			break
		}
		if !slices.Contains(mayPrecede, d) {
			t.Fatalf("datagram %q, want STOPPING=1\n%s", d, r.output())
		}
	}
	if code := r.exitCode(t); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit status %d, want %d\n%s", code, 128+int(syscall.SIGTERM), r.output())
	}
}

func readDatagram(t *testing.T, conn *net.UnixConn, r *execRun) string {
	t.Helper()
	// A hang guard, not a timing assertion.
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	buf := make([]byte, 8192)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("waiting for a datagram: %v\nnucleus-exec output:\n%s", err, r.output())
	}
	return string(buf[:n])
}

func TestExecReadyOnlyAfterPortAnswers(t *testing.T) {
	conn, socket := systemdSocket(t)
	port := freePort(t)
	// The server listens only after a delay, so the probe fails first.
	specPath := writeSpec(t, "web", fmt.Sprintf(`
[exec]
command = ["/bin/sh", "-c", "sleep 0.3; exec python3 -m http.server --bind 127.0.0.1 %d"]

[network]
mode = "host"

[readiness]
tcp = %d
interval = "20ms"
start_timeout = "60s"
`, port, port))
	r := startExec(t, socket, "run", specPath)

	starting := 0
	for {
		d := readDatagram(t, conn, r)
		if strings.HasPrefix(d, "EXTEND_TIMEOUT_USEC=") && strings.Contains(d, "\nSTATUS=starting (probe tcp ") {
			starting++
			continue
		}
		if d != "READY=1\nSTATUS=ready" {
			t.Fatalf("unexpected datagram %q", d)
		}
		break
	}
	// READY=1 is here: the port must answer now, at the first try.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("READY=1 was sent but the port does not answer: %v", err)
	}
	c.Close()
	if starting == 0 {
		t.Errorf("READY=1 without a failed attempt first: the workload could not have been listening yet")
	}

	// python3 does not handle SIGTERM: the workload dies of it.
	r.stopWithSIGTERM(t, conn)
}

func TestExecNotifyFromInsideTheContainer(t *testing.T) {
	conn, socket := systemdSocket(t)
	// Default isolation: own network namespace, default seccomp profile,
	// workload as nobody. It sends from its own NOTIFY_SOCKET and stays
	// alive, so the relay can check where the datagram came from.
	specPath := writeSpec(t, "notifier", `
[exec]
user = "nobody"
command = ["/usr/bin/python3", "-c", '''
import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"STATUS=warming up", os.environ["NOTIFY_SOCKET"])
s.sendto(b"READY=1\nSTATUS=serving\nMAINPID=1", os.environ["NOTIFY_SOCKET"])
time.sleep(600)
''']

[readiness]
notify = true
start_timeout = "60s"
`)
	r := startExec(t, socket, "run", specPath)
	for _, want := range []string{
		"EXTEND_TIMEOUT_USEC=65000000\nSTATUS=starting (waiting for READY=1 from the workload)",
		"STATUS=warming up",
		"READY=1\nSTATUS=serving",
	} {
		if d := readDatagram(t, conn, r); d != want {
			t.Fatalf("datagram %q, want %q\n%s", d, want, r.output())
		}
	}
	r.stopWithSIGTERM(t, conn)
	if !strings.Contains(r.output(), "dropped MAINPID=") {
		t.Errorf("MAINPID= drop not logged:\n%s", r.output())
	}
}

func TestExecRefusals(t *testing.T) {
	web := writeSpec(t, "web", "[exec]\ncommand = [\"/bin/true\"]\n")
	bad := writeSpec(t, "invalid", "[exec]\ncommand = 3\n")
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"spec drift", []string{"run", "--hash=sha256:0000", web}, 125,
			"nucleus-exec: spec " + web + " changed since the unit was generated; run systemctl daemon-reload\n"},
		{"spec drift to an invalid spec", []string{"run", "--hash=sha256:0000", writeSpec(t, "bad", "[exec]\ncommand = 3\n")}, 125,
			"changed since the unit was generated; run systemctl daemon-reload\n"},
		{"matching hash runs", []string{"run", "--hash=" + hashOf(t, web), web}, 0, ""},
		{"matching hash, invalid spec", []string{"run", "--hash=" + hashOf(t, bad), bad}, 125,
			bad + ":2: [exec] command: must be an array, not an integer\n"},
		{"no spec", []string{"run"}, 125, "nucleus-exec: run: no spec file given\n"},
		{"missing spec", []string{"run", "/nonexistent/web.toml"}, 125, "/nonexistent/web.toml"},
		{"unknown command", []string{"start", web}, 125, `nucleus-exec: unknown command "start"`},
		{"exit status passes through", []string{"run", writeSpec(t, "three", "[exec]\ncommand = [\"/bin/sh\", \"-c\", \"exit 3\"]\n")}, 3, ""},
		{"command not found", []string{"run", writeSpec(t, "nocmd", "[exec]\ncommand = [\"/nonexistent\"]\n")}, 127, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startExec(t, "", tc.args...)
			code := r.exitCode(t)
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d\n%s", code, tc.wantCode, r.output())
			}
			if !strings.Contains(r.output(), tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", r.output(), tc.wantErr)
			}
		})
	}
}

func TestExecHelpAndVersion(t *testing.T) {
	for _, arg := range []string{"--help", "--version"} {
		out, err := exec.Command(nucleusExec(t), arg).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", arg, err, out)
		}
		if !strings.HasPrefix(string(out), map[string]string{"--help": "usage: nucleus-exec run", "--version": "nucleus-exec "}[arg]) {
			t.Errorf("%s printed %q", arg, out)
		}
	}
}

func hashOf(t *testing.T, paths ...string) string {
	t.Helper()
	h, err := spec.Hash(paths)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMainWithoutTheSpecsRuntime(t *testing.T) {
	gvisor := writeSpec(t, "sandboxed", "[exec]\ncommand = [\"/bin/true\"]\n[isolation]\nruntime = \"gvisor\"\n")
	native := func(*spec.Spec, StartOptions) (Workload, error) {
		t.Fatal("the native runtime was started for a gvisor spec")
		return nil, nil
	}
	if code := Main([]string{"run", gvisor}, Runtimes{spec.RuntimeNative: native}); code != ExitFailure {
		t.Errorf("exit status %d, want %d", code, ExitFailure)
	}
}

func TestExecHealthTurnsUnhealthy(t *testing.T) {
	conn, socket := systemdSocket(t)
	// Own network namespace: the probes reach the server only through
	// nucleus-exec's Dial inside it. The server goes away after a while.
	specPath := writeSpec(t, "flaky", `
[exec]
command = ["/bin/sh", "-c", "python3 -m http.server --bind 127.0.0.1 8080 & p=$!; sleep 1; kill $p; exec sleep 600"]

[readiness]
tcp = 8080
interval = "20ms"

[health]
http = "http://127.0.0.1:8080/etc/hostname"
interval = "50ms"
timeout = "1s"
retries = 2
`)
	r := startExec(t, socket, "run", specPath)
	var healthy int
	for {
		d := readDatagram(t, conn, r)
		switch {
		case strings.HasPrefix(d, "EXTEND_TIMEOUT_USEC="), d == "READY=1\nSTATUS=ready":
			continue
		case d == "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)":
			healthy++
			continue
		case strings.HasPrefix(d, "STATUS=failing: http http://127.0.0.1:8080/etc/hostname failed 1 of 2 times: GET http://127.0.0.1:8080/etc/hostname: "):
			continue
		}
		// Usually "connection refused"; "EOF" if the kill lands mid-request.
		prefix := "STATUS=unhealthy: http http://127.0.0.1:8080/etc/hostname failed 2 times: GET http://127.0.0.1:8080/etc/hostname: "
		if !strings.HasPrefix(d, prefix) || !strings.HasSuffix(d, "\nWATCHDOG=trigger") || strings.Count(d, "\n") != 1 {
			t.Fatalf("datagram %q, want %q…\\nWATCHDOG=trigger\n%s", d, prefix, r.output())
		}
		break
	}
	if healthy == 0 {
		t.Errorf("no healthy check before the server went away\n%s", r.output())
	}
	r.stopWithSIGTERM(t, conn)
	if !strings.Contains(r.output(), "nucleus-exec: flaky: unhealthy: http ") {
		t.Errorf("the unhealthy transition is not in the log:\n%s", r.output())
	}
}

func TestExecManyFastExecProbes(t *testing.T) {
	conn, socket := systemdSocket(t)
	// /bin/true exits before init's probe handler asks for its status: a
	// race that once left every later probe hanging.
	specPath := writeSpec(t, "fast", `
[exec]
command = ["/bin/sleep", "600"]

[health]
exec = ["/bin/true"]
interval = "5ms"
timeout = "5s"
`)
	r := startExec(t, socket, "run", specPath)
	if d := readDatagram(t, conn, r); d != "READY=1\nSTATUS=ready" {
		t.Fatalf("datagram %q, want READY=1", d)
	}
	for i := 0; i < 200; i++ {
		if d := readDatagram(t, conn, r); d != "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)" {
			t.Fatalf("check %d: datagram %q, want a healthy check\n%s", i+1, d, r.output())
		}
	}
	// Possibly one more check's datagram before STOPPING=1.
	r.stopWithSIGTERM(t, conn, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
}
