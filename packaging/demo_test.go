package packaging

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDemo runs `make demo`'s script against a throw-away systemd (never the
// host's, even where PID 1 is systemd) and checks what CI checks: exit 0
// and the final line saying web.service reached its ready state.
func TestDemo(t *testing.T) {
	cmd := exec.Command("./scripts/demo.sh")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "NUCLEUS_DEMO_TARGET=harness")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/demo.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "demo: web.service reached ready state") {
		t.Fatalf("last line %q; output:\n%s", last, out)
	}
	for _, want := range []string{
		"Active: active (running)",             // systemctl status
		"GET http://127.0.0.1:8080/ -> 200 OK", // inside the container's netns
		"Started web.service",                  // the journal
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
