package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/golden"
)

// TestRenderGolden renders testdata/out (results of a real run, trimmed,
// with a fixed date) and compares README.md and both SVGs with the golden
// files.
func TestRenderGolden(t *testing.T) {
	dir := t.TempDir()
	if err := render("testdata/out", dir, "testdata/notes"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"README.md", "start-latency.svg", "curves.svg"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, filepath.Join("testdata", "golden", name), got)
		if strings.HasSuffix(name, ".svg") {
			wellFormed(t, name, got)
		}
	}
}

func wellFormed(t *testing.T, name string, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", name, err)
		}
	}
}

// TestHeadlineVerdicts checks the headline rows of the fixture: which
// targets are met is decided from the figures, not written down.
func TestHeadlineVerdicts(t *testing.T) {
	r := load("testdata/out", "")
	if len(r.problems) != 0 {
		t.Fatalf("fixture has problems: %v", r.problems)
	}
	want := map[string]string{
		"generator, 500 specs → units (wall)":                     "**no**",
		"start, fully isolated /bin/true vs bwrap":                "**no** (within σ)",
		"start, fully isolated /bin/true vs crun run":             "**no** (within σ)",
		"start, fully isolated /bin/true vs runc run":             "(no target)",
		"start under gVisor vs `runsc do true`":                   "**yes**",
		"supervision memory, summed PSS vs conmon":                "**yes**", // 2500 kB / 1700 kB = 1.47; the 2600 kB floor row is a reference
		"CPU per health check vs `podman healthcheck run`":        "**yes**",
		"scale: 10 containers, 1 s TCP health checks, all active": "**yes**",
	}
	got := map[string]string{}
	for _, row := range r.rows() {
		got[row.What] = row.met()
	}
	for what, w := range want {
		if got[what] != w {
			t.Errorf("%s: met = %q, want %q", what, got[what], w)
		}
	}
}

func TestMissingResultsAreReported(t *testing.T) {
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "systemd.failed"), []byte("boot: no systemd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := render(out, dir, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"not measured: bench/run.sh step systemd failed: boot: no systemd",
		"not measured: not run (no results in " + out + ")",
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "start-latency.svg")); err == nil {
		t.Error("a start-latency chart was drawn without start results")
	}
}

func TestRatio(t *testing.T) {
	for _, c := range []struct {
		a, sa, b, sb float64
		want, sigma  float64
	}{
		{10, 0, 20, 0, 0.5, 0},
		{10, 1, 20, 2, 0.5, 0.5 * math.Sqrt(0.01+0.01)},
		{30, 3, 10, 0, 3, 0.3},
	} {
		r := ratio(c.a, c.sa, c.b, c.sb)
		if math.Abs(r.Value-c.want) > 1e-12 || math.Abs(r.Sigma-c.sigma) > 1e-12 {
			t.Errorf("ratio(%v±%v / %v±%v) = %v±%v, want %v±%v", c.a, c.sa, c.b, c.sb, r.Value, r.Sigma, c.want, c.sigma)
		}
	}
	if r := ratio(1, 0, 0, 0); !math.IsNaN(r.Value) {
		t.Errorf("ratio by zero = %v, want NaN", r.Value)
	}
}

func TestParseGoBench(t *testing.T) {
	bs, fails, err := parseGoBench("testdata/out/gobench.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(fails) != 1 || !strings.Contains(fails[0], "internal/sandbox") {
		t.Errorf("failures = %q, want the sandbox build failure", fails)
	}
	var gen *GoBench
	for i := range bs {
		if bs[i].Name == "BenchmarkGenerate500-2" {
			gen = &bs[i]
		}
	}
	if gen == nil {
		t.Fatalf("no BenchmarkGenerate500 in %+v", bs)
	}
	want := GoBench{Pkg: "internal/generator", Name: "BenchmarkGenerate500-2", Iterations: 8, NsPerOp: 137433398, BytesPerOp: 17345491, AllocsPerOp: 176587}
	if *gen != want {
		t.Errorf("got %+v, want %+v", *gen, want)
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		name string
		got  []float64
		want []float64
	}{
		{"log 1-2-5", niceTicks(1, 100), []float64{1, 2, 5, 10, 20, 50, 100}},
		{"log decades only over 2.5 decades", niceTicks(1, 10000), []float64{1, 10, 100, 1000, 10000}},
		{"linear reaches the maximum", linTicks(128, 4), []float64{0, 50, 100, 150}},
		{"linear exact", linTicks(40, 4), []float64{0, 10, 20, 30, 40}},
	} {
		if len(c.got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
			continue
		}
		for i := range c.got {
			if math.Abs(c.got[i]-c.want[i]) > 1e-9 {
				t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
				break
			}
		}
	}
}
