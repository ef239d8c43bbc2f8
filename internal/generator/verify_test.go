package generator

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// systemdAnalyze is systemd 252's, installed with systemd on these machines.
const systemdAnalyze = "/usr/bin/systemd-analyze"

// verifyUnits runs `systemd-analyze verify` on units and returns its
// combined output and whether it passed. It passes only with exit status 0
// AND no output: verify reports unknown keys and unparsable values as
// "…, ignoring." warnings with status 0, and those are bugs here too.
//
// Setup verify needs: every ExecStart= binary must exist and be executable
// (a stub stands in for nucleus-exec); units named in Requires= must load
// (stubDir has them); SYSTEMD_UNIT_PATH puts the output directory and the
// stubs before the system's unit path (the trailing ':' appends it, for
// multi-user.target and friends). nucleus.slice needs no file: systemd
// synthesizes slice units. With --man=yes verify also runs `man` for
// Documentation=; MANPATH points at the project's own nucleus.toml(5) (man/
// in the repository). That is one `man` run per unit, and every unit has
// the same Documentation=, so the corpus is checked with --man=no and one
// unit with --man=yes.
func verifyUnits(t *testing.T, unitDir, stubDir, manDir string, units []string) (string, bool) {
	return verifyUnitsMan(t, unitDir, stubDir, manDir, "no", units)
}

func verifyUnitsMan(t *testing.T, unitDir, stubDir, manDir, man string, units []string) (string, bool) {
	t.Helper()
	if _, err := os.Stat(systemdAnalyze); err != nil {
		t.Fatalf("systemd-analyze is required for this test (apt-get install systemd): %v", err)
	}
	cmd := exec.Command(systemdAnalyze, append([]string{"verify", "--man=" + man}, units...)...)
	cmd.Dir = unitDir
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+unitDir+":"+stubDir+":", "MANPATH="+manDir, "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && len(bytes.TrimSpace(out)) == 0
}

func writeStub(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// TestSystemdAnalyzeVerify generates the whole valid golden corpus in one
// run and has systemd itself check every unit.
func TestSystemdAnalyzeVerify(t *testing.T) {
	tmp := t.TempDir()
	specDir, outDir, stubDir := filepath.Join(tmp, "specs"), filepath.Join(tmp, "out"), filepath.Join(tmp, "stubs")
	for _, d := range []string{specDir, stubDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	execPath := filepath.Join(tmp, "nucleus-exec")
	writeStub(t, execPath, "#!/bin/sh\nexit 0\n", 0o755)
	manDir := filepath.Join(tmp, "man")
	if err := os.MkdirAll(filepath.Join(manDir, "man5"), 0o755); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../../man/nucleus.toml.5")
	if err != nil {
		t.Fatalf("the units' Documentation= page: %v", err)
	}
	writeStub(t, filepath.Join(manDir, "man5", "nucleus.toml.5"), string(page), 0o644)
	// Dependencies of the corpus's [unit] requires/wants (other specs).
	for _, dep := range []string{"db.service", "cache.service"} {
		writeStub(t, filepath.Join(stubDir, dep), "[Service]\nExecStart=/bin/true\n", 0o644)
	}

	var want []string
	for _, c := range loadGoldenCases(t) {
		if !c.failed {
			c.setupSpecDir(t, specDir)
			want = append(want, c.name+".service")
		}
	}
	var logBuf bytes.Buffer
	failed := Run(Config{NormalDir: outDir, SpecDirs: []string{specDir}, UnitDirs: []string{filepath.Join(tmp, "none")},
		ExecPath: execPath, Out: io.Discard, Log: stderrLog(&logBuf, false)})
	if failed != 0 {
		t.Fatalf("generator failed on the valid corpus:\n%s", logBuf.String())
	}
	units, _ := filepath.Glob(filepath.Join(outDir, "*.service"))
	if len(units) != len(want) || len(units) < 30 {
		t.Fatalf("generated %d units, want %d (valid golden specs)", len(units), len(want))
	}
	if out, ok := verifyUnits(t, outDir, stubDir, manDir, units); !ok {
		t.Errorf("systemd-analyze verify rejects generated units:\n%s", out)
	}
	if out, ok := verifyUnitsMan(t, outDir, stubDir, manDir, "yes", units[:1]); !ok {
		t.Errorf("systemd-analyze verify --man=yes rejects %s:\n%s", units[0], out)
	}

	// Negative controls: the same harness must catch both a hard error
	// (exit status) and a directive systemd ignores with a warning.
	for name, body := range map[string]string{
		"bad-exec.service":  "[Service]\nExecStart=" + filepath.Join(tmp, "missing") + "\n",
		"bad-value.service": "[Service]\nExecStart=" + execPath + "\nMemoryMax=12Q\n",
		"bad-key.service":   "[Service]\nExecStart=" + execPath + "\nMemroyMax=1G\n",
	} {
		p := filepath.Join(outDir, name)
		writeStub(t, p, body, 0o644)
		if out, ok := verifyUnits(t, outDir, stubDir, manDir, []string{p}); ok {
			t.Errorf("verify harness accepted broken unit %s (output %q)", name, out)
		}
	}
}
