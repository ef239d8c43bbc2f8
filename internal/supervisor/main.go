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
// returns the process's exit status.
func Main(args []string, runtimes Runtimes) int {
	// Catch these first: until the workload is gone, nucleus-exec must not
	// die of a stray SIGHUP or of SIGPIPE on a closed stderr. Caught (not
	// ignored) signals are reset to default in the workload by exec.
	signals := make(chan os.Signal, 16)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGPIPE, syscall.SIGABRT)
	defer signal.Stop(signals)

	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return ExitFailure
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Print(usage)
		return 0
	case "--version", "version":
		fmt.Println("nucleus-exec", version.Version)
		return 0
	case "run":
		return mainRun(args[1:], runtimes, signals)
	}
	fmt.Fprintf(os.Stderr, "nucleus-exec: unknown command %q\n%s", args[0], usage)
	return ExitFailure
}

func mainRun(args []string, runtimes Runtimes, signals <-chan os.Signal) int {
	logTo := func(prefix string) func(string, ...any) {
		return func(format string, a ...any) {
			fmt.Fprint(os.Stderr, prefix+notify.OneLine(fmt.Sprintf(format, a...), 4096)+"\n")
		}
	}
	fail := logTo("nucleus-exec: ")

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

	log := logTo("nucleus-exec: " + s.Name + ": ")
	watchdog := notify.WatchdogFromEnv() // before FromEnv unsets it
	sender := notify.FromEnv(log)
	defer sender.Close()
	return Run(s, Config{
		Start:      start,
		Notifier:   sender,
		Foreground: !sender.Enabled(),
		Clock:      probe.RealClock,
		Watchdog:   watchdog,
		Signals:    signals,
		RelayDir:   relayDir(),
		Log:        log,
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
