package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/notify"
	"github.com/nucleus-containers/nucleus/internal/probe"
	"github.com/nucleus-containers/nucleus/internal/probe/probetest"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

var errRefused = errors.New("connection refused")

// step is one scripted probe attempt.
type step struct {
	err   error         // nil = the port answers
	takes time.Duration // the attempt advances the fake clock this much
	block chan struct{} // if set, the attempt waits for it (or ctx)
}

// scriptTarget answers tcp probes from a script, and records when (on the
// fake clock, relative to its start) each attempt began.
type scriptTarget struct {
	clk   *probetest.FakeClock
	start time.Time

	mu      sync.Mutex
	steps   []step
	started []time.Duration
}

func newScript(clk *probetest.FakeClock, steps ...step) *scriptTarget {
	return &scriptTarget{clk: clk, start: clk.Now(), steps: steps}
}

func (s *scriptTarget) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	s.started = append(s.started, s.clk.Now().Sub(s.start))
	if len(s.steps) == 0 {
		s.mu.Unlock()
		return nil, errors.New("script exhausted")
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	s.mu.Unlock()
	if st.takes > 0 {
		s.clk.Advance(st.takes)
	}
	if st.block != nil {
		select {
		case <-st.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if st.err != nil {
		return nil, st.err
	}
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func (s *scriptTarget) Exec(context.Context, []string) (int, []byte, error) {
	return -1, nil, errors.New("not scripted")
}

func (s *scriptTarget) attempts() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.started...)
}

// systemd stands in for NOTIFY_SOCKET: a real unixgram socket, and the
// real sender the supervisor uses.
type systemd struct {
	conn   *net.UnixConn
	sender *notify.Sender
}

func newSystemd(t *testing.T) *systemd {
	t.Helper()
	conn, sender := probetest.NotifySocket(t)
	return &systemd{conn: conn, sender: sender}
}

// expect reads the next datagrams and compares them with want, in order.
func (s *systemd) expect(t *testing.T, want ...string) {
	t.Helper()
	buf := make([]byte, 8192)
	for _, w := range want {
		// A hang guard, not a timing assertion.
		_ = s.conn.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := s.conn.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %q: %v", w, err)
		}
		if got := string(buf[:n]); got != w {
			t.Fatalf("datagram\n%q\nwant\n%q", got, w)
		}
	}
}

// expectNone checks that nothing else was sent: call it once the code under
// test has settled (WaitPending) or returned.
func (s *systemd) expectNone(t *testing.T) {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now())
	buf := make([]byte, 8192)
	if n, err := s.conn.Read(buf); err == nil {
		t.Fatalf("unexpected datagram %q", buf[:n])
	}
}

var t0 = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

func tcpReadiness(interval, startTimeout time.Duration) spec.Readiness {
	return spec.Readiness{
		Probe:        spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Interval: interval, Timeout: time.Second},
		StartTimeout: startTimeout,
	}
}

const refusedMsg = "connect 127.0.0.1:8080: connection refused"

func TestReadyAfterFailedAttempts(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{err: errRefused}, step{err: errRefused}, step{})
	done := make(chan error, 1)
	go func() {
		done <- probe.Ready(context.Background(), clk, target, tcpReadiness(100*time.Millisecond, 90*time.Second), sd.sender)
	}()

	sd.expect(t, "EXTEND_TIMEOUT_USEC=95000000\nSTATUS=starting (probe tcp 8080 attempt 1: "+refusedMsg+")")
	clk.WaitPending(t, time.Millisecond)
	clk.Advance(time.Millisecond)
	sd.expect(t, "EXTEND_TIMEOUT_USEC=94999000\nSTATUS=starting (probe tcp 8080 attempt 2: "+refusedMsg+")")
	clk.WaitPending(t, 2*time.Millisecond)
	clk.Advance(2 * time.Millisecond)
	sd.expect(t, "READY=1\nSTATUS=ready")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sd.expectNone(t)
	if got, want := target.attempts(), []time.Duration{0, time.Millisecond, 3 * time.Millisecond}; !reflect.DeepEqual(got, want) {
		t.Errorf("attempts at %v, want %v", got, want)
	}
}

// The gap after a failed attempt starts at FirstRetry and doubles until it
// reaches the interval; from then on attempts come every interval.
func TestReadyRetryGapsDoubleUpToInterval(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
		gaps     []float64 // in ms, before attempts 2, 3, …
	}{
		{"interval 10ms", 10 * time.Millisecond, []float64{1, 2, 4, 8, 10, 10, 10}},
		{"interval 3ms", 3 * time.Millisecond, []float64{1, 2, 3, 3}},
		{"interval below the first retry", 500 * time.Microsecond, []float64{0.5, 0.5, 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := probetest.NewFakeClock(t0)
			sd := newSystemd(t)
			var steps []step
			for range tt.gaps {
				steps = append(steps, step{err: errRefused})
			}
			target := newScript(clk, append(steps, step{})...)
			done := make(chan error, 1)
			go func() {
				done <- probe.Ready(context.Background(), clk, target, tcpReadiness(tt.interval, time.Minute), sd.sender)
			}()
			at := time.Duration(0)
			want := []time.Duration{0}
			for i, g := range tt.gaps {
				gap := time.Duration(g * float64(time.Millisecond))
				sd.expect(t, fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d\nSTATUS=starting (probe tcp 8080 attempt %d: %s)",
					(time.Minute+probe.ExtendMargin-at).Microseconds(), i+1, refusedMsg))
				clk.WaitPending(t, gap)
				clk.Advance(gap)
				at += gap
				want = append(want, at)
			}
			sd.expect(t, "READY=1\nSTATUS=ready")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := target.attempts(); !reflect.DeepEqual(got, want) {
				t.Errorf("attempts at %v, want %v", got, want)
			}
		})
	}
}

func TestReadyFirstAttemptImmediately(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{})
	if err := probe.Ready(context.Background(), clk, target, tcpReadiness(time.Second, time.Minute), sd.sender); err != nil {
		t.Fatal(err)
	}
	sd.expect(t, "READY=1\nSTATUS=ready")
	sd.expectNone(t)
}

func TestReadyStartTimeout(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	var steps []step
	for range 5 {
		steps = append(steps, step{err: errRefused})
	}
	target := newScript(clk, steps...)
	done := make(chan error, 1)
	go func() {
		// Attempts at 0, 1, 3 and 7 ms; the next would be due at 11 ms,
		// after start_timeout.
		done <- probe.Ready(context.Background(), clk, target, tcpReadiness(4*time.Millisecond, 10*time.Millisecond), sd.sender)
	}()
	for i, at := range []time.Duration{0, 1, 3, 7} {
		sd.expect(t, fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d\nSTATUS=starting (probe tcp 8080 attempt %d: %s)",
			5010000-at*1000, i+1, refusedMsg))
		gap := []time.Duration{1, 2, 4, 3}[i] * time.Millisecond // the last: until start_timeout
		clk.WaitPending(t, gap)
		clk.Advance(gap)
	}
	err := <-done
	want := "readiness probe tcp 8080 did not pass within start_timeout 10ms (4 attempts); last error: " + refusedMsg
	if err == nil || err.Error() != want {
		t.Fatalf("Ready = %v, want %q", err, want)
	}
	sd.expectNone(t)
}

func TestReadySlowAttemptIsFollowedAtOnceNotOverlapped(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{err: errRefused, takes: 250 * time.Millisecond}, step{})
	if err := probe.Ready(context.Background(), clk, target, tcpReadiness(100*time.Millisecond, time.Minute), sd.sender); err != nil {
		t.Fatal(err)
	}
	sd.expect(t,
		"EXTEND_TIMEOUT_USEC=64750000\nSTATUS=starting (probe tcp 8080 attempt 1: "+refusedMsg+")",
		"READY=1\nSTATUS=ready")
	if got, want := target.attempts(), []time.Duration{0, 250 * time.Millisecond}; !reflect.DeepEqual(got, want) {
		t.Errorf("attempts at %v, want %v", got, want)
	}
}

func TestReadyCancelled(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{err: errRefused})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- probe.Ready(ctx, clk, target, tcpReadiness(time.Second, time.Minute), sd.sender)
	}()
	sd.expect(t, "EXTEND_TIMEOUT_USEC=65000000\nSTATUS=starting (probe tcp 8080 attempt 1: "+refusedMsg+")")
	clk.WaitPending(t, probe.FirstRetry)
	cancel() // the workload exited
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Ready = %v, want context.Canceled", err)
	}
	sd.expectNone(t)
}

func TestWaitReady(t *testing.T) {
	r := spec.Readiness{Probe: spec.Probe{Kind: spec.ProbeNotify}, StartTimeout: 30 * time.Second}
	t.Run("workload sends READY=1", func(t *testing.T) {
		clk := probetest.NewFakeClock(t0)
		sd := newSystemd(t)
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- probe.WaitReady(context.Background(), clk, r, ready, sd.sender) }()
		sd.expect(t, "EXTEND_TIMEOUT_USEC=35000000\nSTATUS=starting (waiting for READY=1 from the workload)")
		clk.WaitPending(t, 30*time.Second)
		close(ready)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		sd.expectNone(t) // the relay passed the workload's READY=1 on
	})
	t.Run("start_timeout passes", func(t *testing.T) {
		clk := probetest.NewFakeClock(t0)
		sd := newSystemd(t)
		done := make(chan error, 1)
		go func() { done <- probe.WaitReady(context.Background(), clk, r, make(chan struct{}), sd.sender) }()
		sd.expect(t, "EXTEND_TIMEOUT_USEC=35000000\nSTATUS=starting (waiting for READY=1 from the workload)")
		clk.WaitPending(t, 30*time.Second)
		clk.Advance(30 * time.Second)
		err := <-done
		if want := "readiness: the workload did not send READY=1 within start_timeout 30s"; err == nil || err.Error() != want {
			t.Fatalf("WaitReady = %v, want %q", err, want)
		}
		sd.expectNone(t)
	})
}

func tcpHealth() spec.Health {
	return spec.Health{
		Probe:   spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Interval: 10 * time.Second, Timeout: 2 * time.Second},
		Retries: 3,
	}
}

// runHealth starts the health loop and returns a func that stops it and
// waits for it to return.
func runHealth(clk probe.Clock, target probe.Target, h spec.Health, sd *systemd, watchdog time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		probe.Health(ctx, clk, target, h, sd.sender, watchdog)
		close(done)
	}()
	return func() { cancel(); <-done }
}

func TestHealthUnhealthyTriggersWatchdog(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{}, step{err: errRefused}, step{err: errRefused}, step{err: errRefused}, step{err: errRefused}, step{})
	stop := runHealth(clk, target, tcpHealth(), sd, 0)
	defer stop()

	// start_period 0: the first probe runs at once.
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	for _, want := range []string{
		"STATUS=failing: tcp 8080 failed 1 of 3 times: " + refusedMsg,
		"STATUS=failing: tcp 8080 failed 2 of 3 times: " + refusedMsg,
		"STATUS=unhealthy: tcp 8080 failed 3 times: " + refusedMsg + "\nWATCHDOG=trigger",
		"STATUS=unhealthy: tcp 8080 failed 4 times: " + refusedMsg, // trigger is sent once
		"WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)",          // recovery
	} {
		clk.WaitPending(t, 10*time.Second)
		clk.Advance(10 * time.Second)
		sd.expect(t, want)
	}
	clk.WaitPending(t, 10*time.Second)
	sd.expectNone(t)
}

func TestHealthKeepsWatchdogPingsWhileHealthy(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{}, step{err: errRefused}, step{})
	// WatchdogSec=12s: pings every 6s, more often than the 10s interval.
	stop := runHealth(clk, target, tcpHealth(), sd, 12*time.Second)
	defer stop()

	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	clk.WaitPending(t, 6*time.Second, 10*time.Second) // ping, probe
	clk.Advance(6 * time.Second)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 6s ago)")
	clk.WaitPending(t, 4*time.Second, 6*time.Second) // probe, ping
	clk.Advance(4 * time.Second)
	sd.expect(t, "STATUS=failing: tcp 8080 failed 1 of 3 times: "+refusedMsg)
	// Last result unhealthy: no more pings, only the next probe.
	clk.WaitPending(t, 10*time.Second)
	sd.expectNone(t)
	clk.Advance(10 * time.Second)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	clk.WaitPending(t, 6*time.Second, 10*time.Second)
}

func TestHealthStartPeriod(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{})
	h := tcpHealth()
	h.StartPeriod = 30 * time.Second
	stop := runHealth(clk, target, h, sd, 20*time.Second)
	defer stop()

	// During the start period the service counts as healthy: pings, no probe.
	clk.WaitPending(t, 10*time.Second, 30*time.Second)
	clk.Advance(10 * time.Second)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy")
	clk.WaitPending(t, 10*time.Second, 20*time.Second)
	clk.Advance(10 * time.Second)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy")
	clk.WaitPending(t, 10*time.Second, 10*time.Second)
	if n := len(target.attempts()); n != 0 {
		t.Fatalf("%d probes ran during the start period", n)
	}
}

func TestHealthSlowProbeNoStorm(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	h := tcpHealth()
	h.Interval = time.Second
	// The first probe takes 2.5s (within timeout 2s + HungGrace): 2.5
	// intervals pass while it runs.
	target := newScript(clk, step{takes: 2500 * time.Millisecond}, step{})
	stop := runHealth(clk, target, h, sd, 0)
	defer stop()

	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	// The next probe is one interval after the slow one ended, not at once.
	clk.WaitPending(t, time.Second)
	clk.Advance(time.Second)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	if got, want := target.attempts(), []time.Duration{0, 3500 * time.Millisecond}; !reflect.DeepEqual(got, want) {
		t.Errorf("probes at %v, want %v", got, want)
	}
}

func TestHealthPingsWhileAProbeRuns(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	release := make(chan struct{})
	target := newScript(clk, step{block: release}, step{})
	// WatchdogSec=2s: pings every 1s; the probe's timeout is 2s.
	stop := runHealth(clk, target, tcpHealth(), sd, 2*time.Second)
	defer stop()

	clk.WaitPending(t, time.Second, 3*time.Second) // ping, hung limit
	clk.Advance(time.Second)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy")
	clk.WaitPending(t, time.Second, 2*time.Second)
	clk.Advance(time.Second)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy")
	clk.WaitPending(t, time.Second, time.Second)
	if n := len(target.attempts()); n > 1 {
		t.Fatalf("%d probes started while one was running", n)
	}
	close(release)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	clk.WaitPending(t, time.Second, 10*time.Second)
}

func TestHealthStopWaitsForRunningProbe(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	target := newScript(clk, step{block: make(chan struct{})}) // never released
	stop := runHealth(clk, target, tcpHealth(), sd, 0)
	clk.WaitPending(t, 2*time.Second+probe.HungGrace) // the first probe runs (and hangs) at once
	// stop returns only once the hanging probe saw its context end.
	stop()
	sd.expectNone(t)
}

func TestHealthHungProbeCountsAsFailure(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	release := make(chan struct{})
	// The Target ignores the probe's timeout and never returns on its own.
	target := newScript(clk, step{block: release}, step{})
	stop := runHealth(clk, target, tcpHealth(), sd, 12*time.Second)
	defer stop()

	hung := "timed out: the probe did not return within 2s"
	clk.WaitPending(t, 3*time.Second, 6*time.Second) // hung limit (timeout + grace), ping
	clk.Advance(3 * time.Second)
	sd.expect(t, "STATUS=failing: tcp 8080 failed 1 of 3 times: "+hung)
	// No more pings: the last result is a failure. Next count: interval+timeout later.
	clk.WaitPending(t, 12*time.Second)
	clk.Advance(12 * time.Second)
	sd.expect(t, "STATUS=failing: tcp 8080 failed 2 of 3 times: "+hung)
	clk.WaitPending(t, 12*time.Second)
	clk.Advance(12 * time.Second)
	sd.expect(t, "STATUS=unhealthy: tcp 8080 failed 3 times: "+hung+"\nWATCHDOG=trigger")
	clk.WaitPending(t, 12*time.Second)
	if n := len(target.attempts()); n > 1 {
		t.Fatalf("%d probes started while one was hanging", n)
	}
	// When it finally returns (here: success), the loop goes on normally.
	close(release)
	sd.expect(t, "WATCHDOG=1\nSTATUS=healthy (last check 0ms ago)")
	clk.WaitPending(t, 6*time.Second, 10*time.Second)
}

func TestReadyHungProbeStillEndsAtStartTimeout(t *testing.T) {
	clk := probetest.NewFakeClock(t0)
	sd := newSystemd(t)
	never := make(chan struct{})
	defer close(never)
	// The Target ignores the attempt's timeout and never returns.
	target := newScript(clk, step{block: never})
	done := make(chan error, 1)
	go func() {
		done <- probe.Ready(context.Background(), clk, target, tcpReadiness(100*time.Millisecond, 250*time.Millisecond), sd.sender)
	}()
	clk.WaitPending(t, 250*time.Millisecond+probe.HungGrace)
	clk.Advance(250*time.Millisecond + probe.HungGrace)
	err := <-done
	want := "readiness probe tcp 8080 did not pass within start_timeout 250ms (1 attempts); last error: timed out: the probe did not return within 250ms"
	if err == nil || err.Error() != want {
		t.Fatalf("Ready = %v, want %q", err, want)
	}
	sd.expectNone(t)
}
