package sandbox_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

const (
	probeEnv  = "NUCLEUS_TEST_PROBE"  // inside the container: which probe program to run
	helperEnv = "NUCLEUS_TEST_HELPER" // on the host: act as a supervisor process
	// probeBin is where tests bind the test binary inside the container.
	probeBin = "/nucleus-test/probe"
)

// newSpec is a spec with the documented defaults, as spec.Load fills them.
func newSpec(t testing.TB, command ...string) *spec.Spec {
	t.Helper()
	return &spec.Spec{
		Name:      "sbtest",
		Exec:      spec.Exec{Command: command, Workdir: "/", StopSignal: syscall.SIGTERM, Hostname: "sbtest"},
		Resources: spec.Resources{Pids: 512},
		Isolation: spec.Isolation{
			Runtime:       spec.RuntimeNative,
			ReadOnly:      true,
			Namespaces:    append([]spec.Namespace(nil), spec.DefaultNamespaces...),
			UserNamespace: spec.UserNSHost,
			Seccomp:       spec.SeccompDefault,
		},
		Network: spec.Network{Mode: spec.NetworkNone},
	}
}

// withProbe binds the test binary into the container and makes mode the
// probe program it runs; args follow.
func withProbe(t testing.TB, s *spec.Spec, mode string, args ...string) *spec.Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	s.Mounts = append(s.Mounts, spec.Mount{Type: spec.MountBind, Source: exe, Target: probeBin, ReadOnly: true})
	if s.Exec.Environment == nil {
		s.Exec.Environment = map[string]string{}
	}
	s.Exec.Environment[probeEnv] = mode
	s.Exec.Command = append([]string{probeBin}, args...)
	return s
}

// result is a finished container run.
type result struct {
	status int
	stdout string
	stderr string
	logs   []string
}

// run starts s, waits for it and returns its status and output.
func run(t testing.TB, s *spec.Spec) result {
	t.Helper()
	c, out, errb, logs := start(t, s, sandbox.Options{})
	status, err := c.Wait()
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return result{status: status, stdout: out(), stderr: errb(), logs: *logs}
}

// start starts s with stdout and stderr captured; the returned functions
// read them to EOF (call them only once the container is gone).
func start(t testing.TB, s *spec.Spec, opts sandbox.Options) (*sandbox.Container, func() string, func() string, *[]string) {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &[]string{}
	opts.Stdout, opts.Stderr = outW, errW
	opts.Log = func(f string, a ...any) { *logs = append(*logs, sprintf(f, a...)) }
	outc, errc := drain(outR), drain(errR)
	c, err := sandbox.Start(s, opts)
	outW.Close()
	errW.Close()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Kill(); _, _ = c.Wait() })
	return c, func() string { return <-outc }, func() string { return <-errc }, logs
}

func drain(r io.ReadCloser) <-chan string {
	ch := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, r)
		r.Close()
		ch <- b.String()
	}()
	return ch
}

// hostDir makes a host directory for a bind mount, with one file in it.
func hostDir(t testing.TB, file, content string) string {
	t.Helper()
	d := t.TempDir()
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if file != "" {
		if err := os.WriteFile(filepath.Join(d, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// waitGone waits until pid no longer exists (or a generous bound passes);
// it reports whether it is gone.
func waitGone(pid int) bool {
	for i := 0; i < 500; i++ {
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			return true
		}
		if st, err := os.ReadFile("/proc/" + itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			// A zombie of a process we do not own: dead for our purpose.
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// busyboxRootfs makes a directory rootfs: busybox as /bin/busybox, passwd
// as /etc/passwd, and the given empty directories.
func busyboxRootfs(t testing.TB, passwd string, dirs ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range append([]string{"bin", "etc"}, dirs...) {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}
