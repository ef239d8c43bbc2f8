package sandbox_test

import (
	"fmt"
	"strconv"
	"testing"
)

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }
func itoa(i int) string                 { return strconv.Itoa(i) }

func runProbe(mode string, args []string) int { fmt.Println("probe", mode, args); return 0 }
func runHelper(mode string) int               { return 0 }

func TestSmoke(t *testing.T) {
	r := run(t, newSpec(t, "/bin/busybox", "sh", "-c", "echo hello; id; hostname; cat /proc/self/status | grep -i cap; ls /proc; mount; exit 3"))
	t.Logf("status=%d\nstdout=%s\nstderr=%s\nlogs=%v", r.status, r.stdout, r.stderr, r.logs)
}
