//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/e2e/harness"
	"github.com/nucleus-containers/nucleus/internal/sandbox/escapetest"
)

// The escape battery under a real systemd (issue 4): the same attempts
// and expected outcomes as internal/sandbox's TestEscapeBattery
// (internal/sandbox/escapetest), made by the nucleus-escape program as the
// workload of a unit with the default isolation, read back from
// `journalctl -u`.
func TestEscapeBattery(t *testing.T) {
	prog := buildEscapeProgram(t)
	// The "host" here is the instance: a listener on its 127.0.0.1, and
	// the listener's pid as a process outside the container.
	const port = "47123"
	e := setup(t, harness.Options{}, nil,
		`systemd-run --unit=escape-listener /usr/bin/python3 -c '
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", `+port+`))
s.listen(16)
while True:
    s.accept()[0].close()
'`)
	// Control: the listener is reachable from the instance itself, so an
	// ECONNREFUSED inside the container means the container cannot reach it.
	e.sh(`for i in $(seq 100); do python3 -c 'import socket; socket.create_connection(("127.0.0.1", ` + port + `), 1)' 2>/dev/null && exit 0; sleep 0.1; done; echo "listener not up"; exit 1`)
	hostPID := e.show("escape-listener.service", "MainPID").Int("MainPID")
	if hostPID <= 2 {
		// 1 and 2 are init and the program inside: not a host-only pid.
		t.Fatalf("listener MainPID %d", hostPID)
	}
	hostname := strings.TrimSpace(e.sh("hostname"))

	const progPath = "/usr/local/lib/nucleus-e2e/nucleus-escape"
	must(t, e.in.CopyIn(prog, progPath, 0o755))
	must(t, e.in.WriteSpec("escape", fmt.Sprintf(`[exec]
command = ["/nucleus-escape"]
environment = { %s = "%d", %s = "%s" }
[[mount]]
type = "bind"
source = "%s"
target = "/nucleus-escape"
read_only = true
[restart]
policy = "no"
[unit]
wanted_by = []
`, escapetest.EnvHostPID, hostPID, escapetest.EnvHostPort, port, progPath)))
	must(t, e.in.DaemonReload())
	if _, err := e.systemctl("start", "--no-block", "escape"); err != nil {
		t.Fatalf("start: %v\n%s", err, e.journalText("escape.service"))
	}
	e.waitJournal("escape.service", escapetest.DoneLine)
	out := e.workloadOutput("escape.service")
	t.Logf("journal of escape.service:\n%s", e.journalText("escape.service"))
	got := escapetest.Parse(out)
	escapetest.CheckAll(t, got)
	p := e.waitFor("escape.service", "the program to exit", func(p harness.Props) bool {
		return p["ActiveState"] == "inactive" || p["ActiveState"] == "failed"
	}, shortWait)
	if p.Int("ExecMainStatus") != 0 {
		t.Errorf("nucleus-escape exited %d: %s", p.Int("ExecMainStatus"), p)
	}
	if h := strings.TrimSpace(e.sh("hostname")); h != hostname {
		t.Errorf("the instance's hostname changed from %q to %q", hostname, h)
	}
	if !active(e.show("escape-listener.service")) {
		t.Errorf("the host process the container tried to signal is gone")
	}
}

// buildEscapeProgram builds internal/sandbox/escapetest/nucleus-escape
// (static, like nucleus-exec) into a temporary directory.
func buildEscapeProgram(t *testing.T) string {
	t.Helper()
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "nucleus-escape")
	cmd := exec.Command("go", "build", "-o", out, "./internal/sandbox/escapetest/nucleus-escape")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build nucleus-escape: %v\n%s", err, b)
	}
	return out
}
