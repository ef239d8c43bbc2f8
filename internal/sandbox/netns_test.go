package sandbox_test

import (
	"os"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestPreparedNetworkNamespace: with PrepareNetworkNamespace first (as
// nucleus-exec run does), a container with network = "none" runs in a
// network namespace of its own with loopback up, and lives on after Start
// returns (init's parent-death signal follows the thread that forked it,
// which must wait until init has exited). Specs that cannot use the
// prepared namespace (host network, a user namespace) still get theirs.
func TestPreparedNetworkNamespace(t *testing.T) {
	hostNet, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		mutate      func(*spec.Spec)
		wantHostNet bool
	}{
		{"network none", func(*spec.Spec) {}, false},
		{"network host", func(s *spec.Spec) { s.Network.Mode = spec.NetworkHost }, true},
		{"user namespace", func(s *spec.Spec) { s.Isolation.UserNamespace = spec.UserNSAuto }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sandbox.PrepareNetworkNamespace()
			// Outlive the forking thread's first chance to end: a
			// parent-death signal would kill init (status 137).
			s := newSpec(t, "/bin/busybox", "sh", "-c", "busybox sleep 0.2; busybox ip link show lo")
			tc.mutate(s)
			c, out, errOut, _ := start(t, s, sandbox.Options{})
			ns, err := os.Readlink("/proc/" + itoa(c.Pid()) + "/ns/net")
			if err != nil {
				t.Fatal(err)
			}
			status, err := c.Wait()
			if err != nil || status != 0 {
				t.Fatalf("status %d (%v), stderr %q", status, err, errOut())
			}
			if got := ns == hostNet; got != tc.wantHostNet {
				t.Errorf("init's network namespace %s, the host's %s: same = %v, want %v", ns, hostNet, got, tc.wantHostNet)
			}
			if o := out(); !tc.wantHostNet && !strings.Contains(o, "LOOPBACK,UP") {
				t.Errorf("loopback is not up inside: %q", o)
			}
		})
	}
}
