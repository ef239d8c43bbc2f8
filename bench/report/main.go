// Command report turns the results of `make bench` (bench/out/: hyperfine
// JSON exports, the supervision and systemd benchmarks' JSON, `go test
// -bench` output) into bench/README.md and its SVG charts, and records the
// machine and tool versions a run happened on.
//
//	report collect -out bench/out              machine.json: CPU, kernel, memory, versions, date, load
//	report render -out bench/out -dir bench    README.md, start-latency.svg, curves.svg
//
// render also includes bench/report/notes/SECTION.md, the analysis that no
// result file holds (profiles, where the time goes), under each section.
//
// It owns only presentation: it never runs a benchmark, and it reports a
// missing result as missing rather than inventing one. The SVGs are written
// by hand (no plotting tool).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	out := fs.String("out", "bench/out", "results directory")
	dir := fs.String("dir", "bench", "where README.md and the SVGs go (render)")
	repo := fs.String("repo", ".", "the nucleus repository (collect: its commit)")
	notes := fs.String("notes", "bench/report/notes", "hand-written analysis per section, NAME.md (render)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "collect":
		err = collect(*out, *repo)
	case "render":
		err = render(*out, *dir, *notes)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: report collect -out DIR [-repo DIR] | report render -out DIR -dir DIR")
	os.Exit(2)
}

// Machine is what a run happened on (machine.json).
type Machine struct {
	Date        time.Time         `json:"date"`
	CPUModel    string            `json:"cpu_model"`
	Cores       int               `json:"cores"`
	MemoryMiB   int               `json:"memory_mib"`
	Kernel      string            `json:"kernel"`
	OS          string            `json:"os"`
	Virt        string            `json:"virtualization"`
	LoadStart   string            `json:"load_start"` // /proc/loadavg at collect
	Commit      string            `json:"commit"`
	Versions    map[string]string `json:"versions"`
	VersionKeys []string          `json:"version_order"`
}

// versionCommands are the tools whose versions a run records, in README
// order; the first line of output is kept.
var versionCommands = []struct {
	name string
	argv []string
}{
	{"go", []string{"go", "version"}},
	{"systemd", []string{"systemctl", "--version"}},
	{"crun", []string{"crun", "--version"}},
	{"runc", []string{"runc", "--version"}},
	{"bwrap", []string{"bwrap", "--version"}},
	{"runsc", []string{"runsc", "--version"}},
	{"podman", []string{"podman", "--version"}},
	{"conmon", []string{"conmon", "--version"}},
	{"hyperfine", []string{"hyperfine", "--version"}},
}

func firstLine(argv ...string) string {
	o, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil && len(o) == 0 {
		return "not available (" + err.Error() + ")"
	}
	return strings.TrimSpace(strings.SplitN(string(o), "\n", 2)[0])
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func collect(out, repo string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	m := Machine{Date: time.Now().UTC(), Cores: runtime.NumCPU(), Versions: map[string]string{}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		for _, l := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(l, "MemTotal: %d kB", &kb); err == nil {
				m.MemoryMiB = kb / 1024
				break
			}
		}
	}
	m.Kernel = readTrim("/proc/sys/kernel/osrelease")
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	m.Virt = firstLine("systemd-detect-virt")
	m.LoadStart = loadavg()
	m.Commit = "unknown (not a git checkout)"
	if o, err := exec.Command("git", "-C", repo, "describe", "--always", "--dirty", "--abbrev=10").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(o))
	}
	for _, v := range versionCommands {
		m.Versions[v.name] = firstLine(v.argv...)
		m.VersionKeys = append(m.VersionKeys, v.name)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "machine.json"), append(b, '\n'), 0o644)
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	f := strings.Fields(readTrim("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
