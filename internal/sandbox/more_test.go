package sandbox_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/sandbox/escapetest"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestSeccompModes shows that the default filter is what refuses keyctl
// and user namespaces (unconfined lets them through, and says so), and
// that an OCI profile is loaded and enforced.
func TestSeccompModes(t *testing.T) {
	t.Run("unconfined", func(t *testing.T) {
		s := withProbe(t, newSpec(t), "escape")
		s.Exec.Environment[escapetest.EnvHostPort] = hostListener(t)
		s.Isolation.Seccomp = spec.SeccompUnconfined
		r := run(t, s)
		got := escapetest.Parse(strings.Split(r.stdout, "\n"))
		if got["keyctl"] != "ok" {
			t.Errorf("keyctl unconfined = %q, want ok (so EPERM under the default filter is seccomp's)", got["keyctl"])
		}
		if got["mount"] != "EPERM" || got["caps"] == "" {
			t.Errorf("unconfined must keep the other restrictions: mount %q", got["mount"])
		}
		if !strings.Contains(strings.Join(r.logs, "\n"), "seccomp: unconfined") {
			t.Errorf("no journal line about unconfined seccomp in %v", r.logs)
		}
	})
	t.Run("OCI profile", func(t *testing.T) {
		profile := filepath.Join(t.TempDir(), "profile.json")
		const p = `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`
		if err := os.WriteFile(profile, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		s := newSpec(t, "/bin/busybox", "sh", "-c", "busybox mkdir /tmp/d 2>&1; echo status=$?; busybox touch /tmp/f && echo touched")
		s.Isolation.Seccomp = spec.SeccompProfile
		s.Isolation.SeccompProfile = profile
		r := run(t, s)
		if !strings.Contains(r.stdout, "Operation not permitted") || !strings.Contains(r.stdout, "status=1") || !strings.Contains(r.stdout, "touched") {
			t.Fatalf("profile not enforced as written: %q (stderr %q)", r.stdout, r.stderr)
		}
	})
}

// TestHostNetwork: with network = "host" the host's loopback listener is
// reachable (the opposite of the escape battery's host-tcp attempt).
func TestHostNetwork(t *testing.T) {
	s := withProbe(t, newSpec(t), "escape")
	s.Exec.Environment[escapetest.EnvHostPort] = hostListener(t)
	s.Network.Mode = spec.NetworkHost
	s.Isolation.Namespaces = []spec.Namespace{spec.NSPid, spec.NSMount, spec.NSIPC, spec.NSUTS, spec.NSCgroup}
	r := run(t, s)
	if got := escapetest.Parse(strings.Split(r.stdout, "\n"))["host-tcp"]; got != "ok" {
		t.Fatalf("host-tcp under network host = %q, want ok (stderr %q)", got, r.stderr)
	}
}

// TestWithoutPidNamespace: init is not PID 1 then; it is a child subreaper
// and the workload's status still comes back, and Kill still ends it.
func TestWithoutPidNamespace(t *testing.T) {
	s := newSpec(t, "/bin/busybox", "sh", "-c", "exit 5")
	s.Isolation.Namespaces = []spec.Namespace{spec.NSMount, spec.NSIPC, spec.NSUTS, spec.NSNet, spec.NSCgroup}
	if r := run(t, s); r.status != 5 {
		t.Fatalf("status %d, want 5 (stderr %q)", r.status, r.stderr)
	}
	s = newSpec(t, "/bin/busybox", "sleep", "1000")
	s.Isolation.Namespaces = []spec.Namespace{spec.NSMount}
	c, _, _, _ := start(t, s, sandbox.Options{})
	workload := children(c.Pid())
	if len(workload) != 1 {
		t.Fatalf("init's children %v, want the workload", workload)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Wait(); st != 128+9 {
		t.Fatalf("status %d after Kill, want 137", st)
	}
	// The workload was init's child, not in a pid namespace that dies with
	// init: its parent-death signal must have ended it.
	pid, _ := strconv.Atoi(workload[0])
	if !waitGone(pid) {
		t.Errorf("workload %d survived init", pid)
	}
}

// TestNOFile reads the workload's limit from the host once Start has
// returned (below 64 it is applied with prlimit right after the start).
func TestNOFile(t *testing.T) {
	for _, n := range []int{16, 1024} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			s := newSpec(t, "/bin/busybox", "sleep", "1000")
			s.Resources.NOFile = n
			c, _, _, _ := start(t, s, sandbox.Options{})
			kids := children(c.Pid())
			if len(kids) != 1 {
				t.Fatalf("init's children %v", kids)
			}
			b, err := os.ReadFile("/proc/" + kids[0] + "/limits")
			if err != nil {
				t.Fatal(err)
			}
			want := strconv.Itoa(n)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "Max open files") {
					f := strings.Fields(l)
					if f[3] != want || f[4] != want {
						t.Fatalf("%q, want soft and hard %s", l, want)
					}
					return
				}
			}
			t.Fatalf("no open files limit in %s", b)
		})
	}
}
