package sandbox_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/sandbox/escapetest"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// parseOutcomes reads "name<TAB>outcome" lines.
func parseOutcomes(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			m[k] = v
		}
	}
	return m
}

// hostListener is a TCP listener on the host's 127.0.0.1.
func hostListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestEscapeBattery runs escapetest's attempts inside the default sandbox
// (the test binary is the in-container program) and checks each against
// escapetest.Want; e2e/escape_test.go does the same under a real systemd.
func TestEscapeBattery(t *testing.T) {
	hostname, _ := os.Hostname()
	s := withProbe(t, newSpec(t), "escape")
	s.Exec.Environment[escapetest.EnvHostPID] = strconv.Itoa(os.Getpid())
	s.Exec.Environment[escapetest.EnvHostPort] = hostListener(t)

	r := run(t, s)
	if r.status != 0 {
		t.Fatalf("probe exited %d\nstdout:\n%s\nstderr:\n%s", r.status, r.stdout, r.stderr)
	}
	got := escapetest.Parse(strings.Split(r.stdout, "\n"))
	t.Logf("outcomes:\n%s", r.stdout)
	t.Logf("logs: %v", r.logs)
	escapetest.CheckAll(t, got)
	if h, _ := os.Hostname(); h != hostname {
		t.Errorf("host hostname changed from %q to %q", hostname, h)
	}
}

// runHelper is the test binary acting as a supervisor process on the host
// (for the test that kills it): it starts a long-running container, prints
// init's pid and waits.
func runHelper(mode string) int {
	s := &spec.Spec{
		Name: "sbhelper",
		Exec: spec.Exec{Command: []string{"/bin/busybox", "sh", "-c", "/bin/busybox sleep 1000 & /bin/busybox sleep 1000"}, Workdir: "/"},
		Isolation: spec.Isolation{Runtime: spec.RuntimeNative, ReadOnly: true, Namespaces: spec.DefaultNamespaces,
			UserNamespace: spec.UserNSHost, Seccomp: spec.SeccompDefault},
		Network: spec.Network{Mode: spec.NetworkNone},
	}
	if mode == "supervisor-userns" {
		s.Isolation.UserNamespace = spec.UserNSAuto
	}
	c, err := sandbox.Start(s, sandbox.Options{})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 125
	}
	os.Stdout.WriteString(strconv.Itoa(c.Pid()) + "\n")
	st, _ := c.Wait()
	return st
}

// TestHostBinaryUnreachable is CVE-2019-5736 through an interpreter: a
// workload that is a script with "#!/proc/self/exe" would make the exec
// stage's execve run the host's nucleus-exec binary as the workload (from
// where /proc/self/exe could be reopened). Landlock refuses to execute a
// file outside its execute rules, so the start fails with 126. (The test
// binary is deliberately not bound in here: a bind would put the same inode
// under an execute rule.) A script with a container interpreter is the
// control.
func TestHostBinaryUnreachable(t *testing.T) {
	cases := []struct {
		name, script string
		want         int
	}{
		{"interpreter /proc/self/exe", "#!/proc/self/exe\n", 126},
		{"control: container interpreter", "#!/bin/busybox true\n", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostDir(t, "script", tc.script)
			if err := os.Chmod(dir+"/script", 0o755); err != nil {
				t.Fatal(err)
			}
			s := newSpec(t, "/work/script")
			s.Mounts = []spec.Mount{{Type: spec.MountBind, Source: dir, Target: "/work", ReadOnly: true}}
			r := run(t, s)
			if landlockABI(r.logs) == 0 && tc.want == 126 {
				t.Skipf("kernel has no Landlock: nothing refuses the host binary's execution (logs %v)", r.logs)
			}
			if r.status != tc.want {
				t.Fatalf("status %d, want %d (stderr %q, logs %v)", r.status, tc.want, r.stderr, r.logs)
			}
		})
	}
}
