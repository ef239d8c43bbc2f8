//go:build e2e

package gvisor

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/e2e/harness"
)

// TestUnderSystemd runs a gvisor spec as a unit of a real systemd (the e2e
// harness): start waits for readiness (tcp through the relay), a failing
// health check triggers the watchdog and a restart, stop ends it, and no
// runsc process or state is left. Run with: go test -tags e2e -run
// TestUnderSystemd ./internal/gvisor/
func TestUnderSystemd(t *testing.T) {
	requireRunsc(t)
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bins, err := harness.BuildNucleus(filepath.Dir(strings.TrimSpace(string(out))), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	in := harness.Boot(t, harness.Options{})
	sh := func(script string) string {
		t.Helper()
		out, err := in.Exec("sh", "-c", script)
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return out
	}
	journal := func() string {
		es, _ := in.Journal("gweb.service")
		return strings.Join(harness.Messages(es), "\n")
	}
	sh("mkdir -p /run/e2e-gweb && echo ok > /run/e2e-gweb/healthy")
	if err := in.WriteSpec("gweb", `
[exec]
command = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8080", "--directory", "/data"]
user = "nobody"

[isolation]
runtime = "gvisor"

[[mount]]
type = "bind"
source = "/run/e2e-gweb"
target = "/data"
read_only = true

[readiness]
tcp = 8080
timeout = "10s"

[health]
http = "http://127.0.0.1:8080/healthy"
interval = "1s"
timeout = "10s"
retries = 2

[restart]
policy = "on-failure"
delay = "200ms"
burst = 1000
interval = "10s"

[unit]
wanted_by = []
`); err != nil {
		t.Fatal(err)
	}
	if err := in.InstallNucleus(bins); err != nil {
		t.Fatal(err)
	}
	if out, err := in.Exec("systemctl", "start", "gweb"); err != nil {
		t.Fatalf("start: %v\n%s\n%s", err, out, journal())
	}
	// systemctl start returns once READY=1 arrived: readiness passed.
	if p, _ := in.Show("gweb.service", "ActiveState", "StatusText"); p["ActiveState"] != "active" {
		t.Fatalf("after start: %s\n%s", p, journal())
	}
	if _, err := in.WaitJournal("healthy", time.Minute, "-u", "gweb.service"); err != nil {
		t.Fatalf("no healthy report: %v\n%s", err, journal())
	}

	sh("rm /run/e2e-gweb/healthy")
	if _, err := in.WaitFor("gweb.service", func(p harness.Props) bool { return p.Int("NRestarts") >= 1 }, 2*time.Minute); err != nil {
		t.Fatalf("no restart after the health check failed: %v\n%s", err, journal())
	}
	if _, err := in.WaitJournal("Failed with result 'watchdog'", time.Minute, "-u", "gweb.service"); err != nil {
		t.Fatalf("%v\n%s", err, journal())
	}
	sh("echo ok > /run/e2e-gweb/healthy")
	if _, err := in.WaitFor("gweb.service", func(p harness.Props) bool { return p["ActiveState"] == "active" && p["SubState"] == "running" }, 2*time.Minute); err != nil {
		t.Fatalf("not running again after the restart: %v\n%s", err, journal())
	}

	if out, err := in.Exec("systemctl", "stop", "gweb"); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	if p, _ := in.Show("gweb.service", "ActiveState", "Result"); p["ActiveState"] != "inactive" && p["ActiveState"] != "failed" {
		t.Errorf("after stop: %s", p)
	}
	if ps, err := in.ProcessesMatching("runsc"); err != nil || len(ps) > 0 {
		t.Errorf("runsc processes left after stop: %v %v", ps, err)
	}
	if out := sh("ls -A /run/nucleus-gvisor/gweb 2>/dev/null || true"); strings.TrimSpace(out) != "" {
		t.Errorf("state left after stop: %s", out)
	}
	t.Logf("journal:\n%s", journal())
}
