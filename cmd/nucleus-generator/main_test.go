package main

// End-to-end tests of the built binary, run the way systemd runs it.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

var binary string // built once in TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nucleus-generator-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "nucleus-generator")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type env struct {
	root, specs, kmsg string
}

// newEnv makes a spec directory with the given files (path → content,
// mode 0644) and an empty kernel-log stand-in.
func newEnv(t *testing.T, files map[string]string) env {
	t.Helper()
	root := t.TempDir()
	e := env{root: root, specs: filepath.Join(root, "specs"), kmsg: filepath.Join(root, "kmsg")}
	for p, content := range files {
		full := filepath.Join(e.specs, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(e.specs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.kmsg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs the binary with the test environment; kmsg "" means the
// kernel-log path cannot be opened (stderr fallback).
func (e env) run(t *testing.T, kmsg string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	if kmsg == "" {
		kmsg = filepath.Join(e.root, "no-such-dir", "kmsg")
	}
	cmd.Env = append(os.Environ(),
		"NUCLEUS_SPEC_DIRS="+e.specs,
		"NUCLEUS_UNIT_DIRS="+filepath.Join(e.root, "units"),
		"NUCLEUS_EXEC_PATH=/opt/test/nucleus-exec",
		"NUCLEUS_GENERATOR_KMSG="+kmsg,
	)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, so.String(), se.String()
}

// tree lists every path under dir, "/"-suffixed for directories and
// "-> target" for links.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case rel == ".":
		case d.IsDir():
			out = append(out, rel+"/")
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		default:
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

const (
	goodSpec = "[exec]\ncommand = [\"/bin/sleep\", \"infinity\"]\n"
	badSpec  = "[exec]\ncommand = [\"/bin/true\"]\n[resources]\nmemroy = \"1G\"\npids = 0\n"
)

var specs = map[string]string{
	"alpha.toml":              goodSpec,
	"beta.toml":               goodSpec + "[unit]\nwanted_by = [\"multi-user.target\", \"graphical.target\"]\n",
	"beta.toml.d/10-a.toml":   "description = \"beta with a drop-in\"\n",
	"broken.toml":             badSpec,
	"manual.toml":             goodSpec + "[unit]\nwanted_by = []\n",
	"README.md":               "not a spec",
	"zeta.toml.d/orphan.toml": goodSpec,
}

func TestGeneratorRun(t *testing.T) {
	e := newEnv(t, specs)
	normal, early, late := filepath.Join(e.root, "normal"), filepath.Join(e.root, "early"), filepath.Join(e.root, "late")
	code, stdout, stderr := e.run(t, e.kmsg, normal, early, late)
	if code != 1 {
		t.Errorf("exit status %d, want 1 (one spec is broken)", code)
	}
	if stdout != "" || stderr != "" {
		t.Errorf("wrote to stdout/stderr while /dev/kmsg worked:\n%s\n%s", stdout, stderr)
	}
	wantTree := []string{
		"alpha.service",
		"beta.service",
		"graphical.target.wants/",
		"graphical.target.wants/beta.service -> ../beta.service",
		"manual.service",
		"multi-user.target.wants/",
		"multi-user.target.wants/alpha.service -> ../alpha.service",
		"multi-user.target.wants/beta.service -> ../beta.service",
	}
	if got := tree(t, normal); strings.Join(got, "\n") != strings.Join(wantTree, "\n") {
		t.Errorf("normal-dir:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantTree, "\n"))
	}
	for _, d := range []string{early, late} {
		if _, err := os.Lstat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s was touched (%v): a generator writes only into normal-dir", d, err)
		}
	}
	unit, err := os.ReadFile(filepath.Join(normal, "beta.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Description=beta with a drop-in\n",
		"ExecStart=/opt/test/nucleus-exec run --hash=sha256:",
		" " + filepath.Join(e.specs, "beta.toml") + " " + filepath.Join(e.specs, "beta.toml.d", "10-a.toml") + "\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("beta.service lacks %q:\n%s", want, unit)
		}
	}
	if st, err := os.Stat(filepath.Join(normal, "alpha.service")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("alpha.service mode: %v %v, want 0644", st.Mode(), err)
	}

	kmsg, err := os.ReadFile(e.kmsg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(kmsg), "\n"), "\n")
	record := regexp.MustCompile(`^<3>nucleus-generator\[[0-9]+\]: (.*)$`)
	var msgs []string
	for _, l := range lines {
		m := record.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("kernel log record %q is not <3>nucleus-generator[PID]: msg", l)
		}
		msgs = append(msgs, m[1])
	}
	broken := filepath.Join(e.specs, "broken.toml")
	wantMsgs := []string{
		filepath.Join(e.specs, "zeta.toml.d") + ": drop-in directory without a spec: no zeta.toml in any spec directory",
		broken + `:4: [resources] memroy: unknown key (did you mean "memory"?)`,
		broken + ":5: [resources] pids: must be between 1 and 4194304, not 0",
		broken + ": no unit written for broken",
	}
	if strings.Join(msgs, "\n") != strings.Join(wantMsgs, "\n") {
		t.Errorf("kernel log:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(wantMsgs, "\n"))
	}
}

func TestGeneratorOneArgumentAndNoSpecs(t *testing.T) {
	e := newEnv(t, map[string]string{"alpha.toml": goodSpec})
	normal := filepath.Join(e.root, "normal")
	if code, _, stderr := e.run(t, e.kmsg, normal); code != 0 {
		t.Fatalf("one argument: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(normal, "alpha.service")); err != nil {
		t.Error(err)
	}

	empty := newEnv(t, nil)
	if code, stdout, stderr := empty.run(t, empty.kmsg, filepath.Join(empty.root, "normal")); code != 0 || stdout != "" || stderr != "" {
		t.Errorf("no specs: exit %d, stdout %q, stderr %q; want 0 and silence", code, stdout, stderr)
	}
	if kmsg, _ := os.ReadFile(empty.kmsg); len(kmsg) != 0 {
		t.Errorf("no specs logged %q", kmsg)
	}
}

func TestGeneratorShadowAndStderrFallback(t *testing.T) {
	e := newEnv(t, map[string]string{"ssh.toml": goodSpec, "alpha.toml": goodSpec})
	if err := os.MkdirAll(filepath.Join(e.root, "units"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.root, "units", "ssh.service"), []byte("[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	normal := filepath.Join(e.root, "normal")
	code, _, stderr := e.run(t, "", normal) // kernel log not writable
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "nucleus-generator: " + filepath.Join(e.specs, "ssh.toml") + ": " + filepath.Join(e.root, "units", "ssh.service") +
		" already exists: a spec must not shadow a real unit; rename the spec\n"
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q, want it to start with %q", stderr, want)
	}
	if got := tree(t, normal); strings.Join(got, " ") != "alpha.service multi-user.target.wants/ multi-user.target.wants/alpha.service -> ../alpha.service" {
		t.Errorf("normal-dir = %q", got)
	}
}

func TestGeneratorDryRun(t *testing.T) {
	e := newEnv(t, specs)
	normal := filepath.Join(e.root, "normal")
	code, stdout, stderr := e.run(t, e.kmsg, "--dry-run", normal)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if _, err := os.Lstat(normal); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--dry-run created %s", normal)
	}
	if kmsg, _ := os.ReadFile(e.kmsg); len(kmsg) != 0 {
		t.Errorf("--dry-run logged to the kernel log: %q", kmsg)
	}
	for _, want := range []string{
		"# " + filepath.Join(normal, "alpha.service") + "\n# Automatically generated by nucleus-generator",
		"# " + filepath.Join(normal, "graphical.target.wants", "beta.service") + " -> ../beta.service\n",
		"# " + filepath.Join(normal, "manual.service") + "\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "nucleus-generator: "+filepath.Join(e.specs, "broken.toml")+":4: [resources] memroy: unknown key") {
		t.Errorf("stderr lacks the spec error:\n%s", stderr)
	}

	// --spec-dir replaces the directories; no normal-dir names the
	// default one.
	other := newEnv(t, map[string]string{"solo.toml": goodSpec})
	code, stdout, _ = e.run(t, e.kmsg, "--dry-run", "--spec-dir", other.specs)
	if code != 0 || !strings.HasPrefix(stdout, "# /run/systemd/generator/solo.service\n") || strings.Contains(stdout, "alpha") {
		t.Errorf("--spec-dir: exit %d, stdout:\n%s", code, stdout)
	}

	// A relative spec directory is resolved against the working directory:
	// units name their specs by absolute path.
	cmd := exec.Command(binary, "--dry-run", "--spec-dir", "specs")
	cmd.Dir = other.root
	cmd.Env = append(os.Environ(), "NUCLEUS_UNIT_DIRS="+filepath.Join(other.root, "units"), "NUCLEUS_EXEC_PATH=/opt/test/nucleus-exec")
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "\nSourcePath="+filepath.Join(other.specs, "solo.toml")+"\n") {
		t.Errorf("--spec-dir specs (relative): %v\n%s", err, out)
	}
}

func TestGeneratorUsage(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		args       []string
		code       int
		stdoutHas  string
		stderrHas  string
		quietOther bool
	}{
		{[]string{"--help"}, 0, "Usage: nucleus-generator", "", true},
		{[]string{"--version"}, 0, "nucleus-generator ", "", true},
		{nil, 2, "", "expected normal-dir", false},
		{[]string{"a", "b", "c", "d"}, 2, "", "expected normal-dir", false},
		{[]string{"--no-such-flag", "x"}, 2, "", "flag provided but not defined", false},
	}
	for _, tt := range tests {
		code, stdout, stderr := e.run(t, e.kmsg, tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.stdoutHas) || !strings.Contains(stderr, tt.stderrHas) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tt.args, code, stdout, stderr)
		}
		if tt.quietOther && stderr != "" {
			t.Errorf("%q wrote to stderr: %q", tt.args, stderr)
		}
	}
	code, _, stderr := e.run(t, "", "-v", filepath.Join(e.root, "normal"))
	if code != 0 || !strings.Contains(stderr, "nucleus-generator: spec directories: "+e.specs) {
		t.Errorf("-v: exit %d, stderr %q", code, stderr)
	}
}

// TestGeneratorOverlappingRuns runs the generator concurrently into one
// normal-dir: thanks to temp file + rename every unit is always whole.
func TestGeneratorOverlappingRuns(t *testing.T) {
	files := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		files[n+".toml"] = goodSpec
	}
	e := newEnv(t, files)
	normal := filepath.Join(e.root, "normal")
	var wg sync.WaitGroup
	codes := make([]int, 4)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _ = e.run(t, e.kmsg, normal)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 {
			t.Errorf("run %d: exit %d", i, c)
		}
	}
	ref, err := os.ReadFile(filepath.Join(normal, "a.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tree(t, normal) {
		if strings.HasPrefix(filepath.Base(p), ".") {
			t.Errorf("temporary file left behind: %s", p)
		}
		if strings.HasSuffix(p, ".service") && !strings.Contains(p, "->") {
			data, err := os.ReadFile(filepath.Join(normal, p))
			if err != nil {
				t.Fatal(err)
			}
			// Units differ only in NAME; a torn write would differ in length.
			if len(data) != len(ref) {
				t.Errorf("%s is %d bytes, a.service %d", p, len(data), len(ref))
			}
		}
	}
	if kmsg, _ := os.ReadFile(e.kmsg); len(kmsg) != 0 {
		t.Errorf("overlapping runs logged %q", kmsg)
	}
}
