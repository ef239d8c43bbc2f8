package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Timing is one hyperfine result (seconds), as --export-json writes it.
type Timing struct {
	Command    string            `json:"command"`
	Mean       float64           `json:"mean"`
	Stddev     float64           `json:"stddev"`
	Median     float64           `json:"median"`
	User       float64           `json:"user"`
	System     float64           `json:"system"`
	Min        float64           `json:"min"`
	Max        float64           `json:"max"`
	Times      []float64         `json:"times"`
	Parameters map[string]string `json:"parameters"`
}

// CPU is user+system seconds per run.
func (t Timing) CPU() float64 { return t.User + t.System }

type hyperfineFile struct {
	Results []Timing `json:"results"`
}

// readHyperfine reads a hyperfine JSON export; a missing file is
// fs.ErrNotExist (that sub-benchmark did not run).
func readHyperfine(path string) ([]Timing, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f hyperfineFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Results) == 0 {
		return nil, fmt.Errorf("%s: no results", path)
	}
	return f.Results, nil
}

// byCommand finds a result by its hyperfine command name.
func byCommand(ts []Timing, name string) (Timing, bool) {
	for _, t := range ts {
		if t.Command == name {
			return t, true
		}
	}
	return Timing{}, false
}

// Ratio is a/b with its standard deviation propagated from both (assuming
// independent errors): σ_r = r·√((σa/a)² + (σb/b)²).
type Ratio struct{ Value, Sigma float64 }

func ratio(a, sa, b, sb float64) Ratio {
	if a == 0 || b == 0 {
		return Ratio{Value: math.NaN()}
	}
	r := a / b
	return Ratio{Value: r, Sigma: r * math.Hypot(sa/a, sb/b)}
}

func timingRatio(a, b Timing) Ratio { return ratio(a.Mean, a.Stddev, b.Mean, b.Stddev) }

// GeneratorPoint is one N of the generator benchmark.
type GeneratorPoint struct {
	N                int
	Nucleus, Quadlet Timing
}

func readGenerator(dir string) ([]GeneratorPoint, error) {
	files, err := filepath.Glob(filepath.Join(dir, "n*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fs.ErrNotExist
	}
	var pts []GeneratorPoint
	for _, f := range files {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "n"), ".json"))
		if err != nil {
			continue
		}
		ts, err := readHyperfine(f)
		if err != nil {
			return nil, err
		}
		nu, ok1 := byCommand(ts, fmt.Sprintf("nucleus-generator N=%d", n))
		qu, ok2 := byCommand(ts, fmt.Sprintf("quadlet N=%d", n))
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: want nucleus-generator and quadlet results", f)
		}
		pts = append(pts, GeneratorPoint{N: n, Nucleus: nu, Quadlet: qu})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].N < pts[j].N })
	return pts, nil
}

// SupervisionRow is one row of bench/supervision/run.py's JSON.
type SupervisionRow struct {
	Name          string  `json:"name"`
	PSSkB         float64 `json:"pss_kb"`
	PSSDetail     string  `json:"pss_detail"`
	CPUmsPerCheck float64 `json:"cpu_ms_per_check"`
	WallmsPerChk  float64 `json:"wall_ms_per_check"`
	// Reference marks a floor measured for comparison (bench/floor), not
	// nucleus: it never becomes a headline.
	Reference bool `json:"reference"`
}

// Supervision is bench/supervision/run.py's supervision.json: one row per
// nucleus probe kind, podman's row last, and the per-container PSS of
// nucleus-exec with 8 containers running at once (text pages shared).
type Supervision struct {
	Rows     []SupervisionRow `json:"rows"`
	PSSOf8kB float64          `json:"pss_kb_per_container_of_8"`
}

func readSupervision(path string) (*Supervision, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Supervision
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.Rows) < 2 {
		return nil, fmt.Errorf("%s: want nucleus rows and a podman row", path)
	}
	return &s, nil
}

// ScaleResult mirrors bench/systemd's scale.json.
type ScaleResult struct {
	Containers      int     `json:"containers"`
	StartSeconds    float64 `json:"start_seconds"`
	ActiveAfter     int     `json:"active_after"`
	Restarts        int     `json:"restarts"`
	WindowSeconds   float64 `json:"window_seconds"`
	HealthInterval  float64 `json:"health_interval_s"`
	SupervisorCPU   float64 `json:"supervisor_cpu_s"`
	WorkloadCPU     float64 `json:"workload_cpu_s"`
	SliceCPU        float64 `json:"slice_cpu_s"`
	SystemdCPU      float64 `json:"systemd_cpu_s"`
	JournaldCPU     float64 `json:"journald_cpu_s"`
	SupervisorPSSkB int     `json:"supervisor_pss_kb"`
	SupervisorRSSkB int     `json:"supervisor_rss_kb"`
	WorkloadPSSkB   int     `json:"workload_pss_kb"`
	SystemdPSSkB    int     `json:"systemd_pss_kb"`
	Processes       int     `json:"supervisor_processes"`
}

func readScale(path string) (*ScaleResult, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s ScaleResult
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// CurvePoint is one K of a start-latency curve.
type CurvePoint struct {
	K int
	T Timing
}

func readCurve(path string) ([]CurvePoint, error) {
	ts, err := readHyperfine(path)
	if err != nil {
		return nil, err
	}
	var pts []CurvePoint
	for _, t := range ts {
		k, err := strconv.Atoi(t.Parameters["k"])
		if err != nil {
			return nil, fmt.Errorf("%s: result without parameter k: %q", path, t.Command)
		}
		pts = append(pts, CurvePoint{K: k, T: t})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].K < pts[j].K })
	return pts, nil
}

// GoBench is one line of `go test -bench -benchmem` output.
type GoBench struct {
	Pkg, Name       string
	Iterations      int
	NsPerOp         float64
	BytesPerOp      float64 // -1 when absent
	AllocsPerOp     float64 // -1 when absent
	HasMem, Invalid bool
}

// parseGoBench reads benchmark lines, tracking the "pkg:" header before them.
func parseGoBench(path string) ([]GoBench, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var out []GoBench
	var failures []string
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/nucleus-containers/nucleus/")
			continue
		}
		if strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL") {
			failures = append(failures, line)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fl := strings.Fields(line)
		if len(fl) < 4 || fl[3] != "ns/op" {
			continue
		}
		b := GoBench{Pkg: pkg, Name: fl[0], BytesPerOp: -1, AllocsPerOp: -1}
		b.Iterations, _ = strconv.Atoi(fl[1])
		b.NsPerOp, _ = strconv.ParseFloat(fl[2], 64)
		for i := 4; i+1 < len(fl); i += 2 {
			v, err := strconv.ParseFloat(fl[i], 64)
			if err != nil {
				continue
			}
			switch fl[i+1] {
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsPerOp = v
			}
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return out, failures, nil
}

// missing says whether err only means "that sub-benchmark did not produce
// results" (reported as such) rather than a broken result file.
func missing(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// ProbeDiag mirrors bench/systemd's ready-probe.json entries: starts that
// reached READY=1 and those whose first readiness attempt was refused.
type ProbeDiag struct {
	Starts              int `json:"starts"`
	FirstAttemptRefused int `json:"first_attempt_refused"`
}

func readProbeDiag(path string) (map[string]ProbeDiag, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]ProbeDiag{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
