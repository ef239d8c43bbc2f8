package generator

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/unit"
)

// unitShape lists, per section, every directive a generated unit may have.
var unitShape = map[string]map[string]bool{
	"Unit": set("Description", "Documentation", "SourcePath", "After", "Requires", "Wants",
		"StartLimitIntervalSec", "StartLimitBurst"),
	"Service": set("Type", "NotifyAccess", "ExecStart", "Slice", "SyslogIdentifier", "KillMode", "SuccessExitStatus",
		"Restart", "RestartSec", "TimeoutStartSec", "TimeoutStopSec", "WatchdogSec", "MemoryMax",
		"MemoryHigh", "CPUQuota", "CPUWeight", "TasksMax", "IOWeight", "LimitNOFILE", "LoadCredential"),
	"X-Nucleus": set("Command", "Environment"),
}

func set(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// FuzzSpecToUnit is parse + validate + render on arbitrary spec bytes:
// nothing may panic, and whatever passes validation and rendering must be
// a unit of the expected shape — only known sections and directives, no
// line continuation, no carriage return or NUL (the exact escaping is
// FuzzRoundTrip's job in internal/unit). Seeds: the golden corpus.
//
// Run: go test ./internal/generator -run '^$' -fuzz FuzzSpecToUnit -fuzztime 10m
func FuzzSpecToUnit(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join(goldenDir, "*.toml"))
	seeds = append(seeds, "../../examples/web.toml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "fuzz.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := spec.Load(spec.Found{Name: "fuzz", Main: path})
		if err != nil {
			return
		}
		out, err := unit.Render(s, unit.Options{ExecPath: testExecPath})
		if err != nil {
			return
		}
		checkUnitShape(t, string(out))
	})
}

func checkUnitShape(t *testing.T, text string) {
	t.Helper()
	if strings.ContainsAny(text, "\r\x00") {
		t.Fatalf("unit contains CR or NUL:\n%q", text)
	}
	section := ""
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := 0
		for n < len(line) && line[len(line)-1-n] == '\\' {
			n++
		}
		switch {
		case n%2 == 1:
			t.Fatalf("line %d continues onto the next: %q\n%s", i+1, line, text)
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]")
			if unitShape[section] == nil || line != "["+section+"]" {
				t.Fatalf("line %d: unexpected section %q\n%s", i+1, line, text)
			}
		default:
			key, _, ok := strings.Cut(line, "=")
			if !ok || !unitShape[section][key] {
				t.Fatalf("line %d: unexpected directive %q in [%s]\n%s", i+1, line, section, text)
			}
		}
	}
}
