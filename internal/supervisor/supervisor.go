// Package supervisor owns nucleus-exec's `run` command: the spec drift
// check, starting the workload through a runtime, readiness → READY=1,
// health → WATCHDOG=, signal forwarding, the stop sequence and the exit
// status.
//
// It must not mount, clone or parse TOML: runtimes (the native sandbox, and
// later gVisor) build containers, package spec reads specs, package probe
// times the probes and package notify shapes the datagrams.
package supervisor

import (
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nucleus-containers/nucleus/internal/notify"
	"github.com/nucleus-containers/nucleus/internal/probe"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// Exit statuses of nucleus-exec besides the workload's own.
const (
	// ExitFailure: nucleus-exec itself failed (bad spec, setup failure,
	// spec drift) or gave up on the workload (readiness never passed).
	ExitFailure = 125
)

// Workload is a started container as the supervisor sees it.
// *sandbox.Container implements it.
type Workload interface {
	probe.Target
	// Pid is the host pid of the container's init: the relay accepts
	// datagrams from it and its descendants.
	Pid() int
	// Signal delivers sig to the workload (through a pidfd).
	Signal(sig syscall.Signal) error
	// Kill ends everything in the container at once.
	Kill() error
	// Wait returns the workload's exit status (128+signal when killed)
	// once everything inside is gone.
	Wait() (status int, err error)
}

// StartOptions is what the supervisor hands a runtime.
type StartOptions struct {
	// NotifySocket is the host path of the relay socket to bind-mount at
	// /run/nucleus/notify ("" = none: NOTIFY_SOCKET stays unset inside).
	NotifySocket string
	// Log takes one diagnostic line (no newline).
	Log func(format string, args ...any)
}

// StartFunc starts s's workload; it returns once the workload is exec'd.
type StartFunc func(s *spec.Spec, opts StartOptions) (Workload, error)

// Notifier sends sd_notify assignments; *notify.Sender implements it.
type Notifier interface {
	Notify(assignments ...string) error
}

// Config is everything Run needs from outside; Main fills it from the
// process's environment, tests with fakes.
type Config struct {
	Start    StartFunc
	Notifier Notifier
	// Foreground is true when no systemd listens (NOTIFY_SOCKET unset):
	// state changes are then logged to stderr, not only sent.
	Foreground bool
	Clock      probe.Clock
	// Watchdog is systemd's WatchdogSec= for this service (0 = none).
	Watchdog time.Duration
	// Signals delivers the signals nucleus-exec receives.
	Signals <-chan os.Signal
	// RelayDir is where the notify relay's private directory is created.
	RelayDir string
	// Log writes one line to stderr.
	Log func(format string, args ...any)
}

// Run runs s's workload under cfg until it exits and returns nucleus-exec's
// exit status: the workload's, or ExitFailure.
func Run(s *spec.Spec, cfg Config) int {
	sup := &supervisor{spec: s, cfg: cfg, log: cfg.Log}
	return sup.run()
}

type supervisor struct {
	spec *spec.Spec
	cfg  Config
	log  func(format string, args ...any)

	// toSystemd is every datagram's way out: it logs state changes and
	// forwards to cfg.Notifier.
	toSystemd *stateLogger
	// probes is the probe loops' way out: closed when the stop begins, so
	// that no probe result lands after STOPPING=1.
	probes *gate
}

type waitResult struct {
	status int
	err    error
}

func (sup *supervisor) run() int {
	s, cfg := sup.spec, sup.cfg
	sup.toSystemd = &stateLogger{next: cfg.Notifier, log: sup.log}
	sup.probes = &gate{next: sup.toSystemd}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var background sync.WaitGroup
	defer background.Wait()
	defer cancel() // runs before Wait: the goroutines below end with ctx

	notifyMode := s.Readiness != nil && s.Readiness.Kind == spec.ProbeNotify
	var relay *notify.Relay
	if notifyMode {
		var err error
		relay, err = notify.NewRelay(cfg.RelayDir, s.Name, sup.log)
		if err != nil {
			sup.log("%v", err)
			return ExitFailure
		}
		defer relay.Close()
	}

	opts := StartOptions{Log: sup.log}
	if relay != nil {
		opts.NotifySocket = relay.Path()
	}
	w, err := cfg.Start(s, opts)
	if err != nil {
		sup.log("%v", err)
		return ExitFailure
	}
	waitCh := make(chan waitResult, 1)
	go func() {
		status, err := w.Wait()
		waitCh <- waitResult{status, err}
	}()

	readyFromWorkload := make(chan struct{})
	if relay != nil {
		policy := notify.RelayPolicy{Member: notify.ProcessTree(w.Pid()), AllowWatchdog: s.Health == nil}
		var once sync.Once
		background.Add(1)
		go func() {
			defer background.Done()
			err := relay.Serve(ctx, policy, func(assignments []string) {
				ready, hasStatus := false, false
				for _, a := range assignments {
					ready = ready || a == "READY=1"
					hasStatus = hasStatus || strings.HasPrefix(a, "STATUS=")
				}
				if ready && !hasStatus {
					// Replace our "starting (waiting for READY=1…)".
					assignments = append(assignments, "STATUS=ready")
				}
				if err := sup.toSystemd.Notify(assignments...); err != nil {
					sup.log("notify: %v", err)
				}
				if ready {
					once.Do(func() { close(readyFromWorkload) })
				}
			})
			if err != nil {
				sup.log("%v", err)
			}
		}()
	}

	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	readyCh := make(chan error, 1)
	background.Add(1)
	go func() {
		defer background.Done()
		readyCh <- sup.readiness(probeCtx, w, readyFromWorkload)
	}()

	var (
		stopping  bool
		gaveUp    bool // readiness failed: exit ExitFailure whatever the workload's status
		killTimer probe.Timer
		killC     <-chan time.Time
	)
	defer func() {
		if killTimer != nil {
			killTimer.Stop()
		}
	}()
	beginStop := func(reason string) {
		stopping = true
		stopProbes()
		sup.probes.close()
		if reason != "" {
			sup.notify("STOPPING=1", "STATUS=stopping ("+reason+")")
		}
		if err := w.Signal(s.Exec.StopSignal); err != nil {
			sup.log("stop: %v", err)
		}
		killTimer = cfg.Clock.NewTimer(s.Exec.StopTimeout)
		killC = killTimer.C()
	}

	for {
		select {
		case err := <-readyCh:
			readyCh = nil
			switch {
			case err == nil && s.Health != nil && !stopping:
				background.Add(1)
				go func() {
					defer background.Done()
					probe.Health(probeCtx, cfg.Clock, w, *s.Health, sup.probes, cfg.Watchdog)
				}()
			case err != nil && !stopping:
				sup.log("%v", err)
				sup.notify("STATUS=failed: " + err.Error())
				gaveUp = true
				beginStop("")
			}
		case sig := <-cfg.Signals:
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT:
				if !stopping {
					beginStop("received " + signalName(sig))
					break
				}
				// Asked twice: do not make them wait for stop_timeout.
				sup.log("received %s again while stopping; killing the workload", signalName(sig))
				if err := w.Kill(); err != nil {
					sup.log("%v", err)
				}
			case syscall.SIGABRT:
				// systemd's WatchdogSignal= after WATCHDOG=trigger (or a
				// missed ping): the unit is being torn down and the
				// workload deemed unhealthy; no graceful stop, and no Go
				// crash dump in the journal either.
				sup.log("received SIGABRT (systemd's watchdog action); killing the workload")
				sup.probes.close()
				stopProbes()
				if err := w.Kill(); err != nil {
					sup.log("%v", err)
				}
			case syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2:
				if err := w.Signal(sig.(syscall.Signal)); err != nil {
					sup.log("forward %s: %v", signalName(sig), err)
				}
			}
			// Anything else (SIGPIPE) is caught only so it cannot kill
			// nucleus-exec before the workload is gone.
		case <-killC:
			killC = nil
			sup.log("the workload did not exit within stop_timeout %s of %s; killing it", s.Exec.StopTimeout, signalName(s.Exec.StopSignal))
			if err := w.Kill(); err != nil {
				sup.log("%v", err)
			}
		case res := <-waitCh:
			stopProbes()
			sup.probes.close()
			if res.err != nil {
				sup.log("%v", res.err)
				return ExitFailure
			}
			if gaveUp {
				return ExitFailure
			}
			if !stopping && cfg.Foreground {
				sup.log("workload exited with status %d", res.status)
			}
			return res.status
		}
	}
}

// readiness waits until the workload is ready and reports it; see
// probe.Ready and probe.WaitReady. Without [readiness] it is ready now.
func (sup *supervisor) readiness(ctx context.Context, w Workload, fromWorkload <-chan struct{}) error {
	r := sup.spec.Readiness
	switch {
	case r == nil:
		return sup.probes.Notify("READY=1", "STATUS=ready")
	case r.Kind == spec.ProbeNotify:
		return probe.WaitReady(ctx, sup.cfg.Clock, *r, fromWorkload, sup.probes)
	default:
		return probe.Ready(ctx, sup.cfg.Clock, w, *r, sup.probes)
	}
}

func (sup *supervisor) notify(assignments ...string) {
	if err := sup.toSystemd.Notify(assignments...); err != nil {
		sup.log("notify: %v", err)
	}
}

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		for name, n := range signalNames {
			if n == s {
				return name
			}
		}
	}
	return sig.String()
}

var signalNames = map[string]syscall.Signal{
	"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "SIGHUP": syscall.SIGHUP,
	"SIGQUIT": syscall.SIGQUIT, "SIGUSR1": syscall.SIGUSR1, "SIGUSR2": syscall.SIGUSR2,
	"SIGKILL": syscall.SIGKILL, "SIGPIPE": syscall.SIGPIPE, "SIGWINCH": syscall.SIGWINCH,
	"SIGABRT": syscall.SIGABRT, "SIGALRM": syscall.SIGALRM,
}

// gate passes datagrams on until closed, then drops them silently.
type gate struct {
	mu     sync.Mutex
	closed bool
	next   Notifier
}

func (g *gate) Notify(assignments ...string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	return g.next.Notify(assignments...)
}

// close returns once no Notify is in progress: nothing passes after it.
func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// stateLogger forwards datagrams and logs state changes: a STATUS= whose
// first word differs from the last one logged (starting, ready, healthy,
// failing, unhealthy, stopping), so the journal has the story without a
// line per health check. In foreground mode it is the only report.
type stateLogger struct {
	mu        sync.Mutex
	next      Notifier
	log       func(format string, args ...any)
	lastState string
}

func (l *stateLogger) Notify(assignments ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range assignments {
		status, ok := strings.CutPrefix(a, "STATUS=")
		if !ok {
			continue
		}
		state, _, _ := strings.Cut(status, " ")
		state = strings.TrimSuffix(state, ":")
		if state != l.lastState {
			l.lastState = state
			l.log("%s", notify.OneLine(status, 1024))
		}
	}
	return l.next.Notify(assignments...)
}
