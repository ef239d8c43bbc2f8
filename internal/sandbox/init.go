package sandbox

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/seccomp"
)

// The re-executed binary recognises its role from argv[0], so nothing
// leaks into the workload's environment.
const (
	stageInit = "nucleus:init"
	planEnv   = "_NUCLEUS_PLAN"
	initCtlFD = 3 // init's end of the control socketpair
)

// probeOutputCap bounds what an exec probe returns.
const probeOutputCap = 4096

// forwardedSignals are passed from init to the workload. A pid namespace's
// init only receives signals from outside when it handles them, which
// these Notify calls arrange.
var forwardedSignals = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP,
	syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// MaybeInit returns at once unless this process is the container's init
// (re-executed by Start); in that role it never returns. Call it first
// thing in main (and in TestMain of tests that start containers).
func MaybeInit() {
	if len(os.Args) > 0 && os.Args[0] == stageInit {
		code := runInit()
		traceDump("init")
		os.Exit(code)
	}
}

// message is one control datagram between the supervisor and init
// (encodeMessage/decodeMessage, plan.go).
type message struct {
	T    string // started | error | log | exec | cancel | signal | result
	ID   uint64
	Pid  int
	Code int
	Msg  string
	Argv []string
	Sig  int
	Out  []byte
}

// initProc is the state of the container's init.
type initProc struct {
	plan    *plan
	ctl     *os.File
	sendMu  sync.Mutex
	filter  *seccomp.Filter // built once; nil = unconfined
	spawner *spawner        // forks the workload and every exec probe

	mu      sync.Mutex
	waiters map[int]chan int // pid -> its exit status, for our own children
	probes  map[uint64]int   // probe id -> pid, for cancel
}

func (in *initProc) send(m message) {
	b := encodeMessage(m)
	in.sendMu.Lock()
	defer in.sendMu.Unlock()
	_, _ = in.ctl.Write(b)
}

func (in *initProc) log(format string, args ...any) {
	in.send(message{T: "log", Msg: fmt.Sprintf(format, args...)})
}

// runInit is PID 1 of the container: it builds the filesystem, starts the
// workload through the exec stage, then reaps, forwards signals and runs
// probes until the workload exits, and exits with its status.
func runInit() int {
	tracePhase("init: runtime started")
	// No process of the container may reach the host binary through
	// /proc/1/exe (CVE-2019-5736).
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// Again here: an exec that gains capabilities (the user namespace's
	// root) clears the parent-death signal set at clone.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	// Orphans are ours to reap even without a pid namespace.
	_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	// Only stdio reaches the workload and the probes: the control socket
	// (a workload holding it could forge probe results and log lines),
	// the credentials' descriptors and anything the supervisor inherited
	// without close-on-exec are closed at every exec.
	cloexecFrom(initCtlFD)
	// Non-blocking, so that os.File reads it through the runtime's
	// poller: readControl's goroutine is parked while it waits instead of
	// holding a thread of its own in read(2) for init's whole life. The
	// flag is on init's open file description only (the supervisor's end
	// is another one).
	_ = unix.SetNonblock(initCtlFD, true)
	in := &initProc{ctl: os.NewFile(initCtlFD, "ctl"), waiters: map[int]chan int{}, probes: map[uint64]int{}}
	fail := func(err error) int {
		in.send(message{T: "error", Msg: err.Error()})
		return exitSetup
	}
	pp, err := decodePlan(os.Getenv(planEnv))
	if err != nil {
		return fail(fmt.Errorf("sandbox init: plan: %w", err))
	}
	p := *pp
	os.Unsetenv(planEnv)
	in.plan = &p
	tracePhase("init: plan decoded")
	f, err := buildSeccomp(p.Exec.Seccomp)
	if err != nil {
		return fail(err)
	}
	in.filter = f
	creds, err := readCredentials(p.Credentials)
	if err != nil {
		return fail(err)
	}
	if err := setupFilesystem(&p, in.log); err != nil {
		return fail(fmt.Errorf("filesystem: %w", err))
	}
	tracePhase("init: mount tree built")
	// The user is resolved in the container's /etc/passwd before
	// pivot_root because the credentials' copies are owned by it.
	if err := resolveIdentity(&p.Exec, newRoot); err != nil {
		return fail(err)
	}
	tracePhase("init: user resolved")
	if err := mountCredentials(p.Credentials, creds, p.Exec.UID, p.Exec.GID); err != nil {
		return fail(fmt.Errorf("filesystem: %w", err))
	}
	if err := enterRoot(&p); err != nil {
		return fail(fmt.Errorf("filesystem: %w", err))
	}
	tracePhase("init: root entered")
	if p.Hostname != "" {
		if err := unix.Sethostname([]byte(p.Hostname)); err != nil {
			return fail(fmt.Errorf("hostname %q: %w", p.Hostname, err))
		}
	}
	if p.NewNet {
		if err := loopbackUp(); err != nil {
			return fail(fmt.Errorf("network: loopback: %w", err))
		}
	}
	if err := setRlimits(&p.Exec); err != nil {
		return fail(err)
	}
	// init's live heap is a few hundred kB, but each exec probe leaves
	// about 2 kB of garbage (messages, pipes, the fork's argv and env) and
	// the default GOGC=100 first collects at a 4 MB heap: init's memory
	// would grow by megabytes before the first collection (measured after
	// 2500 /bin/true probes: init's PSS 7.0 MB with GOGC=100, 5.1 MB with
	// 20). A collection of a heap this small costs well under a
	// millisecond, every few dozen probes; CPU per check did not change.
	debug.SetGCPercent(initGCPercent)
	tracePhase("init: hostname, loopback, rlimits")
	return in.run()
}

// initGCPercent is init's GOGC: the heap may grow to (1 + initGCPercent/100)
// times the live heap, and at least to 4 MB * initGCPercent/100.
const initGCPercent = 20

func (in *initProc) run() int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD}, forwardedSignals...)...)
	tracePhase("init: signals caught")

	s, err := startSpawner(&in.plan.Exec, in.filter, in.register)
	if err != nil {
		in.send(message{T: "error", Msg: err.Error()})
		return exitSetup
	}
	in.spawner = s
	if s.abi > 0 {
		in.log("landlock: ABI %d", s.abi)
	} else {
		in.log("landlock: not supported by this kernel, running without it")
	}
	sp := in.spawn(in.plan.Exec.Argv, [3]uintptr{0, 1, 2})
	switch {
	case sp.code == exitSetup:
		in.send(message{T: "error", Msg: sp.err.Error()})
		return exitSetup
	case sp.code != 0:
		// Not found / not executable: a workload status, not a setup error.
		in.send(message{T: "started", Code: sp.code, Msg: sp.err.Error()})
		return sp.code
	}
	tracePhase("init: workload started")
	pid, pidfd := sp.pid, sp.pidfd
	defer unix.Close(pidfd)
	done := in.wait(pid)
	in.send(message{T: "started", Pid: pid})

	ctl := make(chan message, 16)
	go in.readControl(ctl)
	// SIGCHLD notifications can coalesce or be dropped when the signal
	// channel is full; a slow periodic reap makes a lost one cost at most
	// this long instead of a probe that never returns.
	reapTick := time.NewTicker(500 * time.Millisecond)
	defer reapTick.Stop()
	for {
		select {
		case <-reapTick.C:
			in.reap()
		case s := <-sigs:
			if s == syscall.SIGCHLD {
				in.reap()
				continue
			}
			_ = unix.PidfdSendSignal(pidfd, s.(syscall.Signal), nil, 0)
		case status := <-done:
			tracePhase("init: workload exited")
			if !in.plan.PidNS {
				// Without a pid namespace nothing kills the rest for us:
				// take the workload's session (it is its leader) with it.
				_ = unix.Kill(-pid, unix.SIGKILL)
			}
			return status
		case m, ok := <-ctl:
			if !ok {
				ctl = nil // supervisor gone; PDEATHSIG ends us
				continue
			}
			switch m.T {
			case "exec":
				go in.probe(m)
			case "cancel":
				in.mu.Lock()
				ppid, ok := in.probes[m.ID]
				in.mu.Unlock()
				if ok {
					_ = unix.Kill(-ppid, unix.SIGKILL)
				}
			case "signal":
				_ = unix.PidfdSendSignal(pidfd, unix.Signal(m.Sig), nil, 0)
			}
		}
	}
}

func (in *initProc) readControl(out chan<- message) {
	buf := newControlBuffer()
	for {
		n, err := in.ctl.Read(buf)
		if err != nil || n == 0 {
			close(out)
			return
		}
		if m, err := decodeMessage(buf[:n]); err == nil {
			out <- m
		}
	}
}

// spawn starts argv with the workload's identity and restrictions and the
// given stdio, through the spawner.
func (in *initProc) spawn(argv []string, stdio [3]uintptr) spawned {
	sp := in.spawner.spawn(argv, stdio)
	if sp.err == nil {
		limitNOFile(&in.plan.Exec, sp.pid)
	}
	return sp
}

// register is the spawner's registerFunc: the fork and the registration of
// the pid happen under in.mu so that the reaper never sees an exit it
// cannot attribute.
func (in *initProc) register(fork func() (int, int, error)) (int, int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	pid, pidfd, err := fork()
	if err == nil {
		in.waiters[pid] = make(chan int, 1)
	}
	return pid, pidfd, err
}

// wait returns the channel that receives pid's exit status.
func (in *initProc) wait(pid int) <-chan int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.waiters[pid]
}

// forget drops pid's waiter entry once its status was read, unless the pid
// was reused by a newer child since.
func (in *initProc) forget(pid int, ch <-chan int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if cur, ok := in.waiters[pid]; ok && (<-chan int)(cur) == ch {
		delete(in.waiters, pid)
	}
}

// reap collects every exited child: our own (delivered to their waiter)
// and orphans re-parented to us (discarded).
func (in *initProc) reap() {
	in.mu.Lock()
	defer in.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue // a signal (Go's preemption SIGURG) is not "no more children"
		}
		if pid <= 0 || err != nil {
			return
		}
		if ch, ok := in.waiters[pid]; ok {
			// The entry stays: a probe goroutine may not have fetched
			// its channel with wait yet (a fast /bin/true exits first).
			// It drops the entry itself with forget.
			ch <- exitStatus(ws)
		}
	}
}

func exitStatus(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}

// probe runs one exec probe with the workload's identity and restrictions
// and answers with its status and (capped) output.
func (in *initProc) probe(m message) {
	reply := message{T: "result", ID: m.ID}
	defer func() { in.send(reply) }()
	if len(m.Argv) == 0 {
		reply.Code, reply.Msg = exitNotFound, "empty probe command"
		return
	}
	devnull, err := os.Open("/dev/null")
	if err != nil {
		reply.Code, reply.Msg = exitSetup, err.Error()
		return
	}
	defer devnull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		reply.Code, reply.Msg = exitSetup, err.Error()
		return
	}
	defer outR.Close()
	sp := in.spawn(m.Argv, [3]uintptr{devnull.Fd(), outW.Fd(), outW.Fd()})
	outW.Close()
	if sp.err != nil {
		reply.Code, reply.Out = sp.code, []byte(sp.err.Error())
		return
	}
	pid := sp.pid
	unix.Close(sp.pidfd)
	done := in.wait(pid)
	in.mu.Lock()
	in.probes[m.ID] = pid
	in.mu.Unlock()
	defer func() {
		in.mu.Lock()
		delete(in.probes, m.ID)
		in.mu.Unlock()
	}()

	outc := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(outR, probeOutputCap))
		_, _ = io.Copy(io.Discard, outR) // keep the writer from blocking
		outc <- b
	}()
	reply.Code = <-done
	in.forget(pid, done)
	// The probe's session may have left children holding the pipe open.
	_ = unix.Kill(-pid, unix.SIGKILL)
	_ = outR.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	reply.Out = <-outc
}

// cloexecFrom sets close-on-exec on every descriptor from first up, with
// one close_range(2) (Linux 5.11), or one by one from /proc/self/fd.
func cloexecFrom(first int) {
	if unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd >= first {
			unix.CloseOnExec(fd)
		}
	}
}

// loopbackUp sets IFF_UP on lo in the new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}
