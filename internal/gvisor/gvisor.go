// Package gvisor owns runtime = "gvisor": it runs a spec's workload inside
// gVisor's runsc from an OCI bundle it writes, and gives the supervisor the
// same *Container methods as the native sandbox (Dial and Exec for probes,
// Signal, Kill, Wait).
//
// Layout: everything lives in one private state directory,
// $RUNTIME_DIRECTORY/gvisor (or /run/nucleus-gvisor/NAME when run by hand):
// runsc's --root and the bundle (config.json, the root directory for the
// host view, a FIFO for the start hook, per-exec process files). Start
// removes whatever a killed predecessor left there (`runsc delete --force`,
// then the directory), and Wait removes it again after the workload ends.
//
// The workload runs under `runsc run` (attached: the sandbox dies with it),
// which nucleus-exec starts with a parent-death signal, so a SIGKILLed
// nucleus-exec takes the sandbox with it. cgroups are left to systemd
// (--ignore-cgroups): the sandbox stays in the unit's cgroup, where
// MemoryMax=, CPUQuota= and TasksMax= already apply to all of it.
//
// What differs from the native runtime, found on runsc 0.0~20221219 (Debian
// bookworm) and documented for users:
//   - network = "none": the workload's loopback is gVisor's own; tcp/http
//     probes reach it through a relay (MaybeRelay), one `runsc exec` per
//     attempt (~0.1 s), as exec probes are.
//   - notify = true needs --host-uds=open, given only then: without it runsc
//     refuses to start with a socket bind-mounted in.
//   - seccomp, seccomp_allow, Landlock, namespaces and user_namespace have no
//     counterpart; written in a spec they get a warning at start.
//   - TasksMax= counts the sandbox's host tasks (runsc, gofer, sentry
//     threads and, on ptrace, stub processes), not the workload's processes
//     as such (those are gVisor tasks); MemoryMax= bounds the whole sandbox.
//   - that runsc lacks statx flags newer coreutils pass: `ls`/`stat` inside
//     fail with EINVAL (busybox works). Newer runsc releases fix this.
//
// This package must not parse TOML, decide spec defaults, schedule probes
// or talk to systemd; it must not touch anything outside its state
// directory.
package gvisor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// Environment variables that tune the runtime (set them on the unit with
// `systemctl edit NAME`: Environment=...).
const (
	// EnvPlatform selects runsc's --platform (e.g. "ptrace", "systrap",
	// "kvm"); unset = runsc's own default.
	EnvPlatform = "NUCLEUS_RUNSC_PLATFORM"
	// EnvFlags adds global runsc flags, split on white space (e.g.
	// "--debug --debug-log=/var/log/runsc/").
	EnvFlags = "NUCLEUS_RUNSC_FLAGS"
)

// hookShell runs the poststart hook on the host (a variable so that a test
// can make the hook fail).
var hookShell = "/bin/sh"

// execOutputCap bounds what an exec probe returns, as in the native sandbox.
const execOutputCap = 4096

// idPrefix makes the runsc container id unique on the host: runsc names the
// sandbox's control socket after the id alone (an abstract socket), whatever
// --root says.
const idPrefix = "nucleus-"

// Container is a workload running under runsc. Its methods are safe for
// concurrent use.
type Container struct {
	id      string
	runsc   string
	flags   []string // global runsc flags, --root first
	dir     string   // private state directory
	bundle  string
	proc    specs.Process // the workload's process: the template for Exec
	hostNet bool
	relay   bool // the relay binary is mounted (network none with tcp/http probes)
	log     func(format string, args ...any)

	cmd  *exec.Cmd // runsc run
	pid  int
	seq  sync.Mutex
	next int

	done    chan struct{}
	status  int
	waitErr error
}

// errExited is returned by methods called after the workload has ended.
var errExited = errors.New("gvisor: the container has exited")

// Start writes the bundle for s and starts its workload under runsc. It
// returns once the workload runs (runsc's poststart hook has fired), or with
// an error naming what failed; on error nothing is left running or on disk.
// As in the native sandbox, a command that is not found or not executable
// is not an error: Start succeeds and Wait reports 127 or 126 after the
// reason has gone to opts.Log.
func Start(s *spec.Spec, opts sandbox.Options) (*Container, error) {
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if s.Isolation.Runtime != spec.RuntimeGVisor {
		return nil, fmt.Errorf("gvisor: runtime %q is not gvisor", s.Isolation.Runtime)
	}
	runsc, err := exec.LookPath("runsc")
	if err != nil {
		return nil, errors.New(`gvisor: runsc not found in PATH: runtime = "gvisor" needs gVisor's runsc (apt-get install runsc)`)
	}
	if _, err := os.Stat(hookShell); err != nil {
		return nil, fmt.Errorf("gvisor: %s is needed to run runsc's start hook: %w", hookShell, err)
	}
	warnIgnored(s, logf)

	// Everything the bundle depends on is checked before anything is
	// written or started.
	var hv []workload.HostEntry
	if s.Isolation.Rootfs == "" {
		if hv, err = workload.HostView(); err != nil {
			return nil, fmt.Errorf("gvisor: %w", err)
		}
	} else if fi, err := os.Stat(s.Isolation.Rootfs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("gvisor: rootfs %s is not a directory", s.Isolation.Rootfs)
	}
	v := newView(s, hv)
	id, err := v.resolveIdentity(s.Exec.User, s.Exec.SupplementaryGroups)
	if err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	if err := checkSources(s); err != nil {
		return nil, err
	}
	if opts.NotifySocket != "" {
		if _, err := os.Stat(opts.NotifySocket); err != nil {
			return nil, fmt.Errorf("gvisor: notify socket: %w", err)
		}
	}
	dir := stateDir(s.Name)
	c := &Container{
		id:      idPrefix + s.Name,
		runsc:   runsc,
		dir:     dir,
		bundle:  filepath.Join(dir, "bundle"),
		hostNet: s.Network.Mode == spec.NetworkHost,
		log:     logf,
		done:    make(chan struct{}),
	}
	c.flags = globalFlags(filepath.Join(dir, "runsc"), s.Network.Mode, opts.NotifySocket != "")
	facts := hostFacts{
		BundleRoot: filepath.Join(c.bundle, "root"),
		HostView:   hv,
		CredCopies: filepath.Join(c.dir, "credentials"),
		Notify:     opts.NotifySocket,
		StartFIFO:  filepath.Join(c.bundle, "started"),
		Shell:      hookShell,
		Identity:   id,
	}
	if !c.hostNet && needsDial(s) {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("gvisor: own executable (mounted in the sandbox as the probe relay): %w", err)
		}
		facts.Relay = self
		c.relay = true
	}
	cfg, err := buildConfig(s, facts)
	if err != nil {
		return nil, fmt.Errorf("gvisor: %w", err)
	}
	c.proc = *cfg.Process
	if code, why := v.lookCommand(s.Exec.Command[0], workload.EnvValue(cfg.Process.Env, "PATH")); code != 0 {
		logf("%v", why)
		// Nothing starts, but what a killed predecessor left still goes.
		if err := c.removeStale(); err != nil {
			logf("%v", err)
		}
		c.status = code
		close(c.done)
		return c, nil
	}

	if err := c.removeStale(); err != nil {
		return nil, err
	}
	if err := c.writeBundle(cfg, facts, s.Credentials); err != nil {
		c.cleanup()
		return nil, err
	}
	if err := c.run(opts); err != nil {
		c.cleanup()
		return nil, err
	}
	return c, nil
}

// warnIgnored says, once at start, which settings the spec asked for that
// gVisor does not apply: the workload's system calls are served by gVisor's
// own kernel (itself under runsc's seccomp filter), so the native
// sandbox's host seccomp filter, Landlock rules and namespace list have no
// counterpart.
func warnIgnored(s *spec.Spec, logf func(string, ...any)) {
	ex := s.Isolation.Explicit
	why := map[string]string{
		"seccomp":        "the workload's system calls go to gVisor's kernel, not the host's (runsc filters its own)",
		"seccomp_allow":  "the workload's system calls go to gVisor's kernel, not the host's (runsc filters its own)",
		"namespaces":     "gVisor always gives the workload its own pid, mount, ipc, uts and network world",
		"user_namespace": "the gVisor sandbox always runs in its own user namespace as an unprivileged host user",
		"landlock":       "the workload's file access goes through gVisor's gofer, which serves only the bundle's mounts",
	}
	for _, k := range []string{"seccomp", "seccomp_allow", "namespaces", "user_namespace", "landlock"} {
		if ex[k] {
			table := "isolation."
			if k == "landlock" {
				table = ""
			}
			logf("warning: %s%s has no effect with runtime = \"gvisor\": %s", table, k, why[k])
		}
	}
}

// needsDial reports whether a probe connects to the workload over TCP.
func needsDial(s *spec.Spec) bool {
	isNet := func(k spec.ProbeKind) bool { return k == spec.ProbeTCP || k == spec.ProbeHTTP }
	return (s.Readiness != nil && isNet(s.Readiness.Kind)) || (s.Health != nil && isNet(s.Health.Kind))
}

// checkSources reports a missing bind source or credential before runsc
// does (runsc's message names neither the spec key nor the credential).
func checkSources(s *spec.Spec) error {
	for _, m := range s.Mounts {
		if m.Type != spec.MountBind {
			continue
		}
		if _, err := os.Stat(m.Source); err != nil {
			return fmt.Errorf("gvisor: mount %s: source: %w", m.Target, err)
		}
	}
	credDir := os.Getenv("CREDENTIALS_DIRECTORY")
	for _, cr := range s.Credentials {
		src := workload.CredentialSource(cr, credDir)
		fi, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("gvisor: credential %s: %w", cr.Name, err)
		}
		if fi.IsDir() {
			return fmt.Errorf("gvisor: credential %s: %s is a directory", cr.Name, src)
		}
	}
	return nil
}

// stateDir is the container's private directory: under the unit's
// RuntimeDirectory= when systemd provides one (the first, if several),
// otherwise /run/nucleus-gvisor/NAME.
func stateDir(name string) string {
	if rd := os.Getenv("RUNTIME_DIRECTORY"); rd != "" {
		first, _, _ := strings.Cut(rd, ":")
		return filepath.Join(first, "gvisor")
	}
	return filepath.Join("/run/nucleus-gvisor", name)
}

// globalFlags are the runsc flags every invocation for this container
// gets. --host-uds=open lets the workload connect to the bind-mounted
// notify socket (runsc refuses host sockets otherwise); it is only given
// when notify is used, because it lets the sandbox connect to any host
// socket it can see through its mounts.
func globalFlags(root string, mode spec.NetworkMode, notify bool) []string {
	f := []string{"--root=" + root, "--ignore-cgroups"}
	if mode == spec.NetworkHost {
		f = append(f, "--network=host")
	} else {
		f = append(f, "--network=none")
	}
	if notify {
		f = append(f, "--host-uds=open")
	}
	if p := os.Getenv(EnvPlatform); p != "" {
		f = append(f, "--platform="+p)
	}
	f = append(f, strings.Fields(os.Getenv(EnvFlags))...)
	return f
}

// runscCmd builds one runsc invocation for this container, killed when ctx
// ends.
func (c *Container) runscCmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, c.runsc, append(append([]string(nil), c.flags...), args...)...)
}

// runscLong builds a runsc invocation that lives as long as what it runs
// (run, exec): it is ended by killing what runs inside, not by a context.
func (c *Container) runscLong(args ...string) *exec.Cmd {
	return exec.Command(c.runsc, append(append([]string(nil), c.flags...), args...)...)
}

// removeStale removes what a previous run with the same name left behind
// (nucleus-exec SIGKILLed, then restarted): its sandbox, if runsc still
// knows it, and the whole state directory.
func (c *Container) removeStale() error {
	if _, err := os.Stat(c.dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.dir, "runsc")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := c.runscCmd(ctx, "delete", "--force", c.id).CombinedOutput()
		cancel()
		if err == nil {
			c.log("gvisor: removed a stale sandbox %s left by an earlier run", c.id)
		} else if !bytes.Contains(out, []byte("not exist")) && !bytes.Contains(out, []byte("not found")) {
			c.log("gvisor: runsc delete --force %s (stale state): %v: %s", c.id, err, bytes.TrimSpace(out))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("gvisor: remove stale state %s: %w", c.dir, err)
	}
	return nil
}

// cleanup removes runsc's record of the container (when `runsc run` did not
// get to) and the state directory.
func (c *Container) cleanup() {
	root := filepath.Join(c.dir, "runsc")
	if m, _ := filepath.Glob(filepath.Join(root, "*.state")); len(m) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if out, err := c.runscCmd(ctx, "delete", "--force", c.id).CombinedOutput(); err != nil {
			c.log("gvisor: runsc delete --force %s: %v: %s", c.id, err, bytes.TrimSpace(out))
		}
		cancel()
	}
	if err := os.RemoveAll(c.dir); err != nil {
		c.log("gvisor: remove %s: %v", c.dir, err)
	}
}

// writeBundle creates the state directory, the bundle, the start FIFO and
// the workload's copies of the credentials.
func (c *Container) writeBundle(cfg *specs.Spec, f hostFacts, creds []spec.Credential) error {
	if err := os.MkdirAll(filepath.Join(c.dir, "runsc"), 0o700); err != nil {
		return fmt.Errorf("gvisor: state directory: %w", err)
	}
	if err := os.Chmod(c.dir, 0o711); err != nil {
		return fmt.Errorf("gvisor: state directory: %w", err)
	}
	// The bundle must be traversable by the sandbox, which runs as an
	// unprivileged user.
	if err := os.MkdirAll(c.bundle, 0o711); err != nil {
		return fmt.Errorf("gvisor: bundle: %w", err)
	}
	if cfg.Root.Path == f.BundleRoot {
		if err := prepareRoot(f.BundleRoot, f.HostView); err != nil {
			return fmt.Errorf("gvisor: %w", err)
		}
	}
	data, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return fmt.Errorf("gvisor: encode config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.bundle, "config.json"), data, 0o600); err != nil {
		return fmt.Errorf("gvisor: write config.json: %w", err)
	}
	if err := unix.Mkfifo(f.StartFIFO, 0o600); err != nil {
		return fmt.Errorf("gvisor: start FIFO: %w", err)
	}
	if err := copyCredentials(creds, os.Getenv("CREDENTIALS_DIRECTORY"), f.CredCopies, f.Identity); err != nil {
		return fmt.Errorf("gvisor: %w", err)
	}
	return nil
}

// run starts `runsc run` and returns once the poststart hook has fired.
func (c *Container) run(opts sandbox.Options) error {
	// O_RDWR: the FIFO then always has a writer, so reads block until the
	// hook writes instead of returning EOF; and it is pollable, so a read
	// can be interrupted when runsc exits first.
	fifo, err := os.OpenFile(filepath.Join(c.bundle, "started"), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("gvisor: start FIFO: %w", err)
	}
	defer fifo.Close()

	cmd := c.runscLong("run", "--bundle", c.bundle, c.id)
	cmd.Stdin = orDefault(opts.Stdin, os.Stdin)
	cmd.Stdout = orDefault(opts.Stdout, os.Stdout)
	cmd.Stderr = orDefault(opts.Stderr, os.Stderr)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// If nucleus-exec dies, runsc run dies, and the attached sandbox
		// with it.
		Pdeathsig: syscall.SIGKILL,
		// Own process group: a terminal's ^C reaches the supervisor,
		// which forwards it once, instead of killing runsc.
		Setpgid: true,
	}
	c.cmd = cmd
	started := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		// The parent-death signal follows the thread that forked: keep it
		// alive, locked to this goroutine, for as long as runsc runs.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("gvisor: start runsc: %w", err)
			return
		}
		c.pid = cmd.Process.Pid
		started <- nil
		c.wait()
		close(exited)
		// Returning while locked ends the thread, which is fine now.
	}()
	if err := <-started; err != nil {
		return err
	}

	hook := make(chan error, 1)
	go func() {
		_, err := readLine(fifo, 64)
		hook <- err
	}()
	// The hook is best effort for runsc (a hook that cannot be forked is
	// only logged), so after a while without it runsc's own state is
	// asked, once a second: a start that has happened is never missed.
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		select {
		case err := <-hook:
			if err != nil {
				_ = c.Kill()
				<-c.done
				return fmt.Errorf("gvisor: waiting for the workload to start: %w", err)
			}
			return nil
		case <-exited:
			// The hook may have fired just before runsc exited (a
			// workload that ends at once): look for its line without
			// waiting.
			if startedBeforeExit(fifo, hook) {
				return nil
			}
			return fmt.Errorf("gvisor: runsc exited with status %d before the workload started (runsc's message is above)", c.status)
		case <-poll.C:
			if st := c.state(); st == "running" || st == "stopped" {
				c.log("gvisor: runsc's start hook did not report; runsc state says %q", st)
				return nil
			}
		}
	}
}

// state is runsc's status of the container ("created", "running",
// "stopped"), or "" when runsc cannot say.
func (c *Container) state() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.runscCmd(ctx, "state", c.id).Output()
	if err != nil {
		return ""
	}
	var st specs.State
	if json.Unmarshal(out, &st) != nil {
		return ""
	}
	return string(st.Status)
}

// startedBeforeExit reports whether the start hook wrote its line before
// runsc exited (a workload that ends at once): it stops the reader
// goroutine, whose result arrives on hook, and looks in the FIFO itself for
// what the reader had not consumed yet.
func startedBeforeExit(fifo *os.File, hook <-chan error) bool {
	_ = fifo.SetReadDeadline(time.Now())
	if err := <-hook; err == nil {
		return true
	}
	// The deadline may have stopped the reader before it read anything;
	// it would stop this read too, so it goes first.
	_ = fifo.SetReadDeadline(time.Time{})
	return fifoHasData(fifo)
}

// fifoHasData reports whether anything is waiting in the FIFO, without
// blocking (the descriptor is non-blocking: it is in Go's poller).
func fifoHasData(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = rc.Read(func(fd uintptr) bool {
		if unix.SetNonblock(int(fd), true) == nil {
			buf := make([]byte, 64)
			n, _ = unix.Read(int(fd), buf)
		}
		return true
	})
	return n > 0
}

// wait collects runsc run's exit: the workload's status (runsc reports
// 128+signal for a killed workload), or 128+signal when runsc itself was
// killed. Then it removes the state directory.
func (c *Container) wait() {
	err := c.cmd.Wait()
	status, ok := workload.ExitStatus(c.cmd.ProcessState)
	if !ok && err != nil {
		c.waitErr = fmt.Errorf("gvisor: wait for runsc: %w", err)
	}
	c.status = status
	c.cleanup()
	close(c.done)
}

func orDefault(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// exited reports whether the workload has ended.
func (c *Container) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Pid is the host PID of `runsc run`, the parent of the sandbox and the
// gofer (the workload itself has no host PID: it is a task of gVisor's
// kernel). 0 when the command was never started (Wait reports 126/127).
func (c *Container) Pid() int { return c.pid }

// Wait returns the workload's exit status (128+signal when killed) once the
// sandbox is gone and its state removed.
func (c *Container) Wait() (int, error) {
	<-c.done
	return c.status, c.waitErr
}

// Signal delivers sig to the workload (gVisor's init of the container)
// through `runsc kill`.
func (c *Container) Signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return c.Kill()
	}
	if c.exited() {
		return errExited
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := c.runscCmd(ctx, "kill", c.id, strconv.Itoa(int(sig))).CombinedOutput(); err != nil {
		if c.exited() {
			return errExited
		}
		return fmt.Errorf("gvisor: runsc kill %s %d: %w: %s", c.id, int(sig), err, bytes.TrimSpace(out))
	}
	return nil
}

// Kill ends the workload and everything in the sandbox: SIGKILL through
// `runsc kill`, and when runsc cannot deliver it (a wedged sandbox), SIGKILL
// to `runsc run` itself, whose attached sandbox dies with it.
func (c *Container) Kill() error {
	if c.exited() || c.cmd == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.runscCmd(ctx, "kill", c.id, "KILL").Run(); err == nil || c.exited() {
		return nil
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("gvisor: kill runsc: %w", err)
	}
	return nil
}

// processFile writes a process.json for `runsc exec` and returns its path
// and a path for the internal pid file.
func (c *Container) processFile(p specs.Process) (string, string, error) {
	c.seq.Lock()
	c.next++
	n := c.next
	c.seq.Unlock()
	base := filepath.Join(c.bundle, fmt.Sprintf("exec-%d", n))
	data, err := json.Marshal(p)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(base+".json", data, 0o600); err != nil {
		return "", "", err
	}
	return base + ".json", base + ".pid", nil
}

// startExec runs `runsc exec` for p with the given stdio (nil = /dev/null);
// the caller waits for it and then calls remove.
func (c *Container) startExec(p specs.Process, stdin io.Reader, stdout, stderr io.Writer) (cmd *exec.Cmd, pidFile string, remove func(), err error) {
	if c.exited() || c.cmd == nil {
		return nil, "", nil, errExited
	}
	pf, pidf, err := c.processFile(p)
	if err != nil {
		return nil, "", nil, fmt.Errorf("gvisor: exec: process file: %w", err)
	}
	remove = func() { _ = os.Remove(pf); _ = os.Remove(pidf) }
	cmd = c.runscLong("exec", "--process", pf, "--internal-pid-file", pidf, c.id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Start(); err != nil {
		remove()
		return nil, "", nil, fmt.Errorf("gvisor: exec: start runsc: %w", err)
	}
	return cmd, pidf, remove, nil
}

// killExec kills a process started by runsc exec (killing runsc exec alone
// would leave it running in the sandbox), then runsc exec.
func (c *Container) killExec(cmd *exec.Cmd, pidFile string) {
	if b, err := os.ReadFile(pidFile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = c.runscCmd(ctx, "kill", "--pid="+strconv.Itoa(pid), c.id, "KILL").Run()
			cancel()
		}
	}
	_ = cmd.Process.Kill()
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}

// Exec runs argv inside the sandbox (`runsc exec`) with the workload's
// identity, capabilities, environment and working directory, and returns
// its exit status and combined output (at most 4 KiB). When ctx ends first
// the process is killed inside the sandbox and ctx.Err() returned.
func (c *Container) Exec(ctx context.Context, argv []string) (int, []byte, error) {
	if len(argv) == 0 {
		return -1, nil, errors.New("gvisor: exec: empty command")
	}
	p := c.proc
	p.Args = append([]string(nil), argv...)
	var buf limitedBuffer
	buf.max = execOutputCap
	cmd, pidf, remove, err := c.startExec(p, nil, &buf, &buf)
	if err != nil {
		return -1, nil, err
	}
	defer remove()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		c.killExec(cmd, pidf)
		<-waited
		return -1, buf.Bytes(), fmt.Errorf("gvisor: exec: %w", ctx.Err())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, buf.Bytes(), nil
	case errors.As(err, &ee):
		if c.exited() {
			return -1, buf.Bytes(), errExited
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), buf.Bytes(), nil
		}
		return ee.ExitCode(), buf.Bytes(), nil
	default:
		return -1, buf.Bytes(), fmt.Errorf("gvisor: exec: %w", err)
	}
}

// Dial connects to addr from inside the sandbox's network. With network =
// "host" that is the host's own network; with "none" it is gVisor's
// private network stack, reached through a relay process started in the
// sandbox for each connection (see MaybeRelay).
func (c *Container) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if c.hostNet {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	if !c.relay {
		return nil, errors.New("gvisor: dial: no relay in this sandbox (mounted only for specs with tcp or http probes)")
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, fmt.Errorf("gvisor: dial %s: %w", addr, context.DeadlineExceeded)
		}
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("gvisor: dial: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("gvisor: dial: %w", err)
	}
	// The relay runs as root of the sandbox with no capabilities: it only
	// needs to connect to loopback and to execute the relay binary,
	// whatever the workload's user may read.
	p := specs.Process{
		User:            specs.User{UID: 0, GID: 0},
		Args:            []string{relayPathInside, relayArg, network, addr, timeout.String()},
		Env:             []string{"PATH=" + workload.DefaultPath},
		Cwd:             "/",
		Capabilities:    &specs.LinuxCapabilities{},
		NoNewPrivileges: true,
	}
	cmd, pidf, remove, err := c.startExec(p, inR, outW, nil)
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	conn := &relayConn{r: outR, w: inW, cmd: cmd, network: network, addr: addr}
	// The process file is read by runsc exec before it starts the relay;
	// the pid file is only needed to kill a relay stuck in its handshake.
	defer remove()
	if dl, ok := ctx.Deadline(); ok {
		_ = outR.SetReadDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = outR.SetReadDeadline(time.Now()) })
	line, err := readLine(outR, 4096)
	stop()
	_ = outR.SetReadDeadline(time.Time{})
	switch {
	case err == nil && line == relayOK:
		return conn, nil
	case err == nil && strings.HasPrefix(line, relayErr):
		conn.Close()
		return nil, fmt.Errorf("gvisor: dial %s inside the sandbox: %s", addr, strings.TrimPrefix(line, relayErr))
	case ctx.Err() != nil:
		c.killExec(cmd, pidf)
		conn.Close()
		return nil, fmt.Errorf("gvisor: dial %s: %w", addr, ctx.Err())
	default:
		conn.Close()
		if c.exited() {
			return nil, errExited
		}
		return nil, fmt.Errorf("gvisor: dial %s: relay: %q: %v", addr, line, err)
	}
}
