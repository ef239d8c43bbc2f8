package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/notify/notifytest"
	"github.com/nucleus-containers/nucleus/internal/probe"
	"github.com/nucleus-containers/nucleus/internal/probe/probetest"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestMain doubles as a workload process sending to its NOTIFY_SOCKET:
// with SUPERVISOR_TEST_SEND set, it sends each "|"-separated datagram to
// $SUPERVISOR_TEST_SOCKET, then a BARRIER=1 as systemd-notify does, and
// exits once the relay has handled everything. (A sender that exits at once
// cannot be checked against the container's process tree; the relay drops
// its datagrams.)
func TestMain(m *testing.M) {
	if msgs, ok := os.LookupEnv("SUPERVISOR_TEST_SEND"); ok {
		if err := notifytest.SendWithBarrier(os.Getenv("SUPERVISOR_TEST_SOCKET"), strings.Split(msgs, "|")...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeWorkload is a Workload whose port answers from a given dial on, and
// which exits as a test decides.
type fakeWorkload struct {
	// answerFrom: dials before this one (1-based) are refused; 0 = never
	// answers.
	answerFrom int
	// exitOn says how the workload reacts to a signal: an exit status, or
	// -1 to ignore it.
	exitOn func(sig syscall.Signal) int

	mu       sync.Mutex
	dials    int
	signals  []syscall.Signal
	exitOnce sync.Once
	exit     chan int
}

func newFake(answerFrom int) *fakeWorkload {
	return &fakeWorkload{
		answerFrom: answerFrom,
		exitOn: func(sig syscall.Signal) int {
			if sig == syscall.SIGTERM {
				return 0 // a graceful stop
			}
			return -1
		},
		exit: make(chan int, 1),
	}
}

func (f *fakeWorkload) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.dials++
	n := f.dials
	f.mu.Unlock()
	if f.answerFrom == 0 || n < f.answerFrom {
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func (f *fakeWorkload) Exec(context.Context, []string) (int, []byte, error) {
	return -1, nil, errors.New("not used")
}

// Pid is the test process: datagrams from its children count as the
// container's.
func (f *fakeWorkload) Pid() int { return os.Getpid() }

func (f *fakeWorkload) Signal(sig syscall.Signal) error {
	f.mu.Lock()
	f.signals = append(f.signals, sig)
	f.mu.Unlock()
	if status := f.exitOn(sig); status >= 0 {
		f.exitWith(status)
	}
	return nil
}

func (f *fakeWorkload) Kill() error {
	f.mu.Lock()
	f.signals = append(f.signals, syscall.SIGKILL)
	f.mu.Unlock()
	f.exitWith(128 + int(syscall.SIGKILL))
	return nil
}

func (f *fakeWorkload) exitWith(status int) {
	f.exitOnce.Do(func() { f.exit <- status })
}

func (f *fakeWorkload) Wait() (int, error) { return <-f.exit, nil }

func (f *fakeWorkload) received() []syscall.Signal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]syscall.Signal(nil), f.signals...)
}

// harness runs Run against a fake workload, a fake clock and a real
// unixgram socket standing in for NOTIFY_SOCKET.
type harness struct {
	t       *testing.T
	clk     *probetest.FakeClock
	conn    *net.UnixConn
	signals chan os.Signal
	fake    *fakeWorkload
	opts    StartOptions // what Run handed the runtime
	logs    *lines
	done    chan int
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(format, args...))
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func start(t *testing.T, s *spec.Spec, fake *fakeWorkload, watchdog time.Duration) *harness {
	t.Helper()
	conn, sender := probetest.NotifySocket(t)
	h := &harness{
		t: t, clk: probetest.NewFakeClock(time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)),
		conn: conn, signals: make(chan os.Signal, 4), fake: fake, logs: &lines{}, done: make(chan int, 1),
	}
	startFn := func(s *spec.Spec, opts StartOptions) (Workload, error) {
		h.opts = opts
		if fake == nil {
			return nil, errors.New("sandbox: mount /: permission denied")
		}
		return fake, nil
	}
	cfg := Config{
		Start: startFn, Notifier: sender, Clock: h.clk, Watchdog: watchdog,
		Signals: h.signals, RelayDir: t.TempDir(), Log: h.logs.add,
	}
	go func() { h.done <- Run(s, cfg) }()
	return h
}

func (h *harness) expect(want ...string) {
	h.t.Helper()
	buf := make([]byte, 8192)
	for _, w := range want {
		_ = h.conn.SetReadDeadline(time.Now().Add(time.Minute)) // hang guard
		n, err := h.conn.Read(buf)
		if err != nil {
			h.t.Fatalf("waiting for %q: %v", w, err)
		}
		if got := string(buf[:n]); got != w {
			h.t.Fatalf("datagram\n%q\nwant\n%q", got, w)
		}
	}
}

// exitStatus waits for Run to return, then checks nothing else was sent.
func (h *harness) exitStatus() int {
	h.t.Helper()
	status := <-h.done
	_ = h.conn.SetReadDeadline(time.Now())
	buf := make([]byte, 8192)
	if n, err := h.conn.Read(buf); err == nil {
		h.t.Fatalf("unexpected datagram %q", buf[:n])
	}
	return status
}

func webSpec() *spec.Spec {
	return &spec.Spec{
		Name: "web",
		Exec: spec.Exec{Command: []string{"/srv/web"}, StopSignal: syscall.SIGTERM, StopTimeout: spec.DefaultStopTimeout},
	}
}

func tcpReadiness() *spec.Readiness {
	return &spec.Readiness{
		Probe:        spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Interval: 100 * time.Millisecond, Timeout: time.Second},
		StartTimeout: 90 * time.Second,
	}
}

func tcpHealth() *spec.Health {
	return &spec.Health{
		Probe:   spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Interval: 10 * time.Second, Timeout: 2 * time.Second},
		Retries: 3,
	}
}

const refused = "connect 127.0.0.1:8080: connection refused"

func TestRunReadyHealthyStopping(t *testing.T) {
	s := webSpec()
	s.Readiness = tcpReadiness()
	s.Health = tcpHealth()
	h := start(t, s, newFake(2), 0)

	h.expect("EXTEND_TIMEOUT_USEC=95000000\nSTATUS=starting (probe tcp 8080 attempt 1: " + refused + ")")
	h.clk.WaitPending(t, probe.FirstRetry)
	h.clk.Advance(probe.FirstRetry)
	h.expect(
		"READY=1\nSTATUS=ready",
		"WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)", // start_period 0: first check at once
	)
	h.clk.WaitPending(t, 10*time.Second)
	h.clk.Advance(10 * time.Second)
	h.expect("WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	h.clk.WaitPending(t, 10*time.Second)

	h.signals <- syscall.SIGTERM
	h.expect("STOPPING=1\nSTATUS=stopping (received SIGTERM)")
	if status := h.exitStatus(); status != 0 {
		t.Errorf("exit status %d, want the workload's 0", status)
	}
	if got := h.fake.received(); !reflect.DeepEqual(got, []syscall.Signal{syscall.SIGTERM}) {
		t.Errorf("workload got %v, want [SIGTERM]", got)
	}
	if h.opts.NotifySocket != "" {
		t.Errorf("NOTIFY_SOCKET %q handed to the workload without notify = true", h.opts.NotifySocket)
	}
	wantLogs := []string{
		"starting (probe tcp 8080 attempt 1: " + refused + ")",
		"ready",
		"healthy (last check 0ms ago)",
		"stopping (received SIGTERM)",
	}
	if got := h.logs.get(); !reflect.DeepEqual(got, wantLogs) {
		t.Errorf("logged\n%q\nwant\n%q", got, wantLogs)
	}
}

func TestRunUnhealthyTriggersWatchdog(t *testing.T) {
	s := webSpec()
	s.Health = tcpHealth()
	fake := newFake(0) // never answers
	h := start(t, s, fake, 0)

	h.expect("READY=1\nSTATUS=ready") // no [readiness]: ready once exec'd
	h.expect("STATUS=failing: tcp 8080 failed 1 of 3 times: " + refused)
	for _, want := range []string{
		"STATUS=failing: tcp 8080 failed 2 of 3 times: " + refused,
		"STATUS=unhealthy: tcp 8080 failed 3 times: " + refused + "\nWATCHDOG=trigger",
	} {
		h.clk.WaitPending(t, 10*time.Second)
		h.clk.Advance(10 * time.Second)
		h.expect(want)
	}
	h.clk.WaitPending(t, 10*time.Second)
	// systemd's watchdog action: SIGABRT to the main process... and with
	// KillMode=mixed, SIGTERM first when it stops the unit.
	h.signals <- syscall.SIGTERM
	h.expect("STOPPING=1\nSTATUS=stopping (received SIGTERM)")
	if status := h.exitStatus(); status != 0 {
		t.Errorf("exit status %d, want 0", status)
	}
}

func TestRunStop(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stopSignal  syscall.Signal
		stopTimeout time.Duration
		exitOn      func(syscall.Signal) int
		wantWait    time.Duration // the kill timer; 0 = exits at once
		wantSignals []syscall.Signal
		wantStatus  int
	}{
		{
			name: "graceful", stopSignal: syscall.SIGTERM,
			exitOn:      func(s syscall.Signal) int { return map[bool]int{true: 0, false: -1}[s == syscall.SIGTERM] },
			wantSignals: []syscall.Signal{syscall.SIGTERM}, wantStatus: 0,
		},
		{
			name: "stop_signal from the spec", stopSignal: syscall.SIGQUIT,
			exitOn:      func(s syscall.Signal) int { return 128 + int(s) },
			wantSignals: []syscall.Signal{syscall.SIGQUIT}, wantStatus: 128 + int(syscall.SIGQUIT),
		},
		{
			name: "ignores SIGTERM: killed after the spec's default 10s", stopSignal: syscall.SIGTERM, stopTimeout: spec.DefaultStopTimeout,
			exitOn:   func(syscall.Signal) int { return -1 },
			wantWait: spec.DefaultStopTimeout, wantSignals: []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, wantStatus: 137,
		},
		{
			name: "ignores SIGTERM: killed after stop_timeout", stopSignal: syscall.SIGTERM, stopTimeout: 3 * time.Second,
			exitOn:   func(syscall.Signal) int { return -1 },
			wantWait: 3 * time.Second, wantSignals: []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, wantStatus: 137,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := webSpec()
			s.Exec.StopSignal = tc.stopSignal
			if tc.stopTimeout > 0 {
				s.Exec.StopTimeout = tc.stopTimeout
			}
			fake := newFake(1)
			fake.exitOn = tc.exitOn
			h := start(t, s, fake, 0)
			h.expect("READY=1\nSTATUS=ready")
			h.signals <- syscall.SIGTERM
			h.expect("STOPPING=1\nSTATUS=stopping (received SIGTERM)")
			if tc.wantWait > 0 {
				h.clk.WaitPending(t, tc.wantWait)
				h.clk.Advance(tc.wantWait)
			}
			if status := h.exitStatus(); status != tc.wantStatus {
				t.Errorf("exit status %d, want %d", status, tc.wantStatus)
			}
			if got := fake.received(); !reflect.DeepEqual(got, tc.wantSignals) {
				t.Errorf("workload got %v, want %v", got, tc.wantSignals)
			}
		})
	}
}

func TestRunSecondStopRequestKills(t *testing.T) {
	fake := newFake(1)
	fake.exitOn = func(syscall.Signal) int { return -1 }
	h := start(t, webSpec(), fake, 0)
	h.expect("READY=1\nSTATUS=ready")
	h.signals <- syscall.SIGINT
	h.expect("STOPPING=1\nSTATUS=stopping (received SIGINT)")
	h.signals <- syscall.SIGINT // ^C again
	if status := h.exitStatus(); status != 137 {
		t.Errorf("exit status %d, want 137", status)
	}
	if got, want := fake.received(), []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}; !reflect.DeepEqual(got, want) {
		t.Errorf("workload got %v, want %v", got, want)
	}
}

func TestRunForwardsSignals(t *testing.T) {
	fake := newFake(1)
	h := start(t, webSpec(), fake, 0)
	h.expect("READY=1\nSTATUS=ready")
	for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGPIPE, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT} {
		h.signals <- sig
	}
	h.signals <- syscall.SIGTERM
	h.expect("STOPPING=1\nSTATUS=stopping (received SIGTERM)")
	if status := h.exitStatus(); status != 0 {
		t.Errorf("exit status %d, want 0", status)
	}
	// SIGPIPE is nucleus-exec's own business, not forwarded.
	want := []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGTERM}
	if got := fake.received(); !reflect.DeepEqual(got, want) {
		t.Errorf("workload got %v, want %v", got, want)
	}
}

func TestRunWorkloadExitsOnItsOwn(t *testing.T) {
	s := webSpec()
	s.Readiness = tcpReadiness()
	fake := newFake(0)
	h := start(t, s, fake, 0)
	h.expect("EXTEND_TIMEOUT_USEC=95000000\nSTATUS=starting (probe tcp 8080 attempt 1: " + refused + ")")
	h.clk.WaitPending(t, probe.FirstRetry)
	fake.exitWith(3)
	if status := h.exitStatus(); status != 3 {
		t.Errorf("exit status %d, want the workload's 3", status)
	}
	if got := fake.received(); len(got) != 0 {
		t.Errorf("workload got signals %v after exiting", got)
	}
}

func TestRunReadinessTimeout(t *testing.T) {
	s := webSpec()
	s.Readiness = tcpReadiness()
	s.Readiness.StartTimeout = 2 * time.Millisecond
	fake := newFake(0)
	h := start(t, s, fake, 0)
	// Attempts at 0 and 1 ms; the third would be due at 3 ms, after
	// start_timeout.
	h.expect("EXTEND_TIMEOUT_USEC=5002000\nSTATUS=starting (probe tcp 8080 attempt 1: " + refused + ")")
	h.clk.WaitPending(t, probe.FirstRetry)
	h.clk.Advance(probe.FirstRetry)
	h.expect("EXTEND_TIMEOUT_USEC=5001000\nSTATUS=starting (probe tcp 8080 attempt 2: " + refused + ")")
	h.clk.WaitPending(t, time.Millisecond)
	h.clk.Advance(time.Millisecond)
	msg := "readiness probe tcp 8080 did not pass within start_timeout 2ms (2 attempts); last error: " + refused
	h.expect("STATUS=failed: " + msg)
	if status := h.exitStatus(); status != ExitFailure {
		t.Errorf("exit status %d, want %d", status, ExitFailure)
	}
	if got := fake.received(); !reflect.DeepEqual(got, []syscall.Signal{syscall.SIGTERM}) {
		t.Errorf("workload got %v, want [SIGTERM]", got)
	}
	logs := h.logs.get()
	if len(logs) == 0 || !containsLine(logs, msg) {
		t.Errorf("log %q does not say %q", logs, msg)
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestRunStartFailure(t *testing.T) {
	h := start(t, webSpec(), nil, 0)
	if status := h.exitStatus(); status != ExitFailure {
		t.Errorf("exit status %d, want %d", status, ExitFailure)
	}
	if got, want := h.logs.get(), []string{"sandbox: mount /: permission denied"}; !reflect.DeepEqual(got, want) {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// sendFromChild sends datagrams from a child process of the test, which
// the fake workload's Pid (the test) makes a process of the container.
func sendFromChild(t *testing.T, socket string, msgs ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SUPERVISOR_TEST_SEND="+strings.Join(msgs, "|"),
		"SUPERVISOR_TEST_SOCKET="+socket, "GORACE=atexit_sleep_ms=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sender: %v: %s", err, out)
	}
}

func TestRunNotifyRelay(t *testing.T) {
	s := webSpec()
	s.Readiness = &spec.Readiness{Probe: spec.Probe{Kind: spec.ProbeNotify}, StartTimeout: 90 * time.Second}
	t.Run("without health", func(t *testing.T) {
		h := start(t, s, newFake(1), 0)
		h.expect("EXTEND_TIMEOUT_USEC=95000000\nSTATUS=starting (waiting for READY=1 from the workload)")
		if h.opts.NotifySocket == "" {
			t.Fatal("no notify socket handed to the runtime")
		}
		sendFromChild(t, h.opts.NotifySocket, "STATUS=loading data", "MAINPID=1\nREADY=1", "WATCHDOG=1")
		h.expect(
			"STATUS=loading data",
			"READY=1\nSTATUS=ready", // MAINPID= dropped; our STATUS=ready replaces "starting"
			"WATCHDOG=1",            // relayed: no [health] drives the watchdog
		)
		h.signals <- syscall.SIGTERM
		h.expect("STOPPING=1\nSTATUS=stopping (received SIGTERM)")
		if status := h.exitStatus(); status != 0 {
			t.Errorf("exit status %d, want 0", status)
		}
		if !containsLine(h.logs.get(), "notify relay: dropped MAINPID= from the workload: nucleus-exec stays the unit's main process") {
			t.Errorf("MAINPID= drop not logged: %q", h.logs.get())
		}
		if _, err := os.Stat(filepath.Dir(h.opts.NotifySocket)); !os.IsNotExist(err) {
			t.Errorf("relay directory left behind: %v", err)
		}
	})
	t.Run("with health", func(t *testing.T) {
		s := *s
		s.Health = tcpHealth()
		h := start(t, &s, newFake(1), 0)
		h.expect("EXTEND_TIMEOUT_USEC=95000000\nSTATUS=starting (waiting for READY=1 from the workload)")
		sendFromChild(t, h.opts.NotifySocket, "WATCHDOG=1\nSTATUS=warming up", "READY=1\nSTATUS=serving")
		h.expect(
			"STATUS=warming up", // WATCHDOG=1 dropped: the health probe owns it
			"READY=1\nSTATUS=serving",
			"WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)", // health starts after READY=1
		)
		h.clk.WaitPending(t, 10*time.Second)
		h.signals <- syscall.SIGTERM
		h.expect("STOPPING=1\nSTATUS=stopping (received SIGTERM)")
		if status := h.exitStatus(); status != 0 {
			t.Errorf("exit status %d, want 0", status)
		}
	})
}

func TestRunWatchdogAbortKills(t *testing.T) {
	fake := newFake(1)
	h := start(t, webSpec(), fake, 0)
	h.expect("READY=1\nSTATUS=ready")
	h.signals <- syscall.SIGABRT // systemd's WatchdogSignal= default
	if status := h.exitStatus(); status != 137 {
		t.Errorf("exit status %d, want 137", status)
	}
	if got, want := fake.received(), []syscall.Signal{syscall.SIGKILL}; !reflect.DeepEqual(got, want) {
		t.Errorf("workload got %v, want %v", got, want)
	}
}
