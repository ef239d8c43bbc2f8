package sandbox

import (
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWaitExit: waitExit returns once the pidfd's process has exited,
// whether that happens while it waits or already happened before (the
// poller's edge then came before waitExit armed it), and the process is
// still there to be collected with its status.
func TestWaitExit(t *testing.T) {
	cases := []struct {
		name        string
		argv        []string
		exitedFirst bool
		want        int
	}{
		{"exits while waiting", []string{"/bin/busybox", "sh", "-c", "busybox sleep 0.2; exit 3"}, false, 3},
		{"exited before", []string{"/bin/busybox", "sh", "-c", "exit 4"}, true, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pidfd := -1
			pid, err := syscall.ForkExec(tc.argv[0], tc.argv, &syscall.ProcAttr{
				Files: []uintptr{0, 1, 2}, Sys: &syscall.SysProcAttr{PidFD: &pidfd}})
			if err != nil {
				t.Fatal(err)
			}
			if err := unix.SetNonblock(pidfd, true); err != nil {
				t.Fatal(err)
			}
			f := os.NewFile(uintptr(pidfd), "pidfd")
			defer f.Close()
			if tc.exitedFirst {
				// Exited, not yet collected: WNOWAIT leaves it a zombie.
				var info unix.Siginfo
				if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := waitExit(f); err != nil {
				t.Fatalf("waitExit: %v", err)
			}
			var ws syscall.WaitStatus
			if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); got != pid || err != nil {
				t.Fatalf("wait4 after waitExit: pid %d err %v: the process had not exited", got, err)
			}
			if ws.ExitStatus() != tc.want {
				t.Errorf("status %d, want %d", ws.ExitStatus(), tc.want)
			}
		})
	}
}
