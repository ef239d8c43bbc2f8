package sandbox_test

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOnlyStdioInherited: the workload gets descriptors 0, 1 and 2 only.
// Not init's end of the control socket (a workload holding it could read
// the supervisor's requests and forge probe results and log lines), not a
// descriptor the supervisor itself inherited without close-on-exec (the
// test opens one before starting the container).
func TestOnlyStdioInherited(t *testing.T) {
	stray, err := unix.Open("/dev/null", unix.O_RDONLY, 0) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(stray)
	r := run(t, newSpec(t, "/bin/busybox", "ls", "-l", "/proc/self/fd/"))
	if r.status != 0 {
		t.Fatalf("status %d stderr %q", r.status, r.stderr)
	}
	fds := 0
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		// "lrwx------ 1 root root 64 Nov 27 02:39 3 -> socket:[2599668]"
		if len(f) < 9 || !strings.HasPrefix(f[0], "l") {
			continue
		}
		fds++
		fd, target := f[8], ""
		if len(f) >= 11 {
			target = f[10]
		}
		switch {
		case fd == "0" || fd == "1" || fd == "2":
		case target == "" || strings.HasPrefix(target, "/proc/"):
			// ls's own handle on the directory it lists (closed by the
			// time it reads the link).
		default:
			t.Errorf("the workload inherited descriptor %s -> %s", fd, target)
		}
	}
	if fds < 3 {
		t.Fatalf("listed %d descriptors, want at least stdio:\n%s", fds, r.stdout)
	}
}
