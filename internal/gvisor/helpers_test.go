package gvisor

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// helperEnv makes the test binary act as a supervisor that starts one
// container and blocks (the SIGKILL cleanup test kills it).
const helperEnv = "NUCLEUS_GVISOR_TEST_HELPER"

func TestMain(m *testing.M) {
	// The test binary is also the in-sandbox relay of Dial.
	MaybeRelay()
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper(os.Getenv(helperEnv)))
	}
	os.Exit(m.Run())
}

// runHelper starts the spec at path, says "started" on stdout and blocks.
func runHelper(path string) int {
	s, err := spec.LoadFiles([]string{path})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	c, err := Start(s, sandbox.Options{Stdin: devNull(), Stdout: os.Stderr, Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 125
	}
	fmt.Println("started")
	st, _ := c.Wait()
	return st
}

// devNull is /dev/null opened for reading and writing: it serves as stdout
// too (a workload that logs to a read-only descriptor fails its writes).
func devNull() *os.File {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		panic(err)
	}
	return f
}

// requireRunsc fails (not skips) without runsc: the gVisor runtime is
// what this package is, and CI installs runsc.
func requireRunsc(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("runsc"); err != nil {
		t.Fatal("runsc is not installed (apt-get install runsc): the gVisor runtime cannot be tested")
	}
	if os.Geteuid() != 0 {
		t.Fatal("these tests run runsc as root")
	}
}

// uniqueName gives each test container its own name: runsc's control
// socket is named after the container id, host-wide.
func uniqueName(t *testing.T) string {
	n := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	return fmt.Sprintf("gvt-%s-%d", n, os.Getpid())
}

// loadSpec writes body as NAME.toml (runtime = "gvisor" is added) and loads
// it with the real loader, so defaults and Explicit are what nucleus-exec
// sees.
func loadSpec(t *testing.T, name, body string) *spec.Spec {
	t.Helper()
	dir := t.TempDir()
	if !strings.Contains(body, "[isolation]") {
		body += "\n[isolation]\n"
	}
	body = strings.Replace(body, "[isolation]", "[isolation]\nruntime = \"gvisor\"", 1)
	path := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := spec.LoadFiles([]string{path})
	if err != nil {
		t.Fatalf("spec:\n%s\n%v", body, err)
	}
	return s
}

// output collects what the workload writes to stdout and stderr.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func (o *output) String() string {
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// logs collects opts.Log lines.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) log(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// start starts s with its stdout and stderr going to one pipe, under a
// private RUNTIME_DIRECTORY.
func start(t *testing.T, s *spec.Spec, opts sandbox.Options) (*Container, *output, *logs) {
	t.Helper()
	requireRunsc(t)
	if os.Getenv("RUNTIME_DIRECTORY") == "" {
		t.Setenv("RUNTIME_DIRECTORY", t.TempDir())
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &output{done: make(chan struct{})}
	go func() {
		defer close(out.done)
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			out.mu.Lock()
			out.buf.Write(b[:n])
			out.mu.Unlock()
			if err != nil {
				r.Close()
				return
			}
		}
	}()
	l := &logs{}
	opts.Stdin = devNull()
	opts.Stdout, opts.Stderr = w, w
	opts.Log = l.log
	c, err := Start(s, opts)
	w.Close()
	opts.Stdin.Close()
	if err != nil {
		t.Fatalf("Start: %v\nlog: %s\noutput: %s", err, l, out)
	}
	t.Cleanup(func() {
		_ = c.Kill()
		_, _ = c.Wait()
	})
	return c, out, l
}

// wait waits for the workload with an overall bound that only guards
// against a hung test (it is not an assertion about speed).
func wait(t *testing.T, c *Container) int {
	t.Helper()
	type res struct {
		st  int
		err error
	}
	ch := make(chan res, 1)
	go func() { st, err := c.Wait(); ch <- res{st, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Wait: %v", r.err)
		}
		return r.st
	case <-time.After(2 * time.Minute):
		_ = c.Kill()
		t.Fatal("workload did not end")
		return -1
	}
}

// eventually retries f until it returns nil, bounded like wait.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = io.Discard
