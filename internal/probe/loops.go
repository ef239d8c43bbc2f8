package probe

import (
	"context"
	"fmt"
	"time"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// Notifier receives the loops' reports as sd_notify assignments ("READY=1",
// "STATUS=…"), one datagram per call. *notify.Sender implements it.
type Notifier interface {
	Notify(assignments ...string) error
}

// ExtendMargin is added to the time left before start_timeout in the
// EXTEND_TIMEOUT_USEC= sent while readiness probes run: systemd's own start
// timeout must not fire before nucleus-exec reports the failure itself, with
// a message naming the probe.
const ExtendMargin = 5 * time.Second

// FirstRetry is the gap before the readiness loop's second attempt. The gap
// doubles after each failed attempt until it reaches the readiness interval.
// A server whose first probe found it not yet listening is, most of the time,
// listening a few milliseconds later: waiting a full interval (100 ms by
// default) for the second attempt would make a start that takes milliseconds
// look like one that takes an interval.
const FirstRetry = time.Millisecond

// Ready runs the readiness loop for r, counting start_timeout from the call:
// the first attempt at once, the next ones FirstRetry, 2×FirstRetry, 4×… after
// the start of the previous attempt, then, once that gap reaches r.Interval,
// one every r.Interval (a slow attempt is followed at once by the next, never
// overlapped). After each failed attempt it sends
// EXTEND_TIMEOUT_USEC= and STATUS=starting (…attempt n: error); on success
// READY=1 and STATUS=ready, and returns nil. When start_timeout passes it
// returns an error naming the probe and its last error; when ctx ends,
// ctx.Err().
func Ready(ctx context.Context, clk Clock, t Target, r spec.Readiness, n Notifier) error {
	start := clk.Now()
	deadline := start.Add(r.StartTimeout)
	p := r.Probe
	gap := FirstRetry
	for attempt := 1; ; attempt++ {
		attemptStart := clk.Now()
		// No attempt runs past start_timeout.
		if left := deadline.Sub(attemptStart); p.Timeout <= 0 || left < p.Timeout {
			p.Timeout = left
		}
		err := checkBounded(ctx, clk, t, p, deadline.Add(HungGrace))
		p.Timeout = r.Timeout
		if err == nil {
			_ = n.Notify("READY=1", "STATUS=ready")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		now := clk.Now()
		if !now.Before(deadline) {
			return readinessFailed(r, attempt, err)
		}
		_ = n.Notify(
			extendTimeout(deadline.Sub(now)+ExtendMargin),
			fmt.Sprintf("STATUS=starting (probe %s attempt %d: %v)", r.Probe, attempt, err),
		)
		next := attemptStart.Add(min(gap, r.Interval))
		if gap < r.Interval {
			gap *= 2
		}
		if next.After(deadline) {
			next = deadline
		}
		if err := sleep(ctx, clk, next.Sub(now)); err != nil {
			return err
		}
		if !clk.Now().Before(deadline) {
			return readinessFailed(r, attempt, err)
		}
	}
}

// checkBounded is Check, but gives up waiting for a Target that ignores the
// attempt's timeout once giveUp passes (the attempt goes on in the
// background; the caller is about to stop the container anyway).
func checkBounded(ctx context.Context, clk Clock, t Target, p spec.Probe, giveUp time.Time) error {
	done := make(chan error, 1)
	go func() { done <- Check(ctx, t, p) }()
	timer := clk.NewTimer(giveUp.Sub(clk.Now()))
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C():
		return fmt.Errorf("timed out: the probe did not return within %s", p.Timeout)
	}
}

func readinessFailed(r spec.Readiness, attempts int, last error) error {
	return fmt.Errorf("readiness probe %s did not pass within start_timeout %s (%d attempts); last error: %v",
		r.Probe, r.StartTimeout, attempts, last)
}

func extendTimeout(d time.Duration) string {
	return fmt.Sprintf("EXTEND_TIMEOUT_USEC=%d", d.Microseconds())
}

// WaitReady is the readiness loop for notify = true: the workload reports
// READY=1 itself, and the relay passes it on (with the workload's own
// STATUS=, if it sent one) and closes ready. WaitReady sends
// EXTEND_TIMEOUT_USEC= and STATUS=starting (waiting for READY=1…) once, and
// returns nil when ready is closed, or an error when start_timeout passes
// first.
func WaitReady(ctx context.Context, clk Clock, r spec.Readiness, ready <-chan struct{}, n Notifier) error {
	_ = n.Notify(
		extendTimeout(r.StartTimeout+ExtendMargin),
		"STATUS=starting (waiting for READY=1 from the workload)",
	)
	timer := clk.NewTimer(r.StartTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		return nil
	case <-timer.C():
		return fmt.Errorf("readiness: the workload did not send READY=1 within start_timeout %s", r.StartTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// HungGrace is how long past its timeout a probe may take to return (the
// Target kills it at the timeout) before the health loop counts it as a
// failure anyway: a probe that never returns must not keep a dead service
// looking healthy.
const HungGrace = time.Second

// Health runs the health loop for h until ctx ends. The first probe runs
// after h.StartPeriod, then each one h.Interval after the previous one
// ended, so probes never overlap and a slow probe never causes a burst.
//
//   - success: WATCHDOG=1 and STATUS=healthy (last check 0ms ago);
//   - failure n < retries: STATUS=failing: <probe> failed n of <retries> times: <error>;
//   - failure n = retries: STATUS=unhealthy: <probe> failed n times: <error>
//     and WATCHDOG=trigger (once; systemd's watchdog action and Restart= take
//     over); later failures update STATUS= only.
//
// A probe still running HungGrace after its timeout counts as a failure,
// and again every interval+timeout for as long as it hangs; no second probe
// starts meanwhile.
//
// While the last result is healthy (the start period counts as healthy:
// readiness passed) and watchdog > 0 — systemd's WatchdogSec=, from
// $WATCHDOG_USEC — it also sends WATCHDOG=1 at least every watchdog/2,
// with STATUS=healthy (last check … ago), so a healthy service never
// misses a ping, even while a probe is running.
func Health(ctx context.Context, clk Clock, t Target, h spec.Health, n Notifier, watchdog time.Duration) {
	retries := max(h.Retries, 1)
	healthy := true
	var lastOK time.Time // zero until the first check passes
	lastPing := clk.Now()
	failures := 0
	nextProbe := clk.Now().Add(h.StartPeriod)

	fail := func(err error) {
		failures++
		healthy = false
		switch {
		case failures < retries:
			_ = n.Notify(fmt.Sprintf("STATUS=failing: %s failed %d of %d times: %v", h.Probe, failures, retries, err))
		case failures == retries:
			_ = n.Notify(fmt.Sprintf("STATUS=unhealthy: %s failed %d times: %v", h.Probe, failures, err), "WATCHDOG=trigger")
		default:
			_ = n.Notify(fmt.Sprintf("STATUS=unhealthy: %s failed %d times: %v", h.Probe, failures, err))
		}
	}

	type result struct {
		err error
		end time.Time
	}
	var inflight chan result
	var hungAt time.Time // when the running probe counts as hung (zero: no limit)
	counted := false     // the running probe was already counted as hung
	cancelProbe := func() {}
	defer func() {
		if inflight != nil {
			cancelProbe()
			<-inflight // the probe and its process are gone before we return
		}
	}()

	for {
		var probeC, pingC, hungC <-chan time.Time
		var timers []Timer
		if inflight == nil {
			tm := clk.NewTimer(nextProbe.Sub(clk.Now()))
			timers = append(timers, tm)
			probeC = tm.C()
		} else if !hungAt.IsZero() {
			tm := clk.NewTimer(hungAt.Sub(clk.Now()))
			timers = append(timers, tm)
			hungC = tm.C()
		}
		if healthy && watchdog > 0 {
			tm := clk.NewTimer(lastPing.Add(watchdog / 2).Sub(clk.Now()))
			timers = append(timers, tm)
			pingC = tm.C()
		}
		select {
		case <-ctx.Done():
			stopAll(timers)
			return
		case <-probeC:
			probeCtx, cancel := context.WithCancel(ctx)
			cancelProbe = cancel
			inflight = make(chan result, 1)
			counted = false
			hungAt = time.Time{}
			if h.Timeout > 0 {
				hungAt = clk.Now().Add(h.Timeout + HungGrace)
			}
			go func(ch chan<- result) {
				err := Check(probeCtx, t, h.Probe)
				ch <- result{err, clk.Now()}
			}(inflight)
		case <-hungC:
			counted = true
			hungAt = hungAt.Add(h.Interval + h.Timeout)
			fail(fmt.Errorf("timed out: the probe did not return within %s", h.Timeout))
		case <-pingC:
			// Time from now, not from when the ping was due: a late
			// ping (a suspended machine) is followed by no burst.
			now := clk.Now()
			status := "STATUS=healthy"
			if !lastOK.IsZero() {
				status = fmt.Sprintf("STATUS=healthy (last check %s ago)", sinceString(now.Sub(lastOK)))
			}
			_ = n.Notify("WATCHDOG=1", status)
			lastPing = now
		case res := <-inflight:
			inflight = nil
			cancelProbe()
			nextProbe = res.end.Add(h.Interval)
			switch {
			case res.err == nil:
				failures = 0
				healthy = true
				lastOK = res.end
				lastPing = res.end
				_ = n.Notify("WATCHDOG=1", "STATUS=healthy (last check 0ms ago)")
			case !counted: // a hung probe's failure was counted already
				fail(res.err)
			}
		}
		stopAll(timers)
	}
}

func stopAll(timers []Timer) {
	for _, t := range timers {
		t.Stop()
	}
}

func sleep(ctx context.Context, clk Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
