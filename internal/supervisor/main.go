package supervisor

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/nucleus-containers/nucleus/internal/notify"
	"github.com/nucleus-containers/nucleus/internal/probe"
	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/version"
)

// Runtimes maps each spec runtime this binary supports to its StartFunc.
type Runtimes map[spec.Runtime]StartFunc

// DefaultRelayDir is where notify relay directories go when systemd gave
// the unit no $RUNTIME_DIRECTORY.
const DefaultRelayDir = "/run/nucleus-exec"

const usage = `usage: nucleus-exec run [--hash=sha256:HEX] SPEC.toml [DROPIN.toml ...]
       nucleus-exec --help | --version

run   starts the container described by SPEC.toml and its drop-ins (merged in
      the order given), reports readiness and health to systemd over
      $NOTIFY_SOCKET (or to stderr when it is unset), forwards SIGHUP, SIGQUIT,
      SIGUSR1 and SIGUSR2, stops the workload on SIGTERM/SIGINT, and exits with
      the workload's status (128+N when killed by signal N).
      --hash  refuse to run when the files no longer hash to this value (the
              generator puts it in ExecStart=; a mismatch means the spec was
              edited after the last systemctl daemon-reload)

Exit status: the workload's; 125 when nucleus-exec fails or readiness never
passes; 126/127 when the command is not executable / not found.
See nucleus-exec(8).
`

// Main is nucleus-exec's command line (args without the program name). It
// returns the process's exit status, for the caller to exit with at once:
// the signals Main catches stay caught after it returns (see catchSignals).
func Main(args []string, runtimes Runtimes) int {
	signals, caught := catchSignals()
	if len(args) == 0 {
		<-caught
		fmt.Fprint(os.Stderr, usage)
		return ExitFailure
	}
	if args[0] == "run" {
		return mainRun(args[1:], runtimes, signals, caught)
	}
	<-caught
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Print(usage)
		return 0
	case "--version", "version":
		fmt.Println("nucleus-exec", version.Version)
		return 0
	}
	fmt.Fprintf(os.Stderr, "nucleus-exec: unknown command %q\n%s", args[0], usage)
	return ExitFailure
}

// caughtSignals are the signals nucleus-exec handles itself until the
// workload is gone: it must not die of a stray SIGHUP or of SIGPIPE on a
// closed stderr. Caught (not ignored) signals are reset to default in the
// workload by exec.
var caughtSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGABRT}

// catchSignals starts catching caughtSignals into the returned channel;
// caught is closed once all of them are. Nothing may be written to stdout or
// stderr, nor any process started, before that: runtimes wait for it
// (StartOptions.SignalsCaught) right before they start one.
//
// Catching a signal is a round trip to the Go runtime's signal thread (and
// its first use starts that thread): 0.3-0.6 ms for all eight on a 2-core
// VM, the most expensive step of nucleus-exec's own share of a start. A
// goroutine does it while Main parses the arguments and loads the spec, and
// the runtime prepares the container. For the same reason the signals are
// never released (signal.Stop would cost as much again, on the way out):
// Main's caller exits right after it returns.
func catchSignals() (signals chan os.Signal, caught <-chan struct{}) {
	signals = make(chan os.Signal, 16)
	done := make(chan struct{})
	go func() {
		signal.Notify(signals, caughtSignals...)
		close(done)
	}()
	return signals, done
}

func mainRun(args []string, runtimes Runtimes, signals <-chan os.Signal, caught <-chan struct{}) int {
	logTo := func(prefix string) func(string, ...any) {
		return func(format string, a ...any) {
			fmt.Fprint(os.Stderr, prefix+notify.OneLine(fmt.Sprintf(format, a...), 4096)+"\n")
		}
	}
	failed := logTo("nucleus-exec: ")
	fail := func(format string, a ...any) {
		<-caught
		failed(format, a...)
	}

	fs := flag.NewFlagSet("nucleus-exec run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	hash := fs.String("hash", "", "")
	if err := fs.Parse(args); err != nil {
		fail("run: %v", err)
		fmt.Fprint(os.Stderr, usage)
		return ExitFailure
	}
	paths := fs.Args()
	if len(paths) == 0 {
		fail("run: no spec file given")
		fmt.Fprint(os.Stderr, usage)
		return ExitFailure
	}
	s, err := spec.LoadFiles(paths)
	// Drift first: a spec edited after daemon-reload is refused with the
	// advice that fixes it, even when the edit also made it invalid. A
	// loaded spec carries the hash of exactly the bytes it was read from;
	// only when loading failed are the files read and hashed again.
	if *hash != "" {
		drifted := err == nil && s.Hash != *hash
		if err != nil {
			h, herr := spec.Hash(paths)
			drifted = herr == nil && h != *hash
		}
		if drifted {
			fail("spec %s changed since the unit was generated; run systemctl daemon-reload", paths[0])
			return ExitFailure
		}
	}
	if err != nil {
		// An ErrorList has a line per problem, each naming file:line:key.
		var list spec.ErrorList
		if errors.As(err, &list) && len(list) > 1 {
			<-caught
			fmt.Fprintf(os.Stderr, "nucleus-exec: %s\n", strings.ReplaceAll(err.Error(), "\n", "\nnucleus-exec: "))
		} else {
			fail("%v", err)
		}
		return ExitFailure
	}
	start := runtimes[s.Isolation.Runtime]
	if start == nil {
		fail("%s: runtime %q is not available in this build of nucleus-exec", paths[0], s.Isolation.Runtime)
		return ExitFailure
	}

	logged := logTo("nucleus-exec: " + s.Name + ": ")
	log := func(format string, a ...any) {
		<-caught
		logged(format, a...)
	}
	watchdog := notify.WatchdogFromEnv() // before FromEnv unsets it
	sender := notify.FromEnv(log)
	defer sender.Close()
	return Run(s, Config{
		Start:         start,
		Notifier:      sender,
		Foreground:    !sender.Enabled(),
		Clock:         probe.RealClock,
		Watchdog:      watchdog,
		Signals:       signals,
		RelayDir:      relayDir(),
		Log:           log,
		SignalsCaught: caught,
	})
}

// relayDir is the first of systemd's $RUNTIME_DIRECTORY (private to the
// unit) when set, else DefaultRelayDir.
func relayDir() string {
	if d, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":"); d != "" && filepath.IsAbs(d) {
		return d
	}
	return DefaultRelayDir
}
