package notify

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/notify/notifytest"
)

// TestMain doubles as the sender process of the relay tests: with
// NOTIFY_TEST_SEND set, the test binary sends that datagram to
// $NOTIFY_TEST_SOCKET from its own pid, then waits for a BARRIER=1 to be
// answered the way systemd-notify does, and exits.
func TestMain(m *testing.M) {
	if msg, ok := os.LookupEnv("NOTIFY_TEST_SEND"); ok {
		if err := notifytest.SendWithBarrier(os.Getenv("NOTIFY_TEST_SOCKET"), msg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sendFromChild runs the sender in a child process and waits until the relay
// has handled its datagram (the barrier), returning the child's pid.
func sendFromChild(t *testing.T, socket, msg string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NOTIFY_TEST_SEND="+msg, "NOTIFY_TEST_SOCKET="+socket,
		"GORACE=atexit_sleep_ms=0") // -race binaries otherwise linger 1 s at exit
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sender: %v", err)
	}
	return pid
}

type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) log(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestRelay(t *testing.T) {
	// An unrelated process stands in for another container's init.
	outsider := exec.Command("sleep", "600")
	if err := outsider.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outsider.Process.Kill(); _ = outsider.Wait() })

	self := os.Getpid()
	for _, tc := range []struct {
		name          string
		root          int // the container's init; senders are children of this test
		allowWatchdog bool
		send          string
		want          []string // nil: nothing delivered
		wantLog       []string
	}{
		{
			name: "ready and status from a process of the container",
			root: self,
			send: "READY=1\nSTATUS=listening on 8080",
			want: []string{"READY=1", "STATUS=listening on 8080"},
		},
		{
			name:    "MAINPID and unknown keys dropped and logged",
			root:    self,
			send:    "MAINPID=1\nREADY=1\nFDSTORE=1\nEXTEND_TIMEOUT_USEC=5000000\nEXTEND_TIMEOUT_USEC=soon",
			want:    []string{"READY=1", "EXTEND_TIMEOUT_USEC=5000000"},
			wantLog: []string{"MAINPID=", "FDSTORE=", `EXTEND_TIMEOUT_USEC="soon"`},
		},
		{
			name:    "WATCHDOG=1 dropped when [health] drives the watchdog",
			root:    self,
			send:    "WATCHDOG=1\nSTATUS=fine",
			want:    []string{"STATUS=fine"},
			wantLog: []string{"dropped WATCHDOG=1"},
		},
		{
			name:          "WATCHDOG=1 relayed without [health]",
			root:          self,
			allowWatchdog: true,
			send:          "WATCHDOG=1",
			want:          []string{"WATCHDOG=1"},
		},
		{
			name:    "a process of another container is refused",
			root:    outsider.Process.Pid,
			send:    "READY=1",
			want:    nil,
			wantLog: []string{"not a process of this container"},
		},
		{
			name:    "nothing allowed: nothing delivered",
			root:    self,
			send:    "MAINPID=42",
			want:    nil,
			wantLog: []string{"MAINPID="},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logRecorder{}
			relay, err := NewRelay(t.TempDir(), "web", logs.log)
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			ctx, cancel := context.WithCancel(context.Background())
			var checked []int
			policy := RelayPolicy{
				Member: func(pid int) error {
					checked = append(checked, pid)
					return ProcessTree(tc.root)(pid)
				},
				AllowWatchdog: tc.allowWatchdog,
			}
			var got [][]string
			done := make(chan error)
			go func() {
				done <- relay.Serve(ctx, policy, func(a []string) { got = append(got, a) })
			}()
			// Serve handles the datagram before it answers the barrier,
			// so once the sender exits everything was delivered.
			pid := sendFromChild(t, relay.Path(), tc.send)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(checked) == 0 || checked[0] != pid {
				t.Errorf("credentials checked for pids %v, want the sender %d first", checked, pid)
			}
			var want [][]string
			if tc.want != nil {
				want = [][]string{tc.want}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("delivered %q, want %q", got, want)
			}
			for _, w := range tc.wantLog {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log %q does not mention %q", logs.String(), w)
				}
			}
			if len(tc.wantLog) == 0 && logs.String() != "" {
				t.Errorf("unexpected log %q", logs.String())
			}
		})
	}
}

func TestRelaySocketIsPrivate(t *testing.T) {
	relay, err := NewRelay(t.TempDir(), "web", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	dirInfo, err := os.Stat(relay.dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := dirInfo.Mode().Perm(); perm != 0o700 {
		t.Errorf("relay directory mode %o, want 700", perm)
	}
	sockInfo, err := os.Stat(relay.Path())
	if err != nil {
		t.Fatal(err)
	}
	if sockInfo.Mode()&os.ModeSocket == 0 || sockInfo.Mode().Perm() != 0o666 {
		t.Errorf("relay socket mode %v, want a socket with 666 (the workload's user sends)", sockInfo.Mode())
	}
	if err := relay.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(relay.dir); !os.IsNotExist(err) {
		t.Errorf("relay directory left behind after Close: %v", err)
	}
}

func TestProcessTree(t *testing.T) {
	child := exec.Command("sleep", "600")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	self := os.Getpid()
	for _, tc := range []struct {
		name    string
		root    int
		pid     int
		wantErr string // "" = member
	}{
		{"root itself", self, self, ""},
		{"child of root", self, child.Process.Pid, ""},
		{"parent of root", child.Process.Pid, self, "not a process of this container"},
		{"sibling tree", child.Process.Pid, os.Getppid(), "not a process of this container"},
		{"pid 1", self, 1, "not a process of this container"},
		{"gone", self, 1 << 30, "the sender exited before it could be checked"},
	} {
		err := ProcessTree(tc.root)(tc.pid)
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: ProcessTree(%d)(%d) = %v, want %q", tc.name, tc.root, tc.pid, err, tc.wantErr)
		}
	}
}
