package generator

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWriteFailure: a unit that cannot be written is an error for that
// spec only; the others are still installed.
func TestRunWriteFailure(t *testing.T) {
	tmp := t.TempDir()
	specDir, outDir := filepath.Join(tmp, "specs"), filepath.Join(tmp, "out")
	for _, d := range []string{specDir, filepath.Join(outDir, "blocked.service", "x")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"blocked", "fine"} {
		if err := os.WriteFile(filepath.Join(specDir, name+".toml"), []byte("[exec]\ncommand = [\"/bin/true\"]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	failed := Run(Config{NormalDir: outDir, SpecDirs: []string{specDir}, ExecPath: testExecPath,
		Out: io.Discard, Log: stderrLog(&log, false)})
	if failed != 1 {
		t.Errorf("failed = %d, want 1", failed)
	}
	want := "nucleus-generator: " + filepath.Join(specDir, "blocked.toml") + ": cannot write " + filepath.Join(outDir, "blocked.service") + ": rename "
	if !strings.HasPrefix(log.String(), want) || strings.Count(log.String(), "\n") != 1 {
		t.Errorf("log = %q, want one line starting %q", log.String(), want)
	}
	if _, err := os.Stat(filepath.Join(outDir, "fine.service")); err != nil {
		t.Errorf("the other spec's unit: %v", err)
	}
	if _, err := os.Readlink(filepath.Join(outDir, "multi-user.target.wants", "fine.service")); err != nil {
		t.Errorf("the other spec's link: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(outDir, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}
