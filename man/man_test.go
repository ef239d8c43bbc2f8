package man

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

var pages = []string{"nucleus.toml.5", "nucleus-generator.8", "nucleus-exec.8"}

// TestPagesRenderWithoutWarnings runs the same check as `make man` on each
// page: groff -man -ww and man --warnings -l print nothing.
func TestPagesRenderWithoutWarnings(t *testing.T) {
	for _, page := range pages {
		t.Run(page, func(t *testing.T) {
			out, err := exec.Command("../scripts/check-man.sh", "man/"+page).CombinedOutput()
			if err != nil {
				t.Fatalf("check-man.sh %s: %v\n%s", page, err, out)
			}
		})
	}
}

// specKeys is spec format v1 (/work/shared/DESIGN.md, internal/spec): the
// tables as nucleus.toml(5) titles its sections, and their keys.
var specKeys = map[string][]string{
	"TOP LEVEL":      {"description"},
	"[exec]":         {"command", "environment", "workdir", "user", "supplementary_groups", "hostname", "stop_signal", "stop_timeout"},
	"[restart]":      {"policy", "delay", "burst", "interval"},
	"[resources]":    {"memory", "memory_high", "cpus", "cpu_weight", "pids", "io_weight", "nofile"},
	"[isolation]":    {"runtime", "rootfs", "read_only", "namespaces", "user_namespace", "capabilities", "seccomp", "seccomp_allow"},
	"[[mount]]":      {"type", "source", "target", "read_only", "size"},
	"[landlock]":     {"read", "write", "execute", "tcp_bind", "tcp_connect"},
	"[network]":      {"mode"},
	"[readiness]":    {"exec", "tcp", "http", "notify", "interval", "timeout", "start_timeout"},
	"[health]":       {"exec", "tcp", "http", "interval", "timeout", "retries", "start_period"},
	"[[credential]]": {"name", "source", "target"},
	"[unit]":         {"after", "requires", "wants", "wanted_by"},
}

// entry is one documented key: its section, and the TOML line of its
// "Example:".
type entry struct {
	section, key, example string
}

// parseSpecPage returns the keys nucleus.toml(5) documents: a ".TP" whose
// next line is ".B key" inside a section named in specKeys.
func parseSpecPage(t *testing.T) []entry {
	t.Helper()
	f, err := os.Open("nucleus.toml.5")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	var out []entry
	section := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, ".SH ") {
			section = strings.Trim(strings.TrimPrefix(l, ".SH "), `"`)
			continue
		}
		if _, ok := specKeys[section]; !ok || l != ".TP" || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], ".B ") {
			continue
		}
		// ".B exec\fR, \fBtcp\fR, \fBhttp" documents three keys at once.
		keys := strings.Split(unroff(strings.TrimPrefix(lines[i+1], ".B ")), ", ")
		example := ""
		for j := i + 2; j < len(lines) && lines[j] != ".TP" && !strings.HasPrefix(lines[j], ".SH"); j++ {
			if lines[j] == "Example:" && j+1 < len(lines) && strings.HasPrefix(lines[j+1], ".B ") {
				example = unroff(strings.TrimPrefix(lines[j+1], ".B "))
			}
		}
		for _, k := range keys {
			out = append(out, entry{section, k, example})
		}
	}
	return out
}

var fontEscape = regexp.MustCompile(`\\f[BIRP]`)

// unroff turns the roff escapes the pages use back into plain text.
func unroff(s string) string {
	s = fontEscape.ReplaceAllString(s, "")
	return strings.NewReplacer(`\(dq`, `"`, `\-`, "-", `\(mu`, "×", `\&`, "", `\e`, `\`).Replace(s)
}

func TestSpecPageDocumentsEveryKey(t *testing.T) {
	got := map[string][]string{}
	for _, e := range parseSpecPage(t) {
		got[e.section] = append(got[e.section], e.key)
	}
	for section, want := range specKeys {
		have := got[section]
		for _, k := range want {
			if !slices.Contains(have, k) {
				t.Errorf("nucleus.toml(5) section %s does not document %q", section, k)
			}
		}
		for _, k := range have {
			if !slices.Contains(want, k) {
				t.Errorf("nucleus.toml(5) section %s documents %q, which spec format v1 does not have", section, k)
			}
		}
	}
}

// writeSpec writes a root-owned 0644 NAME.toml (the loader refuses others).
func writeSpec(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSpecPageExamplesAreAccepted puts each key's "Example:" line into a
// minimal spec and loads it: the loader must know the key and accept the
// example's value. Errors about other keys (an example alone need not make
// a complete table) are fine.
func TestSpecPageExamplesAreAccepted(t *testing.T) {
	for _, e := range parseSpecPage(t) {
		if e.section == "[health]" && (e.key == "exec" || e.key == "tcp") {
			continue // they share one entry with http, whose example it is
		}
		t.Run(e.section+" "+e.key, func(t *testing.T) {
			if !strings.HasPrefix(e.example, e.key+" = ") {
				t.Fatalf("no \"Example:\" line of the form %q", e.key+" = VALUE")
			}
			var b strings.Builder
			base := "[exec]\ncommand = [\"/bin/true\"]\n"
			switch e.section {
			case "TOP LEVEL":
				b.WriteString(e.example + "\n" + base)
			case "[exec]":
				b.WriteString("[exec]\n")
				if e.key != "command" {
					b.WriteString("command = [\"/bin/true\"]\n")
				}
				b.WriteString(e.example + "\n")
			default:
				b.WriteString(base + e.section + "\n" + e.example + "\n")
			}
			_, err := spec.LoadFiles([]string{writeSpec(t, "example", b.String())})
			var list spec.ErrorList
			if err != nil && !errors.As(err, &list) {
				t.Fatalf("load: %v", err)
			}
			fullKey := strings.Trim(e.section, "[]")
			for _, se := range list {
				if strings.HasPrefix(se.Msg, "unknown") && (strings.Contains(se.Msg, "key") || strings.Contains(se.Msg, "table")) {
					t.Errorf("spec:\n%s\nloader does not know it: %v", b.String(), se)
				}
				if strings.HasSuffix(se.Key, " "+e.key) || se.Key == e.key && e.section == "TOP LEVEL" {
					t.Errorf("spec:\n%s\nexample value %s (section %s) refused: %v", b.String(), e.example, fullKey, se)
				}
			}
		})
	}
}

// TestSpecPageFullExampleLoads loads the complete example of nucleus.toml(5)
// (the .EX block after the "example: full" comment).
func TestSpecPageFullExampleLoads(t *testing.T) {
	src, err := os.ReadFile("nucleus.toml.5")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), `.\" example: full`)
	if !ok {
		t.Fatal(`nucleus.toml(5) has no ".\" example: full" marker`)
	}
	_, rest, _ = strings.Cut(rest, ".EX\n")
	body, _, ok := strings.Cut(rest, ".EE\n")
	if !ok {
		t.Fatal("the full example has no .EE")
	}
	s, err := spec.LoadFiles([]string{writeSpec(t, "web", unroff(body))})
	if err != nil {
		t.Fatalf("the full example of nucleus.toml(5) does not load:\n%v", err)
	}
	if s.Health == nil || s.Readiness == nil || len(s.Mounts) != 1 {
		t.Errorf("full example lost tables: health %v readiness %v mounts %d", s.Health, s.Readiness, len(s.Mounts))
	}
}

// TestPagesDocumentTheContract checks the facts other packages rely on
// appear in the pages: the watchdog formula, exit statuses, the
// generator's directories and environment.
func TestPagesDocumentTheContract(t *testing.T) {
	tests := []struct {
		page string
		want []string
	}{
		{"nucleus.toml.5", []string{"WatchdogSec=", "(retries + 1) × (interval + timeout)", "WATCHDOG=trigger", "WATCHDOG=1", "STATUS=", "125", "126", "127", "Slice=nucleus.slice"}},
		{"nucleus-generator.8", []string{"/etc/nucleus", "/run/nucleus", "/usr/lib/nucleus", "NAME.toml.d/*.toml", "--dry-run", "NUCLEUS_SPEC_DIRS", "NUCLEUS_UNIT_DIRS", "NUCLEUS_EXEC_PATH", "/dev/kmsg", "journalctl -b"}},
		{"nucleus-exec.8", []string{"run [--hash=sha256:HEX] SPEC [DROPIN...]", "READY=1", "STATUS=ready", "WATCHDOG=1", "WATCHDOG=trigger", "STOPPING=1", "EXTEND_TIMEOUT_USEC=", "125", "126", "127", "/run/nucleus/notify"}},
	}
	for _, tt := range tests {
		t.Run(tt.page, func(t *testing.T) {
			cmd := exec.Command("man", "-l", tt.page)
			cmd.Env = append(os.Environ(), "MANWIDTH=200", "LC_ALL=C.UTF-8")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("man -l %s: %v", tt.page, err)
			}
			// Join the rendered lines so a phrase may wrap.
			text := strings.Join(strings.Fields(string(out)), " ")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("%s does not say %q", tt.page, w)
				}
			}
		})
	}
}

// TestPagesCoverHelp keeps the section 8 pages in step with the programs:
// every option and environment variable that --help names must appear in
// the page.
func TestPagesCoverHelp(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/nucleus-generator", "./cmd/nucleus-exec")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	option := regexp.MustCompile(`(?m)(?:^|[\s\[|{])(--?[a-z][a-z-]*)`)
	envVar := regexp.MustCompile(`\bNUCLEUS_[A-Z_]+\b`)
	for _, tt := range []struct{ program, page string }{
		{"nucleus-generator", "nucleus-generator.8"},
		{"nucleus-exec", "nucleus-exec.8"},
	} {
		t.Run(tt.program, func(t *testing.T) {
			help, err := exec.Command(filepath.Join(bin, tt.program), "--help").Output()
			if err != nil {
				t.Fatalf("%s --help: %v", tt.program, err)
			}
			cmd := exec.Command("man", "-l", tt.page)
			cmd.Env = append(os.Environ(), "MANWIDTH=200", "LC_ALL=C.UTF-8")
			page, err := cmd.Output()
			if err != nil {
				t.Fatalf("man -l %s: %v", tt.page, err)
			}
			var names []string
			for _, m := range option.FindAllStringSubmatch(string(help), -1) {
				// Go's flag package prints -name; the pages write --name
				// for long options, as users type them.
				name := m[1]
				if len(strings.TrimLeft(name, "-")) > 1 {
					name = "--" + strings.TrimLeft(name, "-")
				}
				names = append(names, name)
			}
			names = append(names, envVar.FindAllString(string(help), -1)...)
			slices.Sort(names)
			names = slices.Compact(names)
			if len(names) == 0 {
				t.Fatalf("found no option in %s --help:\n%s", tt.program, help)
			}
			for _, n := range names {
				if !strings.Contains(string(page), n) {
					t.Errorf("%s --help names %s; %s does not", tt.program, n, tt.page)
				}
			}
		})
	}
}
