package sandbox_test

import (
	"os"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
)

// TestMain makes the test binary act as nucleus-exec: re-executed as a
// sandbox stage it becomes init or the exec stage; started inside a
// container with NUCLEUS_TEST_PROBE set it runs that probe program.
func TestMain(m *testing.M) {
	sandbox.MaybeInit()
	if mode := os.Getenv(probeEnv); mode != "" {
		os.Exit(runProbe(mode, os.Args[1:]))
	}
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}
