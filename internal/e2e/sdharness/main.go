// Command sdharness drives the e2e harness by hand (and for the README
// demo): boot a throw-away real systemd, run commands in it, copy files in,
// stop it. It owns only argument parsing; everything else is
// internal/e2e/harness.
//
//	sdharness boot [-cgroup unified|hybrid] [-kmsg]   prints the instance's PID
//	sdharness exec PID CMD [ARG...]                   stdin/stdout/stderr and exit status pass through
//	sdharness copy PID HOSTPATH INSTPATH [MODE]       MODE in octal, default 0644
//	sdharness install PID REPO                        builds and installs nucleus, daemon-reload
//	sdharness stop PID|all
//
// The state directory is $NUCLEUS_E2E_STATE_DIR, default $TMPDIR/nucleus-e2e.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"github.com/nucleus-containers/nucleus/internal/e2e/harness"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func usage() int {
	fmt.Fprintln(os.Stderr, `usage: sdharness boot [-cgroup unified|hybrid] [-kmsg]
       sdharness exec PID CMD [ARG...]
       sdharness copy PID HOSTPATH INSTPATH [MODE]
       sdharness install PID REPO
       sdharness stop PID|all`)
	return 2
}

func run(args []string) int {
	if len(args) == 0 {
		return usage()
	}
	stateDir := os.Getenv("NUCLEUS_E2E_STATE_DIR")
	switch args[0] {
	case "boot":
		fs := flag.NewFlagSet("boot", flag.ContinueOnError)
		mode := fs.String("cgroup", "unified", "cgroup mode: unified or hybrid (MemoryMax=/TasksMax= enforced)")
		kmsg := fs.Bool("kmsg", false, "pass the host's /dev/kmsg in")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		in, err := harness.Start(harness.Options{Cgroup: harness.CgroupMode(*mode), StateDir: stateDir, Kmsg: *kmsg})
		if err != nil {
			fmt.Fprintln(os.Stderr, "sdharness: boot:", err)
			return 1
		}
		fmt.Println(in.PID())
		return 0
	case "exec":
		if len(args) < 3 {
			return usage()
		}
		in, err := attach(stateDir, args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "sdharness:", err)
			return 125
		}
		return passThrough(in, args[2:])
	case "copy":
		if len(args) != 4 && len(args) != 5 {
			return usage()
		}
		in, err := attach(stateDir, args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "sdharness:", err)
			return 1
		}
		mode := uint64(0o644)
		if len(args) == 5 {
			if mode, err = strconv.ParseUint(args[4], 8, 32); err != nil {
				fmt.Fprintln(os.Stderr, "sdharness: mode:", err)
				return 2
			}
		}
		if err := in.CopyIn(args[2], args[3], os.FileMode(mode)); err != nil {
			fmt.Fprintln(os.Stderr, "sdharness:", err)
			return 1
		}
		return 0
	case "install":
		if len(args) != 3 {
			return usage()
		}
		in, err := attach(stateDir, args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, "sdharness:", err)
			return 1
		}
		tmp, err := os.MkdirTemp("", "nucleus-build.")
		if err != nil {
			fmt.Fprintln(os.Stderr, "sdharness:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		bins, err := harness.BuildNucleus(args[2], tmp)
		if err == nil {
			err = in.InstallNucleus(bins)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sdharness: install:", err)
			return 1
		}
		return 0
	case "stop":
		if len(args) != 2 {
			return usage()
		}
		var pids []int
		if args[1] == "all" {
			var err error
			if pids, err = harness.List(stateDir); err != nil {
				fmt.Fprintln(os.Stderr, "sdharness:", err)
				return 1
			}
		} else {
			pid, err := strconv.Atoi(args[1])
			if err != nil {
				return usage()
			}
			pids = []int{pid}
		}
		rc := 0
		for _, pid := range pids {
			in, err := harness.Attach(stateDir, pid)
			if err == nil {
				err = in.Stop()
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "sdharness: stop:", err)
				rc = 1
			}
		}
		return rc
	}
	return usage()
}

func attach(stateDir, pidArg string) (*harness.Instance, error) {
	pid, err := strconv.Atoi(pidArg)
	if err != nil {
		return nil, fmt.Errorf("bad PID %q", pidArg)
	}
	in, err := harness.Attach(stateDir, pid)
	if err != nil {
		return nil, err
	}
	if !in.Alive() {
		return nil, fmt.Errorf("instance %d is not running (stop it to clean up)", pid)
	}
	return in, nil
}

// passThrough runs a command inside with the terminal's stdio and returns
// its exit status.
func passThrough(in *harness.Instance, argv []string) int {
	cmd := exec.Command("nsenter", append(in.NsenterArgs(), argv...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var xe *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &xe):
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return xe.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "sdharness: exec:", err)
		return 125
	}
}
