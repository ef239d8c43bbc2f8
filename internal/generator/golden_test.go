package generator

// Golden tests in the style of Podman Quadlet's test/e2e/quadlet: each
// testdata/golden/NAME.toml (with its NAME.toml.d/ drop-ins) is one case.
// A valid spec has NAME.service, the exact expected unit; a refused one has
// NAME.err, the exact expected log lines. Comment lines starting with "## "
// in the spec carry assertions that say what the case is about:
//
//	## assert-key-is SECTION KEY VALUE   (VALUE may be Go-quoted; any occurrence)
//	## assert-key-missing SECTION KEY
//	## assert-symlink LINK TARGET        (relative to normal-dir; default: multi-user.target)
//	## assert-no-symlinks
//	## assert-failed                     (no unit, errors logged, Run counts a failure)
//	## assert-stderr-contains TEXT
//	## chmod MODE                        (set the copied spec file's mode first)
//
// Regenerate the goldens with: go test ./internal/generator -run Golden -update

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/golden"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

const (
	goldenDir    = "testdata/golden"
	testExecPath = "/usr/libexec/nucleus/nucleus-exec"
)

var hashRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

type goldenCase struct {
	name    string   // NAME
	main    string   // testdata path of NAME.toml
	dropIns []string // testdata paths, lexical order
	asserts [][]string
	mode    fs.FileMode
	failed  bool
}

func loadGoldenCases(t *testing.T) []goldenCase {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(goldenDir, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []goldenCase
	for _, m := range mains {
		c := goldenCase{name: strings.TrimSuffix(filepath.Base(m), ".toml"), main: m, mode: 0o644}
		c.dropIns, _ = filepath.Glob(m + ".d/*.toml")
		sort.Strings(c.dropIns)
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line, ok := strings.CutPrefix(sc.Text(), "## ")
			if !ok {
				continue
			}
			f := splitAssertion(line)
			switch f[0] {
			case "assert-failed":
				c.failed = true
			case "chmod":
				mode, err := strconv.ParseUint(f[1], 8, 32)
				if err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				c.mode = fs.FileMode(mode)
			case "assert-key-is", "assert-key-missing", "assert-symlink", "assert-no-symlinks", "assert-stderr-contains":
				c.asserts = append(c.asserts, f)
			default:
				if strings.HasPrefix(f[0], "assert-") {
					t.Fatalf("%s: unknown assertion %q", m, f[0])
				}
			}
		}
		cases = append(cases, c)
	}
	return cases
}

// splitAssertion splits on blanks; a field starting with '"' is Go-unquoted
// and runs to the end of the line.
func splitAssertion(line string) []string {
	var f []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			if s, err := strconv.Unquote(line); err == nil {
				return append(f, s)
			}
		}
		w, rest, _ := strings.Cut(line, " ")
		f = append(f, w)
		line = rest
	}
	return f
}

// setupSpecDir copies the case's files into a fresh spec directory, owned
// by the test's user (root here) with the case's mode.
func (c goldenCase) setupSpecDir(t *testing.T, dir string) {
	t.Helper()
	cp := func(src, dst string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dst, c.mode); err != nil { // umask-proof
			t.Fatal(err)
		}
	}
	cp(c.main, filepath.Join(dir, c.name+".toml"))
	if len(c.dropIns) > 0 {
		dd := filepath.Join(dir, c.name+".toml.d")
		if err := os.Mkdir(dd, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, d := range c.dropIns {
			cp(d, filepath.Join(dd, filepath.Base(d)))
		}
	}
}

// runCase generates one case into a fresh normal-dir and returns the
// directory, the number of failures and the log.
func runCase(t *testing.T, c goldenCase, execPath string) (specDir, outDir string, failed int, log string) {
	t.Helper()
	tmp := t.TempDir()
	specDir, outDir = filepath.Join(tmp, "specs"), filepath.Join(tmp, "out")
	if err := os.Mkdir(specDir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.setupSpecDir(t, specDir)
	unitDir, err := filepath.Abs("testdata/unitdirs/etc")
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	failed = Run(Config{
		NormalDir: outDir,
		SpecDirs:  []string{specDir},
		UnitDirs:  []string{unitDir, filepath.Join(tmp, "no-such-unit-dir")},
		ExecPath:  execPath,
		Out:       io.Discard,
		Log:       stderrLog(&logBuf, false),
	})
	norm := strings.NewReplacer(specDir, "@SPECDIR@", unitDir, "@UNITDIR@")
	return specDir, outDir, failed, norm.Replace(logBuf.String())
}

func TestGolden(t *testing.T) {
	cases := loadGoldenCases(t)
	if len(cases) < 40 {
		t.Errorf("golden corpus has %d specs, want at least 40", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			specDir, outDir, failed, log := runCase(t, c, testExecPath)
			unitPath := filepath.Join(outDir, c.name+".service")
			unitData, unitErr := os.ReadFile(unitPath)
			goldenService := filepath.Join(goldenDir, c.name+".service")
			goldenErr := filepath.Join(goldenDir, c.name+".err")

			if c.failed {
				if failed == 0 {
					t.Errorf("Run reported no failure")
				}
				if unitErr == nil {
					t.Errorf("a unit was written for a refused spec:\n%s", unitData)
				}
				if links := symlinks(t, outDir); len(links) > 0 {
					t.Errorf("links written for a refused spec: %v", links)
				}
				golden.Check(t, goldenErr, []byte(log))
				if _, err := os.Stat(goldenService); err == nil {
					t.Errorf("stale golden %s for a refused spec", goldenService)
				}
			} else {
				if failed != 0 || log != "" {
					t.Fatalf("Run failed %d times:\n%s", failed, log)
				}
				if unitErr != nil {
					t.Fatal(unitErr)
				}
				// The hash on ExecStart= is the spec's: check it, then hide it
				// (it covers the temporary paths).
				sources := append([]string{filepath.Join(specDir, c.name+".toml")}, dropInPaths(specDir, c)...)
				hash, err := spec.Hash(sources)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Contains(unitData, []byte("--hash="+hash+" ")) {
					t.Errorf("unit does not carry the spec hash %s", hash)
				}
				norm := hashRE.ReplaceAllString(strings.ReplaceAll(string(unitData), specDir, "@SPECDIR@"), "sha256:@HASH@")
				golden.Check(t, goldenService, []byte(norm))
				if _, err := os.Stat(goldenErr); err == nil {
					t.Errorf("stale golden %s for a valid spec", goldenErr)
				}
				checkLinks(t, c, outDir)
			}
			for _, a := range c.asserts {
				checkAssertion(t, a, string(unitData), log)
			}
		})
	}
	// Every golden belongs to a case.
	outs, _ := filepath.Glob(filepath.Join(goldenDir, "*.service"))
	errs, _ := filepath.Glob(filepath.Join(goldenDir, "*.err"))
	outs = append(outs, errs...)
	names := map[string]bool{}
	for _, c := range cases {
		names[c.name] = true
	}
	for _, o := range outs {
		base := filepath.Base(o)
		stem := strings.TrimSuffix(strings.TrimSuffix(base, ".service"), ".err")
		if !names[stem] {
			t.Errorf("golden %s has no spec %s.toml", o, stem)
		}
	}
}

func dropInPaths(specDir string, c goldenCase) []string {
	var out []string
	for _, d := range c.dropIns {
		out = append(out, filepath.Join(specDir, c.name+".toml.d", filepath.Base(d)))
	}
	return out
}

// symlinks lists "LINK TARGET" for every symlink under dir.
func symlinks(t *testing.T, dir string) []string {
	t.Helper()
	var links []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			rel, _ := filepath.Rel(dir, p)
			links = append(links, rel+" "+target)
		}
		return nil
	})
	sort.Strings(links)
	return links
}

func checkLinks(t *testing.T, c goldenCase, outDir string) {
	t.Helper()
	var want []string
	explicit := false
	for _, a := range c.asserts {
		switch a[0] {
		case "assert-symlink":
			want = append(want, a[1]+" "+a[2])
			explicit = true
		case "assert-no-symlinks":
			explicit = true
		}
	}
	if !explicit {
		want = []string{"multi-user.target.wants/" + c.name + ".service ../" + c.name + ".service"}
	}
	sort.Strings(want)
	got := symlinks(t, outDir)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("links = %q, want %q", got, want)
	}
	for _, l := range got {
		link, _, _ := strings.Cut(l, " ")
		if _, err := os.Stat(filepath.Join(outDir, link)); err != nil {
			t.Errorf("link %s does not resolve: %v", link, err)
		}
	}
}

// unitValues returns the values of KEY in [SECTION] (specifiers "%%" read
// back as "%"), by plain line matching: the unit package's tests check the
// full systemd syntax.
func unitValues(unit, section, key string) []string {
	var vals []string
	cur := ""
	for _, line := range strings.Split(unit, "\n") {
		if strings.HasPrefix(line, "[") {
			cur = strings.Trim(line, "[]")
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && cur == section && k == key {
			vals = append(vals, strings.ReplaceAll(v, "%%", "%"))
		}
	}
	return vals
}

func checkAssertion(t *testing.T, a []string, unit, log string) {
	t.Helper()
	switch a[0] {
	case "assert-key-is":
		if len(a) != 4 {
			t.Fatalf("assert-key-is needs SECTION KEY VALUE: %q", a)
		}
		vals := unitValues(unit, a[1], a[2])
		for _, v := range vals {
			if v == a[3] {
				return
			}
		}
		t.Errorf("[%s] %s = %q, want %q", a[1], a[2], vals, a[3])
	case "assert-key-missing":
		if vals := unitValues(unit, a[1], a[2]); len(vals) > 0 {
			t.Errorf("[%s] %s = %q, want it absent", a[1], a[2], vals)
		}
	case "assert-stderr-contains":
		if !strings.Contains(log, a[1]) {
			t.Errorf("log does not contain %q:\n%s", a[1], log)
		}
	}
}
