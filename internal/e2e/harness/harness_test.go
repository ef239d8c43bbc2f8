package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests boot real systemd instances: they need root and systemd 252
// installed, like the e2e suite. Each finishes in a few seconds.

func TestBootExecStop(t *testing.T) {
	for _, mode := range []CgroupMode{Unified, Hybrid} {
		t.Run(string(mode), func(t *testing.T) {
			start := time.Now()
			in, err := Start(Options{Cgroup: mode, StateDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("booted in %s (PID %d)", time.Since(start).Round(time.Millisecond), in.PID())
			defer in.Stop()

			out, err := in.Exec("systemctl", "is-system-running")
			if s := strings.TrimSpace(out); s != "running" && s != "degraded" {
				t.Fatalf("is-system-running = %q, %v", s, err)
			}
			// PID 1 inside is systemd, and the instance has its own hostname
			// namespace and file system.
			if out, err := in.Exec("cat", "/proc/1/comm"); err != nil || strings.TrimSpace(out) != "systemd" {
				t.Fatalf("PID 1 inside = %q, %v", out, err)
			}
			// Writes anywhere inside stay inside.
			for _, dir := range []string{"/etc", "/usr/libexec", "/var/lib", "/run", "/tmp"} {
				marker := dir + "/nucleus-e2e-selftest-" + strconv.Itoa(in.PID())
				if err := in.WriteFile(marker, []byte("hello\n"), 0o640); err != nil {
					t.Fatal(err)
				}
				if out, err := in.Exec("stat", "-c", "%a %U %s", marker); err != nil || strings.TrimSpace(out) != "640 root 6" {
					t.Fatalf("written file: %q, %v", out, err)
				}
				if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a write inside the instance reached the host's %s (%v)", marker, err)
				}
			}
			// Service features that need a shared root mount work, e.g.
			// LoadCredential= (mounted in a helper's namespace).
			must(t, in.WriteFile("/root/cred", []byte("c-r-e-d"), 0o600))
			out, err = in.Exec("systemd-run", "--wait", "--pipe", "--quiet", "-p", "LoadCredential=pw:/root/cred",
				"sh", "-c", `cat "$CREDENTIALS_DIRECTORY/pw"`)
			if err != nil || out != "c-r-e-d" {
				t.Fatalf("LoadCredential= in the instance: %q, %v", out, err)
			}
			// A failing command reports its exit status and stderr.
			_, err = in.Exec("sh", "-c", "echo oops >&2; exit 3")
			if ExitCode(err) != 3 || !strings.Contains(err.Error(), "oops") {
				t.Fatalf("failing command: %v", err)
			}
			if mode == Hybrid {
				// The v1 memory and pids hierarchies are systemd's: limits land there.
				if _, err := in.Exec("systemd-run", "--unit=limited", "-p", "MemoryMax=20M", "-p", "TasksMax=7", "sleep", "infinity"); err != nil {
					t.Fatal(err)
				}
				for file, want := range map[string]string{
					"/sys/fs/cgroup/memory/system.slice/limited.service/memory.limit_in_bytes": "20971520",
					"/sys/fs/cgroup/pids/system.slice/limited.service/pids.max":                "7",
				} {
					if out, err := in.Exec("cat", file); err != nil || strings.TrimSpace(out) != want {
						t.Errorf("%s = %q, %v; want %s", file, out, err, want)
					}
				}
			}

			pid, run, cgroups := in.PID(), in.RunDir, append([]string{}, in.st.Cgroups...)
			if err := in.Stop(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil && comm(pid) == "systemd" && ppid(pid) == in.st.UnsharePID {
				t.Errorf("systemd %d still runs after Stop", pid)
			}
			for _, p := range append(cgroups, run) {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left behind after Stop (%v)", p, err)
				}
			}
			if err := in.Stop(); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

// A plain Type=notify unit with a watchdog, and Restart=on-failure: the
// systemd behaviour nucleus relies on works in an instance.
func TestNotifyWatchdogRestart(t *testing.T) {
	in := Boot(t, Options{})
	unit := `[Service]
Type=notify
NotifyAccess=all
WatchdogSec=3
Restart=on-failure
RestartSec=100ms
ExecStart=/bin/sh -c 'echo started-$$; systemd-notify --ready; while [ -e /run/ping ]; do systemd-notify WATCHDOG=1; echo x >> /run/pings; sleep 0.2; done; echo stopped pinging; exec sleep infinity'
`
	failing := `[Unit]
StartLimitIntervalSec=0
[Service]
ExecStart=/bin/sh -c 'echo failing now; exit 3'
Restart=on-failure
RestartSec=100ms
`
	must(t, in.WriteFile("/etc/systemd/system/pinger.service", []byte(unit), 0o644))
	must(t, in.WriteFile("/etc/systemd/system/failing.service", []byte(failing), 0o644))
	must(t, in.WriteFile("/run/ping", nil, 0o644))
	must(t, in.DaemonReload())
	if _, err := in.Exec("systemctl", "start", "pinger.service"); err != nil {
		t.Fatal(err)
	}
	// Healthy: pinged for longer than WatchdogSec (20 pings, 0.2 s apart)
	// without a restart.
	waitFile(t, in, "/run/pings", 20)
	p, err := in.Show("pinger.service")
	must(t, err)
	if p["ActiveState"] != "active" || p.Int("NRestarts") != 0 {
		t.Fatalf("pinging service: %s", p)
	}
	if _, err := in.WaitJournal("started-", 10*time.Second, "-u", "pinger.service"); err != nil {
		t.Fatal(err)
	}
	// Stops pinging: the watchdog fires, systemd restarts it.
	if _, err := in.Exec("rm", "/run/ping"); err != nil {
		t.Fatal(err)
	}
	if p, err := in.WaitFor("pinger.service", func(p Props) bool { return p.Int("NRestarts") >= 1 }, 20*time.Second); err != nil {
		t.Fatal(err)
	} else if p["Result"] != "success" && p["Result"] != "watchdog" {
		t.Logf("after restart: %s", p)
	}
	if _, err := in.WaitJournal("Watchdog timeout", 10*time.Second, "-u", "pinger.service"); err != nil {
		t.Fatal(err)
	}

	if _, err := in.Exec("systemctl", "start", "failing.service"); err != nil {
		t.Logf("start failing.service: %v", err) // the start job itself may fail; restarts follow
	}
	if _, err := in.WaitFor("failing.service", func(p Props) bool { return p.Int("NRestarts") >= 3 }, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	es, err := in.Journal("failing.service")
	must(t, err)
	n := 0
	for _, e := range es {
		if e.Message == "failing now" {
			n++
		}
	}
	if n < 3 {
		t.Fatalf("journal has %d 'failing now' lines, want >= 3:\n%s", n, strings.Join(Messages(es), "\n"))
	}
	if _, err := in.Exec("systemctl", "stop", "failing.service"); err != nil {
		t.Fatal(err)
	}
}

func TestTwoAtOnce(t *testing.T) {
	var wg sync.WaitGroup
	ins := make([]*Instance, 2)
	errs := make([]error, 2)
	dir := t.TempDir()
	for i := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ins[i], errs[i] = Start(Options{Cgroup: []CgroupMode{Unified, Hybrid}[i], StateDir: dir})
		}()
	}
	wg.Wait()
	for i, in := range ins {
		if in != nil {
			t.Cleanup(func() { must(t, in.Stop()) })
		}
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
	}
	if pids, err := List(dir); err != nil || len(pids) != 2 {
		t.Fatalf("List = %v, %v", pids, err)
	}
	must(t, ins[0].WriteFile("/run/only-in-0", []byte("0"), 0o644))
	if _, err := ins[1].Exec("test", "-e", "/run/only-in-0"); ExitCode(err) != 1 {
		t.Fatalf("instance 1 sees instance 0's file (or test failed to run): %v", err)
	}
	for i, in := range ins {
		if _, err := in.Exec("systemd-run", "--wait", "--unit=hello", "true"); err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		ps, err := in.Processes()
		must(t, err)
		for _, p := range ps {
			for _, q := range must2(ins[1-i].Processes()) {
				if p.PID == q.PID {
					t.Fatalf("process %d in both instances", p.PID)
				}
			}
		}
	}
	// Attach (the CLI's way in) finds a running instance by PID.
	at, err := Attach(dir, ins[0].PID())
	must(t, err)
	if !at.Alive() {
		t.Fatal("attached instance not alive")
	}
	if out, err := at.Exec("cat", "/run/only-in-0"); err != nil || out != "0" {
		t.Fatalf("attached Exec: %q, %v", out, err)
	}
}

// Stop must never signal a process it cannot prove is its own: here the
// recorded PIDs belong to an unrelated process with another start time.
func TestStopSignalsOnlyItsOwn(t *testing.T) {
	sleeper := exec.Command("sleep", "300")
	must(t, sleeper.Start())
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	start, err := startTime(sleeper.Process.Pid)
	must(t, err)

	dir := t.TempDir()
	run := filepath.Join(dir, "run.forged")
	for _, st := range []state{
		// a PID whose start time differs from the one recorded
		{UnsharePID: os.Getpid(), UnshareStart: 1, PID: sleeper.Process.Pid, PIDStart: start + 1},
		// right start time, but not a child of the recorded unshare
		{UnsharePID: sleeper.Process.Pid, UnshareStart: start, PID: sleeper.Process.Pid, PIDStart: start},
	} {
		st.StopTimeout = "100ms"
		must(t, os.MkdirAll(run, 0o700)) // a Stop that found nothing to do removes it
		b, _ := json.Marshal(st)
		must(t, os.WriteFile(filepath.Join(run, "state.json"), b, 0o600))
		_ = os.Remove(filepath.Join(dir, "run-"+strconv.Itoa(st.PID)))
		must(t, os.Symlink(run, filepath.Join(dir, "run-"+strconv.Itoa(st.PID))))
		in, err := Attach(dir, st.PID)
		must(t, err)
		if in.Alive() {
			t.Fatalf("forged state %+v reported alive", st)
		}
		if _, err := in.Exec("true"); err == nil {
			t.Fatalf("Exec ran in a forged instance %+v", st)
		}
		_ = in.Stop()
		if err := syscall.Kill(sleeper.Process.Pid, 0); err != nil {
			t.Fatalf("Stop signalled a foreign process: %v", err)
		}
		if st, err := startTime(sleeper.Process.Pid); err != nil || st != start {
			t.Fatalf("foreign process gone or changed: %v", err)
		}
	}
}

func TestBootFailureIsExplained(t *testing.T) {
	// A hierarchy that cannot be mounted makes inside.sh fail before systemd
	// runs; Start must say so, with the setup log, and leave nothing behind.
	dir := t.TempDir()
	saved := insideScript
	insideScript = []byte("#!/bin/bash\necho deliberately broken setup >&2\nexit 7\n")
	defer func() { insideScript = saved }()
	_, err := Start(Options{StateDir: dir, BootTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "deliberately broken setup") {
		t.Fatalf("Start error = %v, want the setup log in it", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "run*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

func TestFindCgroupMount(t *testing.T) {
	const mi = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 /sub /sys/fs/cgroup/uni\040fied rw,relatime - cgroup2 cgroup2 rw
`
	for _, tc := range []struct{ ctl, mount, root string }{
		{"", "/sys/fs/cgroup/uni fied", "/sub"},
		{"memory", "/sys/fs/cgroup/memory", "/"},
		{"cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct", "/"},
		{"name=systemd", "/sys/fs/cgroup/systemd", "/"},
		{"pids", "", ""},
	} {
		m, r, ok := findCgroupMount(mi, tc.ctl)
		if m != tc.mount || r != tc.root || ok != (tc.mount != "") {
			t.Errorf("findCgroupMount(%q) = %q, %q, %v; want %q, %q", tc.ctl, m, r, ok, tc.mount, tc.root)
		}
	}
}

func TestJournalValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`"plain"`, "plain"},
		{`[104,105,255]`, "hi\xff"},
		{`null`, ""},
		{`["first","second"]`, "first"},
	} {
		if got := journalValue(json.RawMessage(tc.in)); got != tc.want {
			t.Errorf("journalValue(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func waitFile(t *testing.T, in *Instance, path string, lines int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := in.Exec("cat", path)
		if n := strings.Count(out, "\n"); n >= lines {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has fewer than %d lines: %q", path, lines, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// An instance booted by a test dies with the test process, even when the
// process exits without running its cleanups (a crash, a test timeout).
func TestInstanceDiesWithTestProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBootAndExit$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NUCLEUS_E2E_HELPER_STATE="+dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var pid int
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "instance-pid="); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("helper printed no PID:\n%s", out)
	}
	in, err := Attach(dir, pid)
	must(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for in.unshareAlive() {
		if time.Now().After(deadline) {
			_ = in.Stop()
			t.Fatal("the instance outlived the process that booted it")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// What stays behind (empty cgroups, the run dir) is removed by a Stop.
	must(t, in.Stop())
	if _, err := os.Stat(in.RunDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("run dir left: %v", err)
	}
}

// TestHelperBootAndExit is the child of TestInstanceDiesWithTestProcess;
// it does nothing unless that test runs it.
func TestHelperBootAndExit(t *testing.T) {
	dir := os.Getenv("NUCLEUS_E2E_HELPER_STATE")
	if dir == "" {
		return
	}
	in := Boot(t, Options{StateDir: dir})
	fmt.Printf("instance-pid=%d\n", in.PID())
	os.Exit(0) // no cleanup: as if the process had crashed
}

// The instance's systemd answers on D-Bus (its private socket), and says
// the same as systemctl.
func TestBus(t *testing.T) {
	in := Boot(t, Options{})
	must(t, in.WriteFile("/etc/systemd/system/bus-ok.service", []byte("[Service]\nExecStart=/bin/sleep infinity\n"), 0o644))
	must(t, in.WriteFile("/etc/systemd/system/bus-bad.service", []byte("[Service]\nType=oneshot\nExecStart=/bin/false\n"), 0o644))
	must(t, in.DaemonReload())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for unit, want := range map[string]string{"bus-ok.service": "done", "bus-bad.service": "failed"} {
		res, err := in.StartUnit(ctx, unit)
		if err != nil || res != want {
			t.Errorf("StartUnit(%s) = %q, %v; want %q", unit, res, err, want)
		}
	}
	conn, err := in.Bus(ctx)
	must(t, err)
	defer conn.Close()
	prop, err := conn.GetUnitPropertyContext(ctx, "bus-ok.service", "ActiveState")
	must(t, err)
	p, err := in.Show("bus-ok.service")
	must(t, err)
	if got := strings.Trim(prop.Value.String(), `"`); got != "active" || p["ActiveState"] != got {
		t.Errorf("D-Bus ActiveState %s, systemctl %q", prop.Value, p["ActiveState"])
	}
}

// A command that hangs is killed, with everything nsenter started for it,
// when ExecTimeout runs out.
func TestExecTimeout(t *testing.T) {
	in := Boot(t, Options{ExecTimeout: 2 * time.Second})
	_, err := in.Exec("sleep", "4321")
	if err == nil || ExitCode(err) != -1 || !strings.Contains(err.Error(), "killed after") {
		t.Fatalf("hanging command: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := false
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			if cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && string(cmd) == "sleep\x004321\x00" {
				left = true
			}
		}
		if !left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timed-out command is still running")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := in.Exec("echo", "still usable"); err != nil || out != "still usable\n" {
		t.Fatalf("after a timeout: %q, %v", out, err)
	}
}
