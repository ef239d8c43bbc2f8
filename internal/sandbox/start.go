package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// Options are the supervisor's settings for one container.
type Options struct {
	// NotifySocket is the host path of a unix datagram socket, bind-mounted
	// at /run/nucleus/notify inside; NOTIFY_SOCKET is set for the workload
	// only then. "" = none.
	NotifySocket string
	// Stdin, Stdout, Stderr of the workload; nil = the supervisor's own.
	Stdin, Stdout, Stderr *os.File
	// Log receives setup diagnostics (one line each, no newline). May be nil.
	Log func(format string, args ...any)
}

// Container is a started sandbox. Its methods are safe for concurrent use.
type Container struct {
	pid     int // init's host pid
	ctl     *os.File
	hostNet bool
	log     func(format string, args ...any)

	netnsOnce sync.Once
	netns     *os.File
	netnsErr  error

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan message
	exited  bool
	// pidfd is init's pidfd: signals go through it, so a signal after
	// init was reaped can never reach a process that reused its pid. -1
	// once closed (after the exit was collected), under mu. pidFile owns
	// it, for waiting through the poller.
	pidfd   int
	pidFile *os.File

	done    chan struct{}
	status  int
	waitErr error
}

// Start builds the sandbox for s and starts its workload. It returns once
// the workload has been exec'd, or with an error naming what failed (the
// caller exits 125); on error nothing is left mounted or running. A
// command that is not found or not executable is not an error: Start
// succeeds and Wait reports 127 or 126, the shell's statuses, after the
// reason has gone to opts.Log.
func Start(s *spec.Spec, opts Options) (*Container, error) {
	tracePhase("start: called")
	logf := opts.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p, err := newPlan(s, opts)
	if err != nil {
		return nil, err
	}
	if p.Exec.Seccomp.Mode == string(spec.SeccompUnconfined) {
		logf("seccomp: unconfined (isolation.seccomp = \"unconfined\"): the workload runs without a syscall filter")
	}
	// Credentials are opened here, as the host's root and before any
	// namespace: init may run in a user namespace where a root-owned 0400
	// file is out of reach.
	credFiles := make([]*os.File, 0, len(p.Credentials))
	defer func() {
		for _, f := range credFiles {
			f.Close()
		}
	}()
	for i := range p.Credentials {
		f, err := os.Open(p.Credentials[i].Source)
		if err != nil {
			return nil, setupErrorf("sandbox: credential %s: %v", p.Credentials[i].Name, err)
		}
		credFiles = append(credFiles, f)
		p.Credentials[i].FD = initCtlFD + 1 + i
	}
	tracePhase("start: plan")
	data := encodePlan(p)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: control socket: %w", err)
	}
	// Our end non-blocking, so that os.File reads it through the runtime's
	// poller: a goroutine waiting for init's messages is parked instead of
	// holding a thread in read(2) (which also keeps the runtime's sysmon
	// thread polling every 20 µs, two context switches each, instead of
	// sleeping). init's end stays blocking.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, fmt.Errorf("sandbox: control socket: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "nucleus-ctl")
	theirs := os.NewFile(uintptr(fds[1]), "nucleus-ctl-init")
	defer theirs.Close()

	// Descriptors of init: stdio, the control socket (initCtlFD), then
	// the credentials (initCtlFD+1+i, as planned above).
	stdio := [3]*os.File{orDefault(opts.Stdin, os.Stdin), orDefault(opts.Stdout, os.Stdout), orDefault(opts.Stderr, os.Stderr)}
	files := []uintptr{stdio[0].Fd(), stdio[1].Fd(), stdio[2].Fd(), theirs.Fd()}
	for _, f := range credFiles {
		files = append(files, f.Fd())
	}
	pidfd := -1
	sys := &syscall.SysProcAttr{
		Cloneflags: p.Cloneflags,
		// If nucleus-exec dies, init dies, and with it the pid namespace.
		Pdeathsig: syscall.SIGKILL,
		// Own process group: a terminal's ^C reaches the supervisor,
		// which forwards it once, instead of every process at once.
		Setpgid: true,
		PidFD:   &pidfd,
	}
	if p.UserNS {
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: p.HostUIDBase, Size: userNSSize}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: p.HostUIDBase, Size: userNSSize}}
		sys.GidMappingsEnableSetgroups = true
		// Become uid/gid 0 of the namespace before execve: the clone
		// keeps the host uid (unmapped there), and only the namespace's
		// root keeps its capabilities across exec.
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	// syscall.ForkExec rather than os/exec: os.StartProcess first checks,
	// once per process, that clone(CLONE_PIDFD) works by starting and
	// reaping a throw-away child, a whole extra process on every
	// nucleus-exec start. The pidfd is ours here instead of os.Process's.
	pid, err := syscall.ForkExec("/proc/self/exe", []string{stageInit}, &syscall.ProcAttr{
		// init is mostly idle and never CPU-bound: one P means fewer
		// runtime threads to create at every start (≈10 % less CPU per
		// start, measured with bench/start). The workload's environment
		// is the plan's, not this.
		Env:   []string{planEnv + "=" + data, "GOMAXPROCS=1"},
		Files: files,
		Sys:   sys,
	})
	// The descriptors passed by number must stay open until then.
	runtime.KeepAlive(stdio)
	runtime.KeepAlive(theirs)
	if err != nil {
		ours.Close()
		return nil, fmt.Errorf("sandbox: start init (namespaces %s): %w", describeFlags(p.Cloneflags), err)
	}
	theirs.Close()
	// The pidfd is waited on through the poller too (it becomes readable
	// when init exits); non-blocking also makes waitid on it never block.
	if err := unix.SetNonblock(pidfd, true); err != nil {
		unix.Close(pidfd)
		_ = unix.Kill(pid, unix.SIGKILL)
		_, _ = unix.Wait4(pid, nil, 0, nil)
		ours.Close()
		return nil, fmt.Errorf("sandbox: init pidfd: %w", err)
	}
	c := &Container{pid: pid, pidfd: pidfd, pidFile: os.NewFile(uintptr(pidfd), "nucleus-init-pidfd"),
		ctl: ours, hostNet: !p.NewNet, log: logf, pending: map[uint64]chan message{}, done: make(chan struct{})}

	started := make(chan message, 1)
	go c.readControl(started)
	go c.waitInit()

	tracePhase("start: init forked")
	m, ok := <-started
	tracePhase("start: workload started")
	switch {
	case !ok:
		<-c.done
		return nil, fmt.Errorf("sandbox: init exited with status %d before starting the workload", c.status)
	case m.T == "error":
		<-c.done
		return nil, fmt.Errorf("sandbox: %s", m.Msg)
	}
	if m.Code != 0 {
		// Not found / not executable: init exits with m.Code, which Wait
		// reports as the workload's status.
		logf("%s", m.Msg)
	}
	return c, nil
}

func orDefault(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

func describeFlags(f uintptr) string {
	names := []struct {
		flag uintptr
		name string
	}{{syscall.CLONE_NEWNS, "mount"}, {syscall.CLONE_NEWPID, "pid"}, {syscall.CLONE_NEWIPC, "ipc"},
		{syscall.CLONE_NEWUTS, "uts"}, {syscall.CLONE_NEWNET, "net"}, {syscall.CLONE_NEWCGROUP, "cgroup"},
		{syscall.CLONE_NEWUSER, "user"}}
	var out []string
	for _, n := range names {
		if f&n.flag != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

// readControl dispatches init's messages: the first "started"/"error" to
// Start, "log" to the log, "result" to the waiting Exec.
func (c *Container) readControl(started chan<- message) {
	buf := newControlBuffer()
	first := true
	defer func() {
		c.ctl.Close()
		if first {
			close(started)
		}
	}()
	for {
		n, err := c.ctl.Read(buf)
		if err != nil || n == 0 {
			return
		}
		m, err := decodeMessage(buf[:n])
		if err != nil {
			continue
		}
		switch m.T {
		case "started", "error":
			if first {
				first = false
				started <- m
			}
		case "log":
			c.log("%s", m.Msg)
		case "result":
			c.mu.Lock()
			ch := c.pending[m.ID]
			delete(c.pending, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

// controlBufferSize holds the largest control datagram (SOCK_SEQPACKET:
// a shorter read would truncate it).
const controlBufferSize = 1 << 16

// newControlBuffer returns the receive buffer of a readControl loop, on
// the heap. A constant-size make of 64 KiB would be put on the
// goroutine's stack, which the runtime then grows to 128 KiB (a copy)
// and zeroes whole: about 17 page faults on each side of every start for
// datagrams of a few dozen bytes. Fresh heap pages are only touched where
// a read writes.
//
//go:noinline
func newControlBuffer() []byte {
	return make([]byte, controlBufferSize)
}

// waitInit collects init's exit. When the pid namespace's init is gone,
// the kernel has already killed and reaped everything else in it.
func (c *Container) waitInit() {
	// Park until init has exited; should the poller fail, wait4 blocks
	// for it instead (holding a thread, as before).
	_ = waitExit(c.pidFile)
	var ws syscall.WaitStatus
	var err error
	for {
		_, err = syscall.Wait4(c.pid, &ws, 0, nil)
		if err != syscall.EINTR {
			break
		}
	}
	var status int
	switch {
	case err != nil:
		c.waitErr = fmt.Errorf("sandbox: wait for init: %w", err)
	case ws.Exited():
		status = ws.ExitStatus()
	case ws.Signaled():
		status = 128 + int(ws.Signal())
	}
	tracePhase("start: init collected")
	traceDump("start")
	c.mu.Lock()
	c.status = status
	c.exited = true
	c.pidFile.Close()
	c.pidfd = -1
	for id, ch := range c.pending {
		ch <- message{T: "result", ID: id, Code: -1, Msg: "container exited"}
		delete(c.pending, id)
	}
	c.mu.Unlock()
	// c.ctl is closed by readControl at EOF, once it has drained what init
	// sent before exiting (a "started" may still be queued here).
	close(c.done)
}

// waitExit returns once the process of pidfd has exited, without holding
// a thread meanwhile: the goroutine is parked in the runtime's poller
// until the pidfd becomes readable.
func waitExit(pidfd *os.File) error {
	rc, err := pidfd.SyscallConn()
	if err != nil {
		return err
	}
	var pollErr error
	err = rc.Read(func(fd uintptr) bool {
		// Checked after the poller was armed (Read does that before the
		// first call), so an exit before it is not missed.
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		for err == unix.EINTR {
			n, err = unix.Poll(pfd, 0)
		}
		pollErr = err
		return n > 0 || err != nil
	})
	if err != nil {
		return err
	}
	return pollErr
}

// Pid is the host PID of the container's init.
func (c *Container) Pid() int { return c.pid }

// Wait returns the workload's exit status (128+signal when killed) once
// everything inside the container is gone.
func (c *Container) Wait() (int, error) {
	<-c.done
	return c.status, c.waitErr
}

// Kill sends SIGKILL to init: the pid namespace, and everything in it, dies.
func (c *Container) Kill() error {
	if err := c.signalInit(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("sandbox: kill init: %w", err)
	}
	return nil
}

// signalInit sends sig to init through its pidfd; os.ErrProcessDone once
// init has exited.
func (c *Container) signalInit(sig syscall.Signal) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pidfd < 0 {
		return os.ErrProcessDone
	}
	err := unix.PidfdSendSignal(c.pidfd, sig, nil, 0)
	if err == unix.ESRCH {
		return os.ErrProcessDone // exited, not yet collected
	}
	return err
}

// Signal delivers sig to the workload. The usual stop and control signals
// go to init through its pidfd and init forwards them
// through the workload's pidfd; others travel as a control message.
func (c *Container) Signal(sig syscall.Signal) error {
	if sig == syscall.SIGKILL {
		return c.Kill()
	}
	for _, f := range forwardedSignals {
		if f == sig {
			if err := c.signalInit(sig); err != nil {
				return fmt.Errorf("sandbox: signal %v: %w", sig, err)
			}
			return nil
		}
	}
	if _, err := c.ctl.Write(encodeMessage(message{T: "signal", Sig: int(sig)})); err != nil {
		return fmt.Errorf("sandbox: signal %v: %w", sig, err)
	}
	return nil
}

// Exec runs argv inside the container with the workload's identity,
// capabilities, seccomp filter and Landlock rules, and returns its exit
// status and its combined stdout and stderr (at most 4 KiB). When ctx ends
// first the process (and its session) is killed and ctx.Err() returned.
func (c *Container) Exec(ctx context.Context, argv []string) (int, []byte, error) {
	c.mu.Lock()
	if c.exited {
		c.mu.Unlock()
		return -1, nil, errors.New("sandbox: exec: container has exited")
	}
	c.nextID++
	id := c.nextID
	ch := make(chan message, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	if _, err := c.ctl.Write(encodeMessage(message{T: "exec", ID: id, Argv: argv})); err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return -1, nil, fmt.Errorf("sandbox: exec: %w", err)
	}
	var res message
	select {
	case res = <-ch:
	case <-ctx.Done():
		_, _ = c.ctl.Write(encodeMessage(message{T: "cancel", ID: id}))
		res = <-ch
		return res.Code, res.Out, ctx.Err()
	}
	if res.Code < 0 {
		return -1, res.Out, fmt.Errorf("sandbox: exec: %s", res.Msg)
	}
	return res.Code, res.Out, nil
}

// Dial connects from inside the container's network namespace (for
// network = "host", from the host's, which is the same).
func (c *Container) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	// No Happy Eyeballs: its parallel attempts would run on other threads,
	// outside the namespace.
	d := net.Dialer{FallbackDelay: -1}
	if c.hostNet {
		return d.DialContext(ctx, network, addr)
	}
	c.netnsOnce.Do(func() {
		c.netns, c.netnsErr = os.Open(fmt.Sprintf("/proc/%d/ns/net", c.Pid()))
	})
	if c.netnsErr != nil {
		return nil, fmt.Errorf("sandbox: dial: container network namespace: %w", c.netnsErr)
	}
	// The socket is created on a locked thread switched into the
	// container's netns (setns of a net namespace is per-thread and fine
	// in Go, unlike a mount namespace); it stays in that namespace after
	// the thread switches back.
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sandbox: dial: own network namespace: %w", err)
	}
	defer self.Close()
	if err := unix.Setns(int(c.netns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("sandbox: dial: setns: %w", err)
	}
	conn, dialErr := d.DialContext(ctx, network, addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime discards it when this
		// goroutine ends instead of reusing a thread in the wrong netns.
		if conn != nil {
			conn.Close()
		}
		return nil, fmt.Errorf("sandbox: dial: setns back: %w", err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}
