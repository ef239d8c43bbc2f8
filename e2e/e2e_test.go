//go:build e2e

package e2e

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/e2e/harness"
)

// 1. A spec in /etc/nucleus + daemon-reload + systemctl start → active
// (running), and the workload's stdout is in journalctl -u NAME.
func TestStartAndJournal(t *testing.T) {
	e := setup(t, harness.Options{}, map[string]string{
		"hello": `description = "e2e hello"
[exec]
command = ["/bin/busybox", "sh", "-c", "echo hello-from-the-container; exec sleep 1000"]
[unit]
wanted_by = []
`})
	p := e.show("hello.service", "LoadState", "ExecStart", "Type", "NotifyAccess", "Slice", "Description")
	if p["LoadState"] != "loaded" {
		t.Fatalf("hello.service not generated: %s", p)
	}
	if !strings.Contains(p["ExecStart"], harness.ExecPath) || !strings.Contains(p["ExecStart"], "--hash=sha256:") ||
		p["Type"] != "notify" || p["NotifyAccess"] != "main" || p["Slice"] != "nucleus.slice" || p["Description"] != "e2e hello" {
		t.Errorf("generated unit: %s", p)
	}
	if _, err := e.systemctl("start", "hello"); err != nil {
		t.Fatalf("systemctl start hello: %v\n%s", err, e.journalText("hello.service"))
	}
	p = e.show("hello.service")
	if p["ActiveState"] != "active" || p["SubState"] != "running" {
		t.Fatalf("after start: %s", p)
	}
	e.waitJournal("hello.service", "hello-from-the-container")
	// The main PID is nucleus-exec, not the workload.
	if comm := strings.TrimSpace(e.sh("cat /proc/" + p["MainPID"] + "/comm")); comm != "nucleus-exec" {
		t.Errorf("main process is %q, want nucleus-exec", comm)
	}
}

// 2. A bad spec beside a good one: the good one starts; the bad one has no
// unit, and its error names file and line in the boot journal.
func TestBadSpecBesideGood(t *testing.T) {
	// The generator logs to /dev/kmsg, which journald reads back: pass it in.
	// The kernel log is shared with the host (and other instances, and
	// earlier runs), so the bad spec's name is unique to this run.
	in := harness.Boot(t, harness.Options{Kmsg: true})
	bad := fmt.Sprintf("bad-%d-%08x", in.PID(), rand.Uint32())
	e := &env{t: t, in: in}
	must(t, in.WriteSpec("good", `[exec]
command = ["/bin/busybox", "sh", "-c", "echo good-one-runs; exec sleep 1000"]
`))
	must(t, in.WriteSpec(bad, `[exec]
command = ["/bin/true"]
no_such_key = 1
`))
	must(t, in.InstallNucleus(bins))

	if p := e.show(bad + ".service"); p["LoadState"] != "not-found" {
		t.Errorf("the bad spec got a unit: %s", p)
	}
	if _, err := e.systemctl("start", "good"); err != nil {
		t.Fatalf("start good: %v\n%s", err, e.journalText("good.service"))
	}
	e.waitJournal("good.service", "good-one-runs")
	ent, err := in.WaitJournal("/etc/nucleus/"+bad+".toml:3", shortWait, "-b", "-k") // the command README and nucleus-generator(8) give
	if err != nil {
		t.Fatalf("the bad spec's error (file:line) is not in journalctl -b -k: %v", err)
	}
	if !strings.Contains(ent.Message, "no_such_key") {
		t.Errorf("error does not name the key: %q", ent.Message)
	}
	t.Logf("generator error: %s: %s", ent.Fields["SYSLOG_IDENTIFIER"], ent.Message)
}

// 3. wanted_by hooks a spec into a target; [unit] after/requires orders a
// dependent spec after its dependency is ready.
func TestWantedByAndOrdering(t *testing.T) {
	e := setup(t, harness.Options{}, map[string]string{
		"atboot": `[exec]
command = ["/bin/busybox", "sh", "-c", "echo started-by-target; exec sleep 1000"]
[unit]
wanted_by = ["multi-user.target"]
`,
		"manual": `[exec]
command = ["/bin/busybox", "sleep", "1000"]
[unit]
wanted_by = []
`,
		// db becomes ready only once /data/db-ready exists, a while after it
		// starts; app checks at its own start that db was ready by then.
		"db": `[exec]
command = ["/bin/busybox", "sh", "-c", "sleep 2; touch /data/db-ready; exec sleep 1000"]
[[mount]]
type = "bind"
source = "/run/e2e-order"
target = "/data"
[readiness]
exec = ["/bin/busybox", "test", "-e", "/data/db-ready"]
interval = "100ms"
start_timeout = "30s"
[unit]
wanted_by = []
`,
		"app": `[exec]
command = ["/bin/busybox", "sh", "-c", "if [ -e /data/db-ready ]; then echo db-was-ready; else echo db-NOT-ready; exit 1; fi; exec sleep 1000"]
[[mount]]
type = "bind"
source = "/run/e2e-order"
target = "/data"
read_only = true
[unit]
after = ["db"]
requires = ["db"]
wanted_by = []
`,
	}, "mkdir -p /run/e2e-order")

	// wanted_by: the generator linked atboot into multi-user.target.wants.
	p := e.show("atboot.service", "WantedBy")
	if !strings.Contains(p["WantedBy"], "multi-user.target") {
		t.Fatalf("atboot.service WantedBy = %q", p["WantedBy"])
	}
	// Keep the host's own multi-user.target.wants (databases, getty, ...) out
	// of the instance: only nucleus units are under test.
	wants := strings.Fields(e.show("multi-user.target", "Wants")["Wants"])
	var mask []string
	for _, u := range wants {
		if u != "atboot.service" {
			mask = append(mask, u)
		}
	}
	if len(mask) > 0 {
		if _, err := e.systemctl(append([]string{"mask", "--runtime"}, mask...)...); err != nil {
			t.Fatal(err)
		}
		must(t, e.in.DaemonReload())
	}
	if _, err := e.systemctl("start", "multi-user.target"); err != nil {
		t.Fatalf("start multi-user.target: %v", err)
	}
	e.waitFor("atboot.service", "atboot started by multi-user.target", active, shortWait)
	e.waitJournal("atboot.service", "started-by-target")
	if p := e.show("manual.service"); p["ActiveState"] != "inactive" {
		t.Errorf("manual.service (wanted_by = []) was started: %s", p)
	}

	// after/requires: starting app pulls in db and waits for its readiness.
	if _, err := e.systemctl("start", "app"); err != nil {
		t.Fatalf("start app: %v\napp:\n%s\ndb:\n%s", err, e.journalText("app.service"), e.journalText("db.service"))
	}
	if p := e.show("db.service"); !active(p) {
		t.Errorf("db.service not pulled in by requires: %s", p)
	}
	e.waitJournal("app.service", "db-was-ready")
	if out := e.workloadOutput("app.service"); contains(out, "db-NOT-ready") {
		t.Errorf("app started before db was ready: %q", out)
	}
	deps := e.show("app.service", "After", "Requires")
	if !strings.Contains(deps["After"], "db.service") || !strings.Contains(deps["Requires"], "db.service") {
		t.Errorf("app.service dependencies: %s", deps)
	}
}

// 4. Restart policies: on-failure restarts a failing workload (NRestarts
// grows); "no" leaves the unit failed with Result=exit-code.
func TestRestartPolicies(t *testing.T) {
	e := setup(t, harness.Options{}, map[string]string{
		"flaky": `[exec]
command = ["/bin/busybox", "sh", "-c", "echo attempt; sleep 0.2; exit 3"]
[restart]
policy = "on-failure"
delay = "100ms"
burst = 1000
interval = "10s"
[unit]
wanted_by = []
`,
		"once": `[exec]
command = ["/bin/busybox", "sh", "-c", "echo only-once; sleep 0.2; exit 3"]
[restart]
policy = "no"
[unit]
wanted_by = []
`,
	})
	for _, u := range []string{"flaky", "once"} {
		if _, err := e.systemctl("start", "--no-block", u); err != nil {
			t.Fatal(err)
		}
	}
	e.waitFor("flaky.service", "NRestarts >= 2", func(p harness.Props) bool { return p.Int("NRestarts") >= 2 }, longWait)
	p := e.waitFor("once.service", "failed", func(p harness.Props) bool { return p["ActiveState"] == "failed" }, longWait)
	if p["Result"] != "exit-code" || p.Int("ExecMainStatus") != 3 || p.Int("NRestarts") != 0 {
		t.Errorf("once.service: %s; want Result=exit-code ExecMainStatus=3 NRestarts=0", p)
	}
	// Each restart ran the workload again (its output can trail NRestarts).
	e.waitOutputCount("flaky.service", "attempt", 3)
	if e.show("flaky.service", "Restart")["Restart"] != "on-failure" || e.show("once.service", "Restart")["Restart"] != "no" {
		t.Errorf("Restart= not as the specs say")
	}
}

// readinessWorkload listens on port only after a delay, then creates
// /tmp/ready and serves HTTP: a start that returned early would find the
// port closed.
const readinessWorkload = `
import http.server, os, sys, time
time.sleep(3)
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[2])), http.server.SimpleHTTPRequestHandler)
open("/tmp/ready", "w").close()
print("listening", flush=True)
srv.serve_forever()
`

// 5. Readiness: systemctl start returns only once the probe passes (the port
// answers the moment start returns); a probe that never passes fails the
// start after start_timeout.
func TestReadiness(t *testing.T) {
	specs := map[string]string{}
	probes := []struct{ name, port, probe string }{
		{"ready-tcp", "8081", `tcp = 8081`},
		{"ready-http", "8082", `http = "http://127.0.0.1:8082/"`},
		{"ready-exec", "8083", `exec = ["/bin/busybox", "test", "-e", "/tmp/ready"]`},
	}
	for _, p := range probes {
		specs[p.name] = fmt.Sprintf(`[exec]
command = ["/usr/bin/python3", "-u", "-c", '''%s''', "e2e-%s", "%s"]
workdir = "/tmp"
[network]
mode = "host"
[readiness]
%s
interval = "100ms"
start_timeout = "30s"
[restart]
policy = "no"
[unit]
wanted_by = []
`, readinessWorkload, p.name, p.port, p.probe)
	}
	specs["never-ready"] = `[exec]
` + python("import time\ntime.sleep(1000)\n", "e2e-never-ready") + `
[readiness]
tcp = 8089
interval = "100ms"
start_timeout = "2s"
[restart]
policy = "no"
[unit]
wanted_by = []
`
	e := setup(t, harness.Options{}, specs)

	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			e := e.with(t)
			// One command inside: start, then connect right away. The network
			// mode is host, so the port is in the instance's own namespace.
			out, err := e.in.Exec("sh", "-c", `systemctl start "$1" && python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close(); print("port answers")' "$2"`,
				"start-and-connect", p.name, p.port)
			if err != nil || !strings.Contains(out, "port answers") {
				t.Fatalf("start %s, then connect to %s: %q, %v\n%s", p.name, p.port, out, err, e.journalText(p.name+".service"))
			}
			if st := e.show(p.name + ".service"); !active(st) || st["StatusText"] != "ready" {
				t.Errorf("after start: %s; want active with StatusText=ready", st)
			}
		})
	}

	t.Run("never-ready", func(t *testing.T) {
		e := e.with(t)
		_, err := e.systemctl("start", "never-ready")
		if err == nil {
			t.Fatalf("start of a never-ready unit succeeded: %s", e.show("never-ready.service"))
		}
		p := e.waitFor("never-ready.service", "failed", func(p harness.Props) bool { return p["ActiveState"] == "failed" }, shortWait)
		// Either systemd's TimeoutStartSec= fired, or nucleus-exec gave up at
		// start_timeout itself and said which probe never passed.
		if p["Result"] != "timeout" && !strings.Contains(p["StatusText"], "tcp 8089") {
			t.Errorf("never-ready: %s; want Result=timeout or a status naming the probe", p)
		}
		e.waitNoProcesses("e2e-never-ready")
	})
}

// 6. Health: a workload that turns unhealthy is restarted through the
// watchdog and systemd's Restart=, with a status naming the probe; a
// healthy one stays at NRestarts=0 over many intervals.
func TestHealthWatchdog(t *testing.T) {
	spec := func(name string) string {
		return fmt.Sprintf(`[exec]
command = ["/bin/busybox", "sleep", "1000"]
[[mount]]
type = "bind"
source = "/run/e2e-%[1]s"
target = "/data"
[health]
exec = ["/bin/busybox", "sh", "-c", "echo x >> /data/probes; cat /data/healthy"]
interval = "500ms"
timeout = "2s"
retries = 3
[restart]
policy = "on-failure"
delay = "200ms"
burst = 1000
interval = "10s"
[unit]
wanted_by = []
`, name)
	}
	e := setup(t, harness.Options{}, map[string]string{"sick": spec("sick"), "fine": spec("fine")},
		"for d in sick fine; do mkdir -p /run/e2e-$d; echo ok > /run/e2e-$d/healthy; done")
	for _, u := range []string{"sick", "fine"} {
		if _, err := e.systemctl("start", u); err != nil {
			t.Fatalf("start %s: %v\n%s", u, err, e.journalText(u+".service"))
		}
	}
	if p := e.show("sick.service", "WatchdogUSec"); p["WatchdogUSec"] == "0" || p["WatchdogUSec"] == "infinity" || p["WatchdogUSec"] == "" {
		t.Errorf("no watchdog for a spec with [health]: %s", p)
	}

	e.sh("rm /run/e2e-sick/healthy")
	e.waitFor("sick.service", "a restart after the health check failed", func(p harness.Props) bool { return p.Int("NRestarts") >= 1 }, longWait)
	// nucleus-exec sent STATUS= naming the probe, then WATCHDOG=trigger:
	// systemd logs the request with the StatusText it had at that moment
	// (the restart clears it, so this is the reliable place to read it).
	ent := e.waitJournal("sick.service", "Watchdog request (last status: unhealthy: exec /bin/busybox sh -c echo x >> /data/probes; cat /data/healthy")
	t.Logf("sick: %s", ent.Message)
	e.waitJournal("sick.service", "Failed with result 'watchdog'")

	// 30 probes at 500ms span more than WatchdogSec (4 x 2.5s): a missed
	// ping would have fired the watchdog by then.
	e.waitLines("/run/e2e-fine/probes", 30, longWait)
	if p := e.show("fine.service"); !active(p) || p.Int("NRestarts") != 0 {
		t.Errorf("healthy unit: %s; want active, NRestarts=0", p)
	}
}

// 7. notify = true: the workload's own READY=1 (over its in-container
// NOTIFY_SOCKET) makes the unit ready, and its STATUS= shows in
// systemctl status; MAINPID= is not relayed.
func TestNotifyRelay(t *testing.T) {
	e := setup(t, harness.Options{}, map[string]string{
		"note": `[exec]
` + python(`
import os, socket, sys, time
print("NOTIFY_SOCKET=" + os.environ.get("NOTIFY_SOCKET", ""))
time.sleep(2)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
s.sendto(b"STATUS=warming up", addr)
open("/data/sent-ready", "w").close()
s.sendto(b"READY=1\nSTATUS=serving 42 widgets\nMAINPID=1", addr)
# and a later update, as a daemon reports progress after it is up
time.sleep(0.5)
s.sendto(b"STATUS=serving 43 widgets", addr)
time.sleep(1000)
`, "e2e-note") + `
[[mount]]
type = "bind"
source = "/run/e2e-notify"
target = "/data"
[readiness]
notify = true
start_timeout = "30s"
[unit]
wanted_by = []
`}, "mkdir -p /run/e2e-notify")
	out, err := e.in.Exec("sh", "-c", "systemctl start note && test -e /run/e2e-notify/sent-ready && echo ready-was-sent")
	if err != nil || !strings.Contains(out, "ready-was-sent") {
		t.Fatalf("start returned before the workload sent READY=1 (or failed): %q, %v\n%s", out, err, e.journalText("note.service"))
	}
	p := e.waitFor("note.service", "the relayed STATUS=", func(p harness.Props) bool { return p["StatusText"] == "serving 43 widgets" }, shortWait)
	if comm := strings.TrimSpace(e.sh("cat /proc/" + p["MainPID"] + "/comm")); comm != "nucleus-exec" {
		t.Errorf("MainPID %s is %q after the workload sent MAINPID=1; want nucleus-exec", p["MainPID"], comm)
	}
	status, _ := e.systemctl("status", "--no-pager", "note")
	if !strings.Contains(status, "serving 43 widgets") {
		t.Errorf("systemctl status does not show the status:\n%s", status)
	}
	e.waitJournal("note.service", "NOTIFY_SOCKET=/run/nucleus/notify")
}

// 8. systemctl stop: the workload gets stop_signal and exits, the unit is
// inactive and no process is left; one that ignores SIGTERM is killed after
// stop_timeout.
func TestStop(t *testing.T) {
	e := setup(t, harness.Options{}, map[string]string{
		"polite": `[exec]
` + python(`
import signal, sys, time
def bye(sig, frame):
    print("got signal %d, exiting" % sig)
    sys.exit(0)
signal.signal(signal.SIGINT, bye)
print("waiting for a signal")
while True:
    time.sleep(1)
`, "e2e-polite") + `
stop_signal = "SIGINT"
[unit]
wanted_by = []
`,
		"stubborn": `[exec]
` + python(`
import signal, time
def ignore(sig, frame):
    print("got SIGTERM, ignoring it")
signal.signal(signal.SIGTERM, ignore)
print("waiting for a signal")
while True:
    time.sleep(1)
`, "e2e-stubborn") + `
stop_timeout = "2s"
[restart]
policy = "no"
[unit]
wanted_by = []
`,
	})
	t.Run("stop_signal", func(t *testing.T) {
		e := e.with(t)
		if _, err := e.systemctl("start", "polite"); err != nil {
			t.Fatal(err)
		}
		e.waitJournal("polite.service", "waiting for a signal")
		e.waitProcesses("e2e-polite")
		if _, err := e.systemctl("stop", "polite"); err != nil {
			t.Fatal(err)
		}
		p := e.show("polite.service")
		if p["ActiveState"] != "inactive" || p["Result"] != "success" {
			t.Errorf("after stop: %s; want inactive, Result=success", p)
		}
		e.waitJournal("polite.service", "got signal 2, exiting")
		e.waitNoProcesses("e2e-polite")
		e.waitUnitEmpty("polite.service")
	})
	t.Run("stop_timeout", func(t *testing.T) {
		e := e.with(t)
		if _, err := e.systemctl("start", "stubborn"); err != nil {
			t.Fatal(err)
		}
		e.waitJournal("stubborn.service", "waiting for a signal")
		if _, err := e.systemctl("stop", "stubborn"); err != nil {
			t.Fatal(err)
		}
		p := e.show("stubborn.service")
		t.Logf("stubborn after stop: %s", p)
		if p["ActiveState"] != "inactive" && p["ActiveState"] != "failed" {
			t.Errorf("after stop: %s", p)
		}
		e.waitJournal("stubborn.service", "got SIGTERM, ignoring it")
		// Killed: by nucleus-exec after stop_timeout (exit 128+SIGKILL), or
		// by systemd's TimeoutStopSec= (Result=timeout).
		if p.Int("ExecMainStatus") != 137 && p["Result"] != "timeout" {
			t.Errorf("a workload ignoring SIGTERM was not killed: %s", p)
		}
		e.waitNoProcesses("e2e-stubborn")
		e.waitUnitEmpty("stubborn.service")
	})
}

// 9. Resources (hybrid cgroups, where systemd enforces them here):
// MemoryMax OOM-kills a workload allocating past it, TasksMax makes fork
// fail.
func TestResources(t *testing.T) {
	e := setup(t, harness.Options{Cgroup: harness.Hybrid}, map[string]string{
		"hog": `[exec]
` + python(`
chunks = []
for i in range(64):
    chunks.append(b"\x01" * (8 << 20))  # written, so really resident
    print("allocated %d MiB" % ((i + 1) * 8))
print("allocated all of it")
`, "e2e-hog") + `
[resources]
memory = "32M"
[restart]
policy = "no"
[unit]
wanted_by = []
`,
		"forker": `[exec]
` + python(`
import os, time
n = 0
try:
    for n in range(200):
        if os.fork() == 0:
            time.sleep(1000)
            os._exit(0)
    print("forked all 200")
except OSError as e:
    print("fork failed after %d children: %s" % (n, e))
time.sleep(1000)
`, "e2e-forker") + `
[resources]
pids = 32
[restart]
policy = "no"
[unit]
wanted_by = []
`,
	})
	t.Run("memory", func(t *testing.T) {
		e := e.with(t)
		if p := e.show("hog.service", "MemoryMax"); p["MemoryMax"] != strconv.Itoa(32<<20) {
			t.Errorf("MemoryMax = %q", p["MemoryMax"])
		}
		if _, err := e.systemctl("start", "--no-block", "hog"); err != nil {
			t.Fatal(err)
		}
		p := e.waitFor("hog.service", "failed", func(p harness.Props) bool { return p["ActiveState"] == "failed" }, longWait)
		t.Logf("hog: %s", p)
		out := e.workloadOutput("hog.service")
		if contains(out, "allocated all of it") {
			t.Errorf("the workload allocated past MemoryMax: %q", out)
		}
		if p.Int("ExecMainStatus") != 137 && p["Result"] != "oom-kill" {
			t.Errorf("hog: %s; want killed by the OOM killer (exit 137 or Result=oom-kill)", p)
		}
		e.waitNoProcesses("e2e-hog")
	})
	t.Run("tasks", func(t *testing.T) {
		e := e.with(t)
		if p := e.show("forker.service", "TasksMax"); p["TasksMax"] != "32" {
			t.Errorf("TasksMax = %q", p["TasksMax"])
		}
		if _, err := e.systemctl("start", "forker"); err != nil {
			t.Fatal(err)
		}
		ent := e.waitJournal("forker.service", "fork failed after")
		t.Logf("forker: %s", ent.Message)
		var n int
		if _, err := fmt.Sscanf(ent.Message, "fork failed after %d", &n); err != nil || n >= 32 {
			t.Errorf("%q: want fork to fail before 32 tasks", ent.Message)
		}
		if out := e.workloadOutput("forker.service"); contains(out, "forked all 200") {
			t.Errorf("TasksMax not enforced: %q", out)
		}
		pids := strings.TrimSpace(e.sh("cat /sys/fs/cgroup/pids/nucleus.slice/forker.service/pids.max"))
		if pids != "32" {
			t.Errorf("pids.max = %q", pids)
		}
	})
}

// 10. A spec edited after daemon-reload: the next start is refused with a
// message saying to run daemon-reload; after the reload it starts.
func TestSpecDriftRefused(t *testing.T) {
	spec := func(desc string) string {
		return fmt.Sprintf(`description = %q
[exec]
command = ["/bin/busybox", "sh", "-c", "echo drift-runs; exec sleep 1000"]
[restart]
policy = "no"
[unit]
wanted_by = []
`, desc)
	}
	e := setup(t, harness.Options{}, map[string]string{"drift": spec("before")})
	must(t, e.in.WriteSpec("drift", spec("after the edit")))

	if _, err := e.systemctl("start", "drift"); err == nil {
		t.Fatalf("start after an edit without daemon-reload succeeded: %s", e.show("drift.service"))
	}
	p := e.waitFor("drift.service", "failed", func(p harness.Props) bool { return p["ActiveState"] == "failed" }, shortWait)
	if p.Int("ExecMainStatus") != 125 {
		t.Errorf("drift: %s; want ExecMainStatus=125", p)
	}
	out := e.workloadOutput("drift.service")
	if !contains(out, "daemon-reload") {
		t.Errorf("nucleus-exec did not tell the user to run daemon-reload; its output: %q", out)
	}
	if contains(out, "drift-runs") {
		t.Errorf("the workload ran from a drifted spec")
	}

	must(t, e.in.DaemonReload())
	if _, err := e.systemctl("reset-failed", "drift"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.systemctl("start", "drift"); err != nil {
		t.Fatalf("start after daemon-reload: %v\n%s", err, e.journalText("drift.service"))
	}
	e.waitJournal("drift.service", "drift-runs")
}

// 11. SIGKILL of nucleus-exec leaves no workload process: under its unit,
// and run by hand in a unit whose KillMode=process means systemd will not
// clean up after it (nucleus must).
func TestKillExecLeavesNothing(t *testing.T) {
	workload := func(marker string) string {
		return `[exec]
` + python(`
import time
print("running")
time.sleep(1000)
`, marker) + `
[restart]
policy = "no"
[unit]
wanted_by = []
`
	}
	e := setup(t, harness.Options{}, map[string]string{"victim": workload("e2e-victim")})
	must(t, e.in.WriteFile("/root/byhand.toml", []byte(workload("e2e-byhand")), 0o644))

	t.Run("unit", func(t *testing.T) {
		e := e.with(t)
		if _, err := e.systemctl("start", "victim"); err != nil {
			t.Fatal(err)
		}
		e.waitProcesses("e2e-victim")
		pid := e.show("victim.service")["MainPID"]
		e.sh("kill -KILL " + pid)
		e.waitFor("victim.service", "not active", func(p harness.Props) bool { return !active(p) && p["ActiveState"] != "deactivating" }, shortWait)
		e.waitNoProcesses("e2e-victim")
	})
	t.Run("by hand, KillMode=process", func(t *testing.T) {
		e := e.with(t)
		if _, err := e.systemctl("is-active", "byhand"); err == nil {
			t.Fatal("byhand already active")
		}
		e.sh("systemd-run --unit=byhand -p KillMode=process " + harness.ExecPath + " run /root/byhand.toml")
		procs := e.waitProcesses("e2e-byhand")
		pid := e.waitFor("byhand.service", "a main PID", func(p harness.Props) bool { return p.Int("MainPID") > 0 }, shortWait)["MainPID"]
		if comm := strings.TrimSpace(e.sh("cat /proc/" + pid + "/comm")); comm != "nucleus-exec" {
			t.Fatalf("byhand's main process is %q", comm)
		}
		e.sh("kill -KILL " + pid)
		e.waitNoProcesses("e2e-byhand")
		t.Logf("gone: %d processes of the workload", len(procs))
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
