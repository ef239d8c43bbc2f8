package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestSeccompModes shows that the default filter is what refuses keyctl
// and user namespaces (unconfined lets them through, and says so), and
// that an OCI profile is loaded and enforced.
func TestSeccompModes(t *testing.T) {
	t.Run("unconfined", func(t *testing.T) {
		s := withProbe(t, newSpec(t), "escape")
		s.Exec.Environment["HOST_PORT"] = hostListener(t)
		s.Isolation.Seccomp = spec.SeccompUnconfined
		r := run(t, s)
		got := parseOutcomes(r.stdout)
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
	s.Exec.Environment["HOST_PORT"] = hostListener(t)
	s.Network.Mode = spec.NetworkHost
	s.Isolation.Namespaces = []spec.Namespace{spec.NSPid, spec.NSMount, spec.NSIPC, spec.NSUTS, spec.NSCgroup}
	r := run(t, s)
	if got := parseOutcomes(r.stdout)["host-tcp"]; got != "ok" {
		t.Fatalf("host-tcp under network host = %q, want ok (stderr %q)", got, r.stderr)
	}
}
