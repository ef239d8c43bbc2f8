package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Target is a goal from issue 8, expressed on the ratio nucleus / neighbour.
type Target struct {
	Max  float64 // the ratio must be ≤ Max; 0 = no target
	Text string  // as the issue says it
}

// Row is one line of the headline table.
type Row struct {
	Section    string
	What       string
	Nucleus    string
	Neighbour  string
	Ratio      Ratio
	RatioText  string // overrides the formatted Ratio (e.g. "1/35")
	Target     Target
	Missing    string // why there is no figure
	Annotation string
	Pass       *bool // a pass/fail target that is not a ratio (scale: all active)
}

func (r Row) met() string {
	switch {
	case r.Missing != "":
		return "—"
	case r.Pass != nil && *r.Pass:
		return "**yes**"
	case r.Pass != nil:
		return "**no**"
	case r.Target.Max == 0:
		return "(no target)"
	case math.IsNaN(r.Ratio.Value):
		return "—"
	case r.Ratio.Value <= r.Target.Max:
		if r.Ratio.Value+r.Ratio.Sigma > r.Target.Max {
			return "**yes** (within σ)"
		}
		return "**yes**"
	default:
		if r.Ratio.Value-r.Ratio.Sigma <= r.Target.Max {
			return "**no** (within σ)"
		}
		return "**no**"
	}
}

func ms(s float64) string { return fmtMs(s * 1000) }

// meanSD formats a hyperfine timing as "mean ± σ".
func meanSD(t Timing) string { return fmt.Sprintf("%s ± %s", ms(t.Mean), ms(t.Stddev)) }

// relTo is t / ref for a table column, "1 (reference)" for ref itself
// (propagating ref's σ against itself would be meaningless).
func relTo(t, ref Timing) string {
	if t.Command == ref.Command {
		return "1 (reference)"
	}
	return fmtRatio(timingRatio(t, ref))
}

func fmtRatio(r Ratio) string {
	if math.IsNaN(r.Value) {
		return "—"
	}
	if r.Sigma == 0 {
		return fmt.Sprintf("%.2f×", r.Value)
	}
	return fmt.Sprintf("%.2f× ± %.2f", r.Value, r.Sigma)
}

// report holds everything render found in the results directory.
type report struct {
	out       string
	notesDir  string // hand-written analysis per section (NAME.md), may be absent
	machine   *Machine
	loadEnd   string
	generator []GeneratorPoint
	quadlet   string
	start     []Timing
	gvisor    []Timing
	sup       []SupervisionRow
	supOf8    float64 // per-container PSS with 8 running at once, kB
	ready     []Timing
	readyDiag map[string]ProbeDiag // by command label; nil when not recorded
	scale     *ScaleResult
	mounts    []CurvePoint
	landlock  []CurvePoint
	gobench   []GoBench
	gofail    []string
	problems  map[string]string // section → why it has no figures
}

// stepOf is the bench/run.sh step that produces a section's results.
var stepOf = map[string]string{"ready": "systemd", "scale": "systemd", "mounts": "curves", "landlock": "curves"}

func (r *report) note(section string, err error) {
	step := orDefault(stepOf[section], section)
	if tail := readTrim(filepath.Join(r.out, step+".failed")); tail != "" {
		r.problems[section] = "bench/run.sh step " + step + " failed: " + strings.Join(strings.Fields(tail), " ")
		return
	}
	if missing(err) {
		r.problems[section] = "not run (no results in " + r.out + ")"
	} else {
		r.problems[section] = err.Error()
	}
}

func load(out, notesDir string) *report {
	r := &report{out: out, notesDir: notesDir, problems: map[string]string{}}
	if b, err := os.ReadFile(filepath.Join(out, "machine.json")); err == nil {
		var m Machine
		if json.Unmarshal(b, &m) == nil {
			r.machine = &m
		}
	}
	r.loadEnd = readTrim(filepath.Join(out, "loadavg-end"))
	var err error
	if r.generator, err = readGenerator(filepath.Join(out, "generator")); err != nil {
		r.note("generator", err)
	}
	r.quadlet = readTrim(filepath.Join(out, "generator", "quadlet-version"))
	if r.start, err = readHyperfine(filepath.Join(out, "start", "result.json")); err != nil {
		r.note("start", err)
	}
	if r.gvisor, err = readHyperfine(filepath.Join(out, "gvisor", "result.json")); err != nil {
		r.note("gvisor", err)
	}
	if sv, err := readSupervision(filepath.Join(out, "supervision", "supervision.json")); err != nil {
		r.note("supervision", err)
	} else {
		r.sup, r.supOf8 = sv.Rows, sv.PSSOf8kB
	}
	if r.ready, err = readHyperfine(filepath.Join(out, "systemd", "ready.json")); err != nil {
		r.note("ready", err)
	}
	r.readyDiag, _ = readProbeDiag(filepath.Join(out, "systemd", "ready-probe.json")) // optional
	if r.scale, err = readScale(filepath.Join(out, "systemd", "scale.json")); err != nil {
		r.note("scale", err)
	}
	if r.mounts, err = readCurve(filepath.Join(out, "curves", "mounts.json")); err != nil {
		r.note("mounts", err)
	}
	if r.landlock, err = readCurve(filepath.Join(out, "curves", "landlock.json")); err != nil {
		r.note("landlock", err)
	}
	if r.gobench, r.gofail, err = parseGoBench(filepath.Join(out, "gobench.txt")); err != nil {
		r.note("gobench", err)
	}
	return r
}

// Command names the sub-benchmarks give their hyperfine results.
const (
	cmdNucleus    = "nucleus-exec run"
	cmdSandboxRun = "sandbox-run (internal/sandbox only)"
	cmdBwrap      = "bwrap"
	cmdCrun       = "crun run"
	cmdRunc       = "runc run"
	cmdGvNucleus  = "nucleus-exec run (gvisor)"
	cmdRunscDo    = "runsc do true"
	cmdRunscBare  = "runsc run (bare bundle)"
	readyDefault  = "nucleus, tcp readiness (default 100ms interval)"
	readyPodman   = "podman 4.3.1, --sdnotify=conmon"
)

func (r *report) rows() []Row {
	var rows []Row
	// 1. Generator at 500.
	gen := Row{Section: "1", What: "generator, 500 specs → units (wall)", Target: Target{0.5, "≤ 0.5× Quadlet"}}
	var p500 *GeneratorPoint
	for i := range r.generator {
		if r.generator[i].N == 500 {
			p500 = &r.generator[i]
		}
	}
	if p500 != nil {
		gen.Nucleus, gen.Neighbour = meanSD(p500.Nucleus), meanSD(p500.Quadlet)+" (Quadlet)"
		gen.Ratio = timingRatio(p500.Nucleus, p500.Quadlet)
	} else {
		gen.Missing = orDefault(r.problems["generator"], "no N=500 result")
	}
	rows = append(rows, gen)

	// 2. Start latency.
	for _, c := range []struct {
		other  string
		target Target
	}{
		{cmdBwrap, Target{1.2, "≤ 1.2× bwrap"}},
		{cmdCrun, Target{0.7, "≤ 0.7× crun"}},
		{cmdRunc, Target{}},
	} {
		row := Row{Section: "2", What: "start, fully isolated /bin/true vs " + c.other, Target: c.target}
		n, ok1 := byCommand(r.start, cmdNucleus)
		o, ok2 := byCommand(r.start, c.other)
		if ok1 && ok2 {
			row.Nucleus, row.Neighbour, row.Ratio = meanSD(n), meanSD(o), timingRatio(n, o)
		} else {
			row.Missing = orDefault(r.problems["start"], "no "+cmdNucleus+" / "+c.other+" result")
		}
		rows = append(rows, row)
	}
	gv := Row{Section: "2", What: "start under gVisor vs `runsc do true`", Target: Target{1.2, "≤ 1.2× (bench/gvisor)"}}
	if n, ok := byCommand(r.gvisor, cmdGvNucleus); ok {
		if o, ok := byCommand(r.gvisor, cmdRunscDo); ok {
			gv.Nucleus, gv.Neighbour, gv.Ratio = meanSD(n), meanSD(o), timingRatio(n, o)
		}
	}
	if gv.Nucleus == "" {
		gv.Missing = orDefault(r.problems["gvisor"], "no gvisor results")
	}
	rows = append(rows, gv)

	// 3. Time to ready.
	rd := Row{Section: "3", What: "time to ready, `systemctl start` (tcp readiness vs podman --sdnotify=conmon)", Target: Target{0.2, "≥ 5× faster (≤ 0.20×)"}}
	n, ok1 := byCommand(r.ready, readyDefault)
	o, ok2 := byCommand(r.ready, readyPodman)
	if ok1 && ok2 {
		rd.Nucleus, rd.Neighbour, rd.Ratio = meanSD(n), meanSD(o), timingRatio(n, o)
		rd.Annotation = fmt.Sprintf("%.1f× faster", o.Mean/n.Mean)
	} else {
		rd.Missing = orDefault(r.problems["ready"], "no time-to-ready results")
	}
	rows = append(rows, rd)

	// 4. Supervision.
	pss := Row{Section: "4", What: "supervision memory, summed PSS vs conmon", Target: Target{1.5, "≤ 1.5× conmon"}}
	cpu := Row{Section: "4", What: "CPU per health check vs `podman healthcheck run`", Target: Target{0.05, "≤ 1/20"}}
	if len(r.sup) >= 2 {
		pod := r.sup[len(r.sup)-1]
		// The headline uses the worst nucleus row (largest ratio).
		worstP, worstC := r.sup[0], r.sup[0]
		for _, s := range r.sup[:len(r.sup)-1] {
			if s.Reference {
				continue
			}
			if s.PSSkB > worstP.PSSkB {
				worstP = s
			}
			if s.CPUmsPerCheck > worstC.CPUmsPerCheck {
				worstC = s
			}
		}
		pss.Nucleus = fmt.Sprintf("%.0f kB (%s)", worstP.PSSkB, worstP.Name)
		pss.Neighbour = fmt.Sprintf("%.0f kB", pod.PSSkB)
		pss.Ratio = Ratio{Value: worstP.PSSkB / pod.PSSkB}
		if r.supOf8 > 0 {
			pss.Annotation = fmt.Sprintf("%.2f× with 8 running at once", r.supOf8/pod.PSSkB)
		}
		cpu.Nucleus = fmt.Sprintf("%.3f ms (%s)", worstC.CPUmsPerCheck, worstC.Name)
		cpu.Neighbour = fmt.Sprintf("%.1f ms", pod.CPUmsPerCheck)
		cpu.Ratio = Ratio{Value: worstC.CPUmsPerCheck / pod.CPUmsPerCheck}
		if cpu.Ratio.Value > 0 {
			cpu.RatioText = fmt.Sprintf("1/%.0f", 1/cpu.Ratio.Value)
		}
	} else {
		pss.Missing = orDefault(r.problems["supervision"], "no supervision results")
		cpu.Missing = pss.Missing
	}
	rows = append(rows, pss, cpu)

	// 5. Scale.
	sc := Row{Section: "5", What: "scale: healthy containers, 1 s TCP health checks, all active"}
	if s := r.scale; s != nil {
		sc.What = fmt.Sprintf("scale: %d containers, 1 s TCP health checks, all active", s.Containers)
		ok := s.ActiveAfter == s.Containers && s.Restarts == 0
		sc.Pass = &ok
		sc.Nucleus = fmt.Sprintf("%d/%d active, %d restarts", s.ActiveAfter, s.Containers, s.Restarts)
		sc.Neighbour = fmt.Sprintf("supervision %.1f%% of one CPU, %.0f kB PSS per container",
			100*s.SupervisorCPU/s.WindowSeconds, float64(s.SupervisorPSSkB)/float64(s.Containers))
		sc.RatioText = "—"
		sc.Target = Target{Text: "all active, no restarts"}
	} else {
		sc.Missing = orDefault(r.problems["scale"], "no scale results")
	}
	rows = append(rows, sc)
	return rows
}

func orDefault(s, d string) string {
	if s != "" {
		return s
	}
	return d
}

// notes appends the hand-written analysis for a section (notesDir/NAME.md:
// profiles, explanations — text that no result file holds), if any.
func (r *report) notes(w writer, name string) {
	if r.notesDir == "" {
		return
	}
	if t := readTrim(filepath.Join(r.notesDir, name+".md")); t != "" {
		w("%s\n\n", t)
	}
}

func render(out, dir, notesDir string) error {
	r := load(out, notesDir)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# Benchmarks\n\n")
	w("Generated by `make bench` (`bench/run.sh`, then `go run ./bench/report render`) from the results in\n")
	w("`bench/out/` of one run on one machine; do not edit by hand. **Ratios are the headline**: absolute\n")
	w("times depend on the machine (and on its load, noted below); ratios between tools measured in the\n")
	w("same run on the same machine carry over much better.\n\n")
	if m := r.machine; m != nil {
		w("Run: %s UTC, nucleus `%s`; load average (1/5/15 min) %s at the start", m.Date.Format("2006-01-02 15:04"), m.Commit, m.LoadStart)
		if r.loadEnd != "" {
			w(", %s at the end", r.loadEnd)
		}
		w(" on %d CPUs (during the run, the load is mostly the benchmarks' own: see the run log).\n\n", m.Cores)
	} else {
		w("Machine details missing (`report collect` did not run).\n\n")
	}

	w("## Headline\n\n")
	w("Ratio = nucleus / neighbour (below 1 is faster or smaller), mean ± σ of the ratio propagated from\n")
	w("both means' standard deviations. Targets are those of issue 8.\n\n")
	w("| # | measurement | nucleus | neighbour | ratio | target | met |\n")
	w("|---|---|---|---|---:|---|---|\n")
	for _, row := range r.rows() {
		if row.Missing != "" {
			w("| %s | %s | — | — | — | %s | not measured: %s |\n", row.Section, row.What, orDefault(row.Target.Text, "—"), mdEsc(row.Missing))
			continue
		}
		rt := row.RatioText
		if rt == "" {
			rt = fmtRatio(row.Ratio)
		}
		if row.Annotation != "" {
			rt += " (" + row.Annotation + ")"
		}
		tt := row.Target.Text
		if tt == "" {
			tt = "—"
		}
		w("| %s | %s | %s | %s | %s | %s | %s |\n", row.Section, row.What, mdEsc(row.Nucleus), mdEsc(row.Neighbour), rt, tt, row.met())
	}
	w("\n")

	if bars := r.startBars(); len(bars) > 0 {
		svg := barChartSVG("Start latency of /bin/true (hyperfine, mean ± σ)",
			r.chartSubtitle(), bars)
		if err := os.WriteFile(filepath.Join(dir, "start-latency.svg"), []byte(svg), 0o644); err != nil {
			return err
		}
		w("![Start latency of a fully isolated /bin/true: nucleus-exec vs bwrap, crun, runc and gVisor](start-latency.svg)\n\n")
	}

	r.runLog(w)
	r.machineSection(w)
	r.generatorSection(w)
	r.startSection(w)
	r.readySection(w)
	r.supervisionSection(w)
	r.scaleSection(w)
	if err := r.curvesSection(w, dir); err != nil {
		return err
	}
	r.goBenchSection(w)
	reproduceSection(w)
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644)
}

func mdEsc(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func (r *report) chartSubtitle() string {
	if m := r.machine; m != nil {
		return fmt.Sprintf("%s, %d CPUs, kernel %s, %s UTC — absolute times are machine-dependent",
			m.CPUModel, m.Cores, m.Kernel, m.Date.Format("2006-01-02"))
	}
	return "absolute times are machine-dependent"
}

func (r *report) startBars() []Bar {
	var bars []Bar
	add := func(ts []Timing, cmd, label string, nucleus, brk bool) {
		if t, ok := byCommand(ts, cmd); ok {
			bars = append(bars, Bar{Label: label, Mean: t.Mean * 1000, Std: t.Stddev * 1000, Highlight: nucleus, GroupBreak: brk && len(bars) > 0})
		}
	}
	add(r.start, cmdNucleus, "nucleus-exec run", true, false)
	add(r.start, cmdSandboxRun, "sandbox only (no supervisor)", true, false)
	add(r.start, cmdBwrap, "bwrap --unshare-all", false, false)
	add(r.start, cmdCrun, "crun run", false, false)
	add(r.start, cmdRunc, "runc run", false, false)
	add(r.gvisor, cmdGvNucleus, "nucleus-exec run (gVisor)", true, true)
	add(r.gvisor, cmdRunscDo, "runsc do true", false, false)
	add(r.gvisor, cmdRunscBare, "runsc run (bare bundle)", false, false)
	return bars
}

type writer func(format string, a ...any)

// runLog is bench/run.sh's steps.tsv: when each sub-benchmark ran, the load
// average (1 min) as it started, how long it took, and its exit status.
func (r *report) runLog(w writer) {
	t := readTrim(filepath.Join(r.out, "steps.tsv"))
	if t == "" {
		return
	}
	w("## Run log\n\n")
	w("| step | started (UTC) | load (1 min) at start | seconds | exit status |\n|---|---|---:|---:|---|\n")
	for _, line := range strings.Split(t, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			continue
		}
		status := f[4]
		if status != "0" {
			status = "**" + status + " (failed)**"
		}
		w("| %s | %s | %s | %s | %s |\n", f[0], f[1], f[2], f[3], status)
	}
	w("\n")
}

func (r *report) machineSection(w writer) {
	w("## Machine and versions\n\n")
	m := r.machine
	if m == nil {
		w("Not recorded.\n\n")
		return
	}
	w("| | |\n|---|---|\n")
	w("| date | %s UTC |\n", m.Date.Format("2006-01-02 15:04:05"))
	w("| CPU | %s, %d cores (virtualization: %s) |\n", m.CPUModel, m.Cores, m.Virt)
	w("| memory | %d MiB |\n", m.MemoryMiB)
	w("| kernel | %s (%s) |\n", m.Kernel, m.OS)
	w("| load average at start / end | %s / %s |\n", m.LoadStart, orDefault(r.loadEnd, "not recorded"))
	w("| nucleus | `%s` |\n", m.Commit)
	for _, k := range m.VersionKeys {
		w("| %s | %s |\n", k, mdEsc(m.Versions[k]))
	}
	q := r.quadlet
	if q == "" {
		q = "not built in this run"
	}
	w("| quadlet | %s (built from the Go module proxy in a throw-away module) |\n\n", q)
}

func (r *report) generatorSection(w writer) {
	defer r.notes(w, "generator")
	w("## 1. Generator: nucleus-generator vs Quadlet\n\n")
	w("N specs on tmpfs become N units plus their `.wants/` links in an empty directory, for\n")
	w("`nucleus-generator` and for Podman's Quadlet (%s) on N equivalent `.container` files (same\n", orDefault(r.quadlet, "v5.4.2"))
	w("description, command, environment, user, tmpfs, health check, restart policy, timeouts, limits,\n")
	w("ordering and enablement). Both run in system mode as root, as systemd runs them, timed by hyperfine\n")
	w("in the same run, each timed run starting from an empty output directory (`bench/generator/run.sh`).\n\n")
	if len(r.generator) == 0 {
		w("No results: %s.\n\n", r.problems["generator"])
		return
	}
	w("| N | nucleus-generator, mean ± σ | Quadlet, mean ± σ | wall ratio | CPU user+sys nucleus / Quadlet | CPU ratio |\n")
	w("|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range r.generator {
		w("| %d | %s | %s | %s | %s / %s | %.2f× |\n", p.N, meanSD(p.Nucleus), meanSD(p.Quadlet),
			fmtRatio(timingRatio(p.Nucleus, p.Quadlet)), ms(p.Nucleus.CPU()), ms(p.Quadlet.CPU()), p.Nucleus.CPU()/p.Quadlet.CPU())
	}
	w("\nTarget (issue 8): ≤ 0.5× Quadlet at 500 specs. The curve is in section 6.\n\n")
}

func (r *report) startSection(w writer) {
	w("## 2. Start latency of a fully isolated `/bin/true`\n\n")
	w("`bench/start/run.sh`: one hyperfine run (`-N`, 20 warm-ups) of `nucleus-exec run true.toml` (the real\n")
	w("command line of a unit: spec load, default isolation — pid, mount, ipc, uts, net and cgroup namespaces,\n")
	w("read-only host view, default seccomp filter, Landlock, every capability dropped — supervisor and exit),\n")
	w("`sandbox-run` (internal/sandbox alone, no supervisor), `bwrap --unshare-all --die-with-parent --ro-bind / /\n")
	w("true`, and `crun run` / `runc run` of an OCI bundle with the same namespaces, a read-only busybox root and\n")
	w("no capabilities. crun 1.8 refuses this machine's hybrid cgroup layout, so the whole benchmark runs in a\n")
	w("private mount namespace without the cgroup2 mount. `bench/gvisor/run.sh` times `runtime = \"gvisor\"`\n")
	w("against `runsc do true` and a bare `runsc run` of the bundle nucleus-exec builds.\n\n")
	if len(r.start) == 0 && len(r.gvisor) == 0 {
		w("No results: %s; %s.\n\n", r.problems["start"], r.problems["gvisor"])
		return
	}
	bw, okb := byCommand(r.start, cmdBwrap)
	cr, okc := byCommand(r.start, cmdCrun)
	w("| command | mean ± σ | median | min | CPU user+sys | vs bwrap | vs crun |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.start {
		vb, vc := "—", "—"
		if okb {
			vb = relTo(t, bw)
		}
		if okc {
			vc = relTo(t, cr)
		}
		w("| %s | %s | %s | %s | %s | %s | %s |\n", mdEsc(t.Command), meanSD(t), ms(t.Median), ms(t.Min), ms(t.CPU()), vb, vc)
	}
	if p, ok := r.problems["start"]; ok {
		w("| (start) | not measured: %s | | | | | |\n", mdEsc(p))
	}
	w("\n")
	r.notes(w, "start")
	if len(r.gvisor) > 0 {
		do, okd := byCommand(r.gvisor, cmdRunscDo)
		w("| gVisor command | mean ± σ | median | min | vs `runsc do` |\n|---|---:|---:|---:|---:|\n")
		for _, t := range r.gvisor {
			v := "—"
			if okd {
				v = relTo(t, do)
			}
			w("| %s | %s | %s | %s | %s |\n", mdEsc(t.Command), meanSD(t), ms(t.Median), ms(t.Min), v)
		}
		w("\n")
	} else {
		w("gVisor: not measured: %s.\n\n", r.problems["gvisor"])
	}
	r.notes(w, "gvisor")
}

func (r *report) readySection(w writer) {
	defer r.notes(w, "ready")
	w("## 3. Time to ready under systemd\n\n")
	w("`bench/systemd` boots the machine's real systemd in namespaces (the e2e harness) and, inside it,\n")
	w("times `systemctl start UNIT` with hyperfine (each run prepared by `systemctl stop` + `reset-failed`).\n")
	w("`systemctl start` of a `Type=notify` unit returns when READY=1 arrives. The workload is\n")
	w("`busybox httpd -f -p 8080`, listening as soon as it runs. nucleus's specs: a TCP readiness probe on\n")
	w("8080 (default 100 ms retry interval; and 10 ms), and no readiness probe (READY=1 once the workload\n")
	w("runs). podman: the unit Quadlet would write for `podman run --rootfs DIR --sdnotify=conmon\n")
	w("--network=none`, Debian's podman 4.3.1 with crun; READY=1 comes from conmon once the container\n")
	w("started (podman has no readiness probe). Two deviations this machine forces, both for podman:\n")
	w("`--cgroups=disabled` (crun attaches an eBPF device filter to the container's cgroup2 group and first\n")
	w("raises RLIMIT_MEMLOCK, which root here may not do: `setrlimit (RLIM_MEMLOCK): Operation not permitted`;\n")
	w("this also spares podman the cgroup setup, so it favours podman), and `rm -t 0` on stop (busybox httpd\n")
	w("as PID 1 ignores SIGTERM; stop time is not measured). The floor row is the same busybox httpd as a\n")
	w("plain `Type=exec` unit, no container: `systemctl start` returns once systemd has forked and the execve\n")
	w("succeeded, so no supervised start returns sooner on this machine.\n\n")
	if len(r.ready) == 0 {
		w("No results: %s.\n\n", r.problems["ready"])
		return
	}
	pod, okp := byCommand(r.ready, readyPodman)
	w("| unit | mean ± σ | median | min | vs podman | first readiness attempt refused |\n|---|---:|---:|---:|---:|---:|\n")
	for _, t := range r.ready {
		v := "—"
		if okp {
			v = relTo(t, pod)
			if t.Command != pod.Command {
				v += fmt.Sprintf(" (%.1f× faster)", pod.Mean/t.Mean)
			}
		}
		refused := "—"
		if d, ok := r.readyDiag[t.Command]; ok && d.Starts > 0 {
			refused = fmt.Sprintf("%d of %d starts", d.FirstAttemptRefused, d.Starts)
		}
		w("| %s | %s | %s | %s | %s | %s |\n", mdEsc(t.Command), meanSD(t), ms(t.Median), ms(t.Min), v, refused)
	}
	if r.readyDiag != nil {
		w("\nThe last column counts, from each unit's journal, the starts (warm-ups and the sanity start\n")
		w("included) whose first TCP attempt found the server not yet listening: those retry 1 ms later,\n")
		w("then 2, 4, 8 … ms, up to the readiness interval.\n")
	}
	w("\nTarget (issue 8): ≥ 5× faster than podman, for the spec with a TCP readiness probe.\n\n")
}

func (r *report) supervisionSection(w writer) {
	defer r.notes(w, "supervision")
	w("## 4. Supervision cost per running container\n\n")
	w("`bench/supervision/run.py`: summed PSS (`/proc/PID/smaps_rollup`) of nucleus-exec's own processes\n")
	w("(supervisor + in-namespace init, not the workload) vs conmon's, and CPU time per health check\n")
	w("(supervisor + init, counted over N checks as N WATCHDOG=1 datagrams) vs the CPU of one\n")
	w("`podman healthcheck run` (exec /bin/true in the container). The floor row is `bench/floor/idle`, a Go\n")
	w("program that only waits for SIGTERM, built like nucleus-exec: what any resident Go process costs.\n\n")
	if len(r.sup) == 0 {
		w("No results: %s.\n\n", r.problems["supervision"])
		return
	}
	pod := r.sup[len(r.sup)-1]
	w("| supervisor | PSS | vs conmon | CPU per check | vs podman healthcheck run | wall per check |\n|---|---:|---:|---:|---:|---:|\n")
	for i, s := range r.sup {
		vs, cpu, frac, wall := fmt.Sprintf("%.2f×", s.PSSkB/pod.PSSkB), "—", "—", "—"
		if s.CPUmsPerCheck > 0 {
			cpu = fmt.Sprintf("%.3f ms", s.CPUmsPerCheck)
			frac = fmt.Sprintf("1/%.0f", pod.CPUmsPerCheck/s.CPUmsPerCheck)
			wall = fmt.Sprintf("%.1f ms", s.WallmsPerChk)
		}
		if i == len(r.sup)-1 {
			vs, frac = "1 (reference)", "1 (reference)"
		}
		w("| %s | %.0f kB (%s) | %s | %s | %s | %s |\n", mdEsc(s.Name), s.PSSkB, mdEsc(s.PSSDetail),
			vs, cpu, frac, wall)
	}
	if r.supOf8 > 0 {
		w("\nWith 8 containers running at once (tcp health probe), nucleus-exec's PSS per container is\n")
		w("%.0f kB (%.2f× one conmon): the supervisors and inits share their text pages.\n", r.supOf8, r.supOf8/pod.PSSkB)
	}
	w("\nThe headline uses the largest nucleus row. Targets (issue 8): PSS ≤ 1.5× conmon, CPU per check\n")
	w("≤ 1/20 of `podman healthcheck run`.\n\n")
}

func (r *report) scaleSection(w writer) {
	defer r.notes(w, "scale")
	w("## 5. Scale: many healthy containers under systemd\n\n")
	w("`bench/systemd`: N specs (`busybox httpd`, TCP readiness, TCP health check every 1 s) under the\n")
	w("harness systemd, started with one `systemctl start` of all N; after 5 s of settling, CPU is\n")
	w("measured over a window: the `nucleus.slice` cgroup's `cpu.stat` (everything the containers ran), and\n")
	w("per process from `/proc/PID/stat` (utime+stime, 10 ms ticks): nucleus-exec's supervisors and inits,\n")
	w("the workloads, and the instance's systemd (which receives every WATCHDOG=1). The slice figure is the\n")
	w("kernel's own accounting of everything in the slice and is the larger one: it also holds CPU the\n")
	w("per-process reading cannot attribute to a live process. Memory is summed PSS.\n")
	w("The harness's cgroup2 has no memory controller on this machine, so there is no `memory.current`.\n\n")
	s := r.scale
	if s == nil {
		w("No results: %s.\n\n", r.problems["scale"])
		return
	}
	n := float64(s.Containers)
	checks := n * s.WindowSeconds / s.HealthInterval
	w("| | |\n|---|---|\n")
	w("| containers | %d, each with a TCP health check every %.0f s |\n", s.Containers, s.HealthInterval)
	w("| `systemctl start` of all, until every one is ready | %.2f s |\n", s.StartSeconds)
	w("| active (running) at the end of the window | %d/%d, %d restarts |\n", s.ActiveAfter, s.Containers, s.Restarts)
	w("| window | %.1f s (≈ %.0f health checks) |\n", s.WindowSeconds, checks)
	w("| nucleus.slice CPU (supervisors, inits, workloads) | %.3f s = %.2f%% of one CPU |\n", s.SliceCPU, 100*s.SliceCPU/s.WindowSeconds)
	w("| supervision CPU (nucleus-exec supervisors + inits, %d processes) | %.2f s = %.2f%% of one CPU, %.1f ms per container per minute, ≈ %.3f ms per check |\n",
		s.Processes, s.SupervisorCPU, 100*s.SupervisorCPU/s.WindowSeconds, 1000*s.SupervisorCPU/n*60/s.WindowSeconds, 1000*s.SupervisorCPU/checks)
	w("| workloads CPU | %.2f s |\n", s.WorkloadCPU)
	w("| systemd (PID 1) CPU | %.2f s = %.2f%% of one CPU |\n", s.SystemdCPU, 100*s.SystemdCPU/s.WindowSeconds)
	w("| systemd-journald CPU | %.2f s |\n", s.JournaldCPU)
	w("| supervision memory, summed PSS | %.1f MiB (%.0f kB per container; RSS summed %.1f MiB) |\n",
		float64(s.SupervisorPSSkB)/1024, float64(s.SupervisorPSSkB)/n, float64(s.SupervisorRSSkB)/1024)
	w("| workloads PSS | %.1f MiB |\n", float64(s.WorkloadPSSkB)/1024)
	w("| systemd (PID 1) PSS | %.1f MiB |\n\n", float64(s.SystemdPSSkB)/1024)
}

func (r *report) curvesSection(w writer, dir string) error {
	defer r.notes(w, "curves")
	w("## 6. How cost grows\n\n")
	w("Generator wall time vs number of specs (section 1's runs), and the start latency of\n")
	w("`nucleus-exec run` of `/bin/true` vs the number of bind mounts (each also gets a Landlock rule) and\n")
	w("vs the number of extra Landlock read rules (`bench/curves/run.sh`, one hyperfine run per curve).\n\n")
	var panels []Panel
	if len(r.generator) > 0 {
		var ns, nu, nuE, qu, quE []float64
		w("| specs | nucleus-generator | Quadlet | nucleus per spec |\n|---:|---:|---:|---:|\n")
		for _, p := range r.generator {
			ns = append(ns, float64(p.N))
			nu, nuE = append(nu, p.Nucleus.Mean*1000), append(nuE, p.Nucleus.Stddev*1000)
			qu, quE = append(qu, p.Quadlet.Mean*1000), append(quE, p.Quadlet.Stddev*1000)
			w("| %d | %s | %s | %s |\n", p.N, meanSD(p.Nucleus), meanSD(p.Quadlet), fmtMs(p.Nucleus.Mean*1000/float64(p.N)))
		}
		w("\n")
		panels = append(panels, Panel{Title: "Generator vs specs", XLabel: "specs (log)", YLabel: "ms (log)", LogX: true, LogY: true,
			Series: []Series{
				{Label: "nucleus-generator", Color: colorNucleus, X: ns, Y: nu, Err: nuE},
				{Label: "Quadlet", Color: colorQuadlet, X: ns, Y: qu, Err: quE},
			}})
	}
	for _, c := range []struct {
		name, title, x string
		pts            []CurvePoint
	}{
		{"mounts", "Start vs bind mounts", "bind mounts", r.mounts},
		{"landlock", "Start vs Landlock rules", "extra Landlock read rules", r.landlock},
	} {
		if len(c.pts) == 0 {
			w("%s: not measured: %s.\n\n", c.title, r.problems[c.name])
			continue
		}
		var xs, ys, es []float64
		w("| %s | start, mean ± σ | median | vs 0 |\n|---:|---:|---:|---:|\n", c.x)
		base := c.pts[0].T
		for _, p := range c.pts {
			xs, ys, es = append(xs, float64(p.K)), append(ys, p.T.Mean*1000), append(es, p.T.Stddev*1000)
			w("| %d | %s | %s | %s |\n", p.K, meanSD(p.T), ms(p.T.Median), relTo(p.T, base))
		}
		w("\n")
		panels = append(panels, Panel{Title: c.title, XLabel: c.x, YLabel: "ms, mean ± σ",
			Series: []Series{{Label: "nucleus-exec run", Color: colorNucleus, X: xs, Y: ys, Err: es}}})
	}
	if len(panels) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, "curves.svg"), []byte(panelsSVG("How cost grows", panels)), 0o644); err != nil {
		return err
	}
	w("![How cost grows: generator time vs specs, start latency vs mounts and Landlock rules](curves.svg)\n\n")
	return nil
}

func (r *report) goBenchSection(w writer) {
	defer r.notes(w, "gobench")
	w("## Go benchmarks of the hot functions\n\n")
	w("`go test -run='^$' -bench=. -benchmem ./internal/...` in the same run (in-process: no process\n")
	w("start-up; GOMAXPROCS = CPUs).\n\n")
	if len(r.gobench) == 0 {
		w("No results: %s.\n\n", orDefault(r.problems["gobench"], "no benchmark lines in gobench.txt"))
		return
	}
	sort.SliceStable(r.gobench, func(i, j int) bool { return r.gobench[i].Pkg < r.gobench[j].Pkg })
	w("| package | benchmark | time/op | B/op | allocs/op |\n|---|---|---:|---:|---:|\n")
	for _, g := range r.gobench {
		bop, aop := "—", "—"
		if g.BytesPerOp >= 0 {
			bop = fmt.Sprintf("%.0f", g.BytesPerOp)
		}
		if g.AllocsPerOp >= 0 {
			aop = fmt.Sprintf("%.0f", g.AllocsPerOp)
		}
		w("| %s | %s | %s | %s | %s |\n", g.Pkg, g.Name, fmtNs(g.NsPerOp), bop, aop)
	}
	w("\n")
	if len(r.gofail) > 0 {
		w("Packages whose benchmarks did not run: %s.\n\n", mdEsc(strings.Join(r.gofail, "; ")))
	}
}

func fmtNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.0f ns", ns)
	}
}

func reproduceSection(w writer) {
	w("## Reproduce\n\n")
	w("As root on a Debian machine, from the repository root (run by hand, not in CI; about 10 minutes on 2 CPUs,\n")
	w("see the run log above for this run):\n\n")
	w("    make bench\n\n")
	w("which runs `bench/run.sh`: installs the neighbours from apt (crun runc bubblewrap hyperfine runsc\n")
	w("podman busybox-static), records the machine (`go run ./bench/report collect`), runs every\n")
	w("sub-benchmark into `bench/out/` (`bench/generator/run.sh`, `bench/start/run.sh`,\n")
	w("`bench/gvisor/run.sh`, `bench/supervision/run.py`, `go run ./bench/systemd`, `bench/curves/run.sh`,\n")
	w("the Go benchmarks), then writes this file and the SVGs (`go run ./bench/report render`). Each\n")
	w("sub-benchmark also runs on its own; see the comment at the top of each script. A quiet machine gives\n")
	w("steadier figures: check `uptime` first.\n")
}
