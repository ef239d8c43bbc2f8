// Command systemd-bench measures nucleus under a real systemd (the e2e
// harness's throw-away instance): time to ready of `systemctl start` for a
// spec with a TCP readiness probe against the same workload as a podman
// unit (`podman run --rootfs … --sdnotify=conmon`), and the cost of running
// many healthy containers at once (all active, supervision CPU over a window,
// memory). It writes JSON results into -out for bench/report.
//
// It owns only the measurement; booting systemd is internal/e2e/harness,
// building nucleus is harness.BuildNucleus. Run as root from the repository:
//
//	go run ./bench/systemd -out bench/out/systemd [-runs 20] [-scale 100] [-window 60s]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nucleus-containers/nucleus/internal/e2e/harness"
)

func main() {
	out := flag.String("out", "bench/out/systemd", "directory for the JSON results")
	repo := flag.String("repo", ".", "the nucleus repository to build")
	runs := flag.Int("runs", 20, "hyperfine runs per time-to-ready command")
	scale := flag.Int("scale", 100, "containers in the scale run (0 skips it)")
	window := flag.Duration("window", 60*time.Second, "how long the scale run measures supervision CPU")
	skipReady := flag.Bool("skip-ready", false, "skip the time-to-ready comparison")
	flag.Parse()
	if err := run(*out, *repo, *runs, *scale, *window, *skipReady); err != nil {
		fmt.Fprintln(os.Stderr, "systemd-bench:", err)
		os.Exit(1)
	}
}

// busyboxRootfs is the podman container's root: busybox-static alone (the
// nucleus spec runs the same binary from the host's read-only view).
const busyboxRootfs = "/srv/bench-rootfs"

// readySpecs are the nucleus variants of the time-to-ready workload:
// busybox httpd, listening as soon as it runs.
var readySpecs = []struct{ name, label, toml string }{
	{"readytcp", "nucleus, tcp readiness (default 100ms interval)", `[exec]
command = ["/bin/busybox", "httpd", "-f", "-p", "8080"]

[readiness]
tcp = 8080
`},
	{"readytcp10", "nucleus, tcp readiness, interval 10ms", `[exec]
command = ["/bin/busybox", "httpd", "-f", "-p", "8080"]

[readiness]
tcp = 8080
interval = "10ms"
`},
	{"readynone", "nucleus, no readiness probe (READY=1 once running)", `[exec]
command = ["/bin/busybox", "httpd", "-f", "-p", "8080"]
`},
}

// podmanUnit is what Quadlet writes for a .container file (podman's own
// ExecStart/ExecStop lines), with two changes this machine needs:
// --cgroups=disabled, because crun attaches an eBPF device filter to a
// cgroup2 group and first raises RLIMIT_MEMLOCK, which root here may not do
// (no CAP_SYS_RESOURCE: "setrlimit (RLIM_MEMLOCK): Operation not
// permitted"), and `rm -t 0`, because busybox httpd as the container's PID 1
// ignores SIGTERM (podman would wait 10 s; stop time is not measured).
// --network=none matches nucleus's default network (loopback only).
const podmanUnit = `[Unit]
Description=podman container podready (as Quadlet writes it, --cgroups=disabled)

[Service]
Environment=PODMAN_SYSTEMD_UNIT=%n
KillMode=mixed
Type=notify
NotifyAccess=all
SyslogIdentifier=%N
ExecStartPre=-/bin/rm -f %t/%N.cid
ExecStart=/usr/bin/podman run --name=systemd-%N --cidfile=%t/%N.cid --replace --rm --cgroups=disabled --sdnotify=conmon -d --network=none --rootfs ` + busyboxRootfs + ` /bin/busybox httpd -f -p 8080
ExecStop=/usr/bin/podman rm -v -f -i -t 0 --cidfile=%t/%N.cid
ExecStopPost=-/usr/bin/podman rm -v -f -i -t 0 --cidfile=%t/%N.cid
ExecStopPost=-/bin/rm -f %t/%N.cid
`

// floorUnit is the reference floor of `systemctl start` on this machine:
// the same busybox httpd on the harness's host side, Type=exec, no
// container and no nucleus. systemctl start returns once systemd forked and
// the execve succeeded, so no supervised start can return sooner.
const floorUnit = `[Unit]
Description=floor: busybox httpd, no container, Type=exec

[Service]
Type=exec
ExecStart=/bin/busybox httpd -f -p 18080
`

// Labels of the neighbour units in ready.json (bench/report reads them).
const (
	podmanLabel = "podman 4.3.1, --sdnotify=conmon"
	floorLabel  = "floor: systemctl start of a Type=exec unit (busybox httpd, no container)"
)

// scaleSpec is one of the scale run's containers: ready and healthy over TCP
// every second.
const scaleSpec = `[exec]
command = ["/bin/busybox", "httpd", "-f", "-p", "8080"]

[readiness]
tcp = 8080
interval = "10ms"

[health]
tcp = 8080
interval = "1s"
`

func run(out, repo string, runs, scale int, window time.Duration, skipReady bool) error {
	if os.Geteuid() != 0 {
		return errors.New("run as root: it boots systemd in namespaces")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nucleus-sdbench.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Println("== building nucleus for the harness")
	bins, err := harness.BuildNucleus(repo, tmp)
	if err != nil {
		return err
	}
	fmt.Println("== booting systemd (harness, unified cgroup mode)")
	in, err := harness.Start(harness.Options{StopTimeout: 60 * time.Second})
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	defer func() {
		if err := in.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "systemd-bench: stopping the instance:", err)
		}
	}()
	if !skipReady {
		if err := timeToReady(in, bins, out, runs); err != nil {
			return fmt.Errorf("time to ready: %w", err)
		}
	}
	if scale > 0 {
		if err := scaleRun(in, bins, out, scale, window); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	return nil
}

// sh runs a shell script inside the instance.
func sh(in *harness.Instance, script string) (string, error) {
	o, err := in.Exec("sh", "-c", script)
	if err != nil {
		return o, fmt.Errorf("%s: %w\n%s", script, err, o)
	}
	return o, nil
}

func timeToReady(in *harness.Instance, bins harness.Binaries, out string, runs int) error {
	for _, s := range readySpecs {
		if err := in.WriteSpec(s.name, s.toml); err != nil {
			return err
		}
	}
	if err := in.WriteFile("/etc/systemd/system/podready.service", []byte(podmanUnit), 0o644); err != nil {
		return err
	}
	if err := in.WriteFile("/etc/systemd/system/floorexec.service", []byte(floorUnit), 0o644); err != nil {
		return err
	}
	if _, err := sh(in, "mkdir -p "+busyboxRootfs+"/bin && cp /bin/busybox "+busyboxRootfs+"/bin/busybox"); err != nil {
		return err
	}
	if err := in.InstallNucleus(bins); err != nil {
		return err
	}
	units := []string{}
	for _, s := range readySpecs {
		units = append(units, s.name)
	}
	units = append(units, "podready", "floorexec")
	labels := map[string]string{"podready": podmanLabel, "floorexec": floorLabel}
	for _, s := range readySpecs {
		labels[s.name] = s.label
	}
	// Sanity: each unit starts, reaches active (running) and stops again;
	// nucleus's readiness probe really reached the server (STATUS=ready).
	for _, u := range units {
		if _, err := in.Exec("systemctl", "start", u); err != nil {
			j, _ := in.Exec("journalctl", "--no-pager", "-n", "30", "-u", u)
			return fmt.Errorf("systemctl start %s: %w\n%s", u, err, j)
		}
		p, err := in.Show(u+".service", "ActiveState", "SubState", "StatusText")
		if err != nil {
			return err
		}
		if p["ActiveState"] != "active" || p["SubState"] != "running" {
			return fmt.Errorf("%s after start: %s", u, p)
		}
		if neighbour := u == "podready" || u == "floorexec"; !neighbour && p["StatusText"] != "ready" {
			return fmt.Errorf("%s after start: status %q, want \"ready\"", u, p["StatusText"])
		}
		if _, err := sh(in, "systemctl stop "+u+" && { systemctl reset-failed "+u+" 2>/dev/null || true; }"); err != nil {
			return err
		}
	}
	args := []string{"hyperfine", "-N", "--warmup", "3", "--runs", strconv.Itoa(runs),
		"--export-json", "/tmp/ready.json", "--style", "basic"}
	// reset-failed: nucleus-exec exits 143 on systemd's SIGTERM, which leaves
	// the unit failed, and systemd's start rate limit (5 starts in 10 s)
	// would refuse the next start. reset-failed itself fails for a unit that
	// systemd already unloaded (inactive, not failed): that is fine.
	for _, u := range units {
		args = append(args, "--prepare", fmt.Sprintf(`sh -c "systemctl stop %[1]s && { systemctl reset-failed %[1]s 2>/dev/null || true; }"`, u))
	}
	for _, u := range units {
		args = append(args, "-n", labels[u], "systemctl start "+u)
	}
	fmt.Println("== time to ready:", strings.Join(args, " "))
	o, err := in.Exec(args...)
	fmt.Println(o)
	if err != nil {
		return err
	}
	j, err := in.Exec("cat", "/tmp/ready.json")
	if err != nil {
		return err
	}
	for _, u := range units {
		if _, err := in.Exec("systemctl", "stop", u); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(out, "ready.json"), []byte(j), 0o644); err != nil {
		return err
	}
	// Where the readiness time goes: how many starts found the server not
	// yet listening at the first probe attempt (and so waited one interval).
	diag := map[string]ProbeDiag{}
	for _, s := range readySpecs {
		msgs, err := in.Exec("journalctl", "--no-pager", "-o", "cat", "-u", s.name+".service")
		if err != nil {
			return err
		}
		var d ProbeDiag
		for _, m := range strings.Split(msgs, "\n") {
			switch {
			case strings.HasSuffix(m, ": ready"):
				d.Starts++
			case strings.Contains(m, "attempt 1:") && strings.Contains(m, "refused"):
				d.FirstAttemptRefused++
			}
		}
		diag[s.label] = d
	}
	b, err := json.MarshalIndent(diag, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "ready-probe.json"), append(b, '\n'), 0o644)
}

// ProbeDiag counts, from a unit's journal, the starts that reached READY=1
// and those whose first readiness attempt was refused.
type ProbeDiag struct {
	Starts              int `json:"starts"`
	FirstAttemptRefused int `json:"first_attempt_refused"`
}

// ScaleResult is what the scale run writes to scale.json.
type ScaleResult struct {
	Containers      int     `json:"containers"`
	StartSeconds    float64 `json:"start_seconds"`     // one `systemctl start` of all of them
	ActiveAfter     int     `json:"active_after"`      // active (running) with STATUS=healthy/ready at the end
	Restarts        int     `json:"restarts"`          // sum of NRestarts over the window
	WindowSeconds   float64 `json:"window_seconds"`    // measured wall time of the CPU window
	HealthInterval  float64 `json:"health_interval_s"` // seconds
	SupervisorCPU   float64 `json:"supervisor_cpu_s"`  // nucleus-exec supervisors + inits (+ reaped probe children), over the window
	WorkloadCPU     float64 `json:"workload_cpu_s"`    // the busybox httpd workloads
	SliceCPU        float64 `json:"slice_cpu_s"`       // nucleus.slice cpu.stat usage_usec delta (everything above)
	SystemdCPU      float64 `json:"systemd_cpu_s"`     // the instance's PID 1 (watchdog and notify handling)
	JournaldCPU     float64 `json:"journald_cpu_s"`    // systemd-journald
	SupervisorPSSkB int     `json:"supervisor_pss_kb"` // summed Pss of supervisors + inits
	SupervisorRSSkB int     `json:"supervisor_rss_kb"` // summed Rss of supervisors + inits (shared pages counted each time)
	WorkloadPSSkB   int     `json:"workload_pss_kb"`
	SystemdPSSkB    int     `json:"systemd_pss_kb"`
	Processes       int     `json:"supervisor_processes"`
}

func scaleRun(in *harness.Instance, bins harness.Binaries, out string, n int, window time.Duration) error {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("scale%03d", i)
		if err := in.WriteSpec(names[i], scaleSpec); err != nil {
			return err
		}
	}
	if err := in.InstallNucleus(bins); err != nil { // daemon-reload: runs the generator
		return err
	}
	fmt.Printf("== scale: starting %d containers with a 1s TCP health check\n", n)
	t0 := time.Now()
	if o, err := in.Exec(append([]string{"systemctl", "start"}, names...)...); err != nil {
		return fmt.Errorf("systemctl start: %w\n%s", err, o)
	}
	res := ScaleResult{Containers: n, StartSeconds: time.Since(t0).Seconds(), HealthInterval: 1}
	fmt.Printf("   all %d started in %.2fs\n", n, res.StartSeconds)
	// Settle: the first health checks run, the page cache is warm.
	time.Sleep(5 * time.Second)

	before, err := snapshot(in)
	if err != nil {
		return err
	}
	t1 := time.Now()
	time.Sleep(window)
	after, err := snapshot(in)
	if err != nil {
		return err
	}
	res.WindowSeconds = time.Since(t1).Seconds()
	res.SupervisorCPU = after.supervisor - before.supervisor
	res.WorkloadCPU = after.workload - before.workload
	res.SliceCPU = after.slice - before.slice
	res.SystemdCPU = after.systemd - before.systemd
	res.JournaldCPU = after.journald - before.journald
	if before.supervisorPIDs != after.supervisorPIDs {
		return fmt.Errorf("supervisor processes changed during the window (%d → %d): a container restarted", before.supervisorPIDs, after.supervisorPIDs)
	}
	res.Processes = after.supervisorPIDs
	res.SupervisorPSSkB, res.SupervisorRSSkB, res.WorkloadPSSkB, res.SystemdPSSkB =
		after.supPSS, after.supRSS, after.workPSS, after.systemdPSS

	for _, u := range names {
		p, err := in.Show(u+".service", "ActiveState", "SubState", "NRestarts", "StatusText")
		if err != nil {
			return err
		}
		if p["ActiveState"] == "active" && p["SubState"] == "running" {
			res.ActiveAfter++
		} else {
			fmt.Printf("   %s: %s\n", u, p)
		}
		res.Restarts += p.Int("NRestarts")
	}
	fmt.Printf("   %d/%d active after %.0fs; supervision CPU %.3fs, workloads %.3fs, systemd %.3fs\n",
		res.ActiveAfter, n, res.WindowSeconds, res.SupervisorCPU, res.WorkloadCPU, res.SystemdCPU)
	if o, err := in.Exec(append([]string{"systemctl", "stop"}, names...)...); err != nil {
		return fmt.Errorf("systemctl stop: %w\n%s", err, o)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "scale.json"), append(b, '\n'), 0o644)
}

// usage is one reading of CPU seconds and memory of the instance's
// processes, taken from the host's /proc.
type usage struct {
	supervisor, workload, slice, systemd, journald float64
	supPSS, supRSS, workPSS, systemdPSS            int
	supervisorPIDs                                 int
}

var clkTck = 100.0 // USER_HZ; 100 on every Linux architecture Go supports here

func snapshot(in *harness.Instance) (usage, error) {
	var u usage
	ps, err := in.Processes()
	if err != nil {
		return u, err
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].PID < ps[j].PID })
	for _, p := range ps {
		cpu, err := cpuSeconds(p.PID)
		if err != nil {
			continue // exited meanwhile (a probe process)
		}
		pss, rss := memKB(p.PID)
		switch {
		case p.PID == in.PID():
			u.systemd += cpu
			u.systemdPSS += pss
		case strings.HasSuffix(p.Cgroup, "systemd-journald.service"):
			u.journald += cpu
		case !strings.HasPrefix(p.Cgroup, "/nucleus.slice/"):
		case strings.Contains(p.Cmdline, "nucleus-exec") || strings.HasPrefix(p.Cmdline, "nucleus:init"):
			u.supervisor += cpu
			u.supPSS += pss
			u.supRSS += rss
			u.supervisorPIDs++
		default:
			u.workload += cpu
			u.workPSS += pss
		}
	}
	st, err := in.Exec("cat", "/sys/fs/cgroup/nucleus.slice/cpu.stat")
	if err != nil {
		return u, err
	}
	for _, line := range strings.Split(st, "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return u, fmt.Errorf("cpu.stat: %w", err)
			}
			u.slice = us / 1e6
		}
	}
	return u, nil
}

// cpuSeconds is utime+stime+cutime+cstime of pid: its own CPU and that of
// the children it reaped (an init's exec probes, if any).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	var ticks float64
	for _, x := range f[11:15] {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return ticks / clkTck, nil
}

// memKB returns Pss and Rss of pid from smaps_rollup (0, 0 when it exited).
func memKB(pid int) (pss, rss int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Pss:":
			pss = v
		case "Rss:":
			rss = v
		}
	}
	return pss, rss
}
