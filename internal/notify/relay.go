package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Relay is the socket behind the workload's NOTIFY_SOCKET. nucleus-exec
// creates it in a private directory on the host; the sandbox bind-mounts the
// socket into the container. Datagrams are accepted only from processes of
// the container (checked with SCM_CREDENTIALS), and only the assignments a
// workload may make are passed on.
type Relay struct {
	dir  string
	path string
	conn *net.UnixConn
	log  func(format string, args ...any)
}

// RelayPolicy says whom a Relay listens to and what it passes on.
type RelayPolicy struct {
	// Member returns nil when the (host-namespace) pid a datagram came
	// from is a process of this container, else why not. ProcessTree is
	// the usual choice.
	Member func(pid int) error
	// AllowWatchdog passes WATCHDOG=1 on; set it only when no [health]
	// probe drives the watchdog, so a workload cannot mask failing probes.
	AllowWatchdog bool
}

// NewRelay creates a private directory (mode 0700) under base named after
// the container, and a datagram socket "notify" in it with SO_PASSCRED on.
// The socket itself is mode 0666 so that a workload running as any user can
// send to it once it is bind-mounted into the container; the directory keeps
// host users out.
func NewRelay(base, name string, log func(format string, args ...any)) (*Relay, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("notify relay: %w", err)
	}
	dir, err := os.MkdirTemp(base, name+".")
	if err != nil {
		return nil, fmt.Errorf("notify relay: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("notify relay: %w", err)
	}
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("notify relay: %w", err)
	}
	r := &Relay{dir: dir, path: path, conn: conn, log: log}
	if err := r.setup(); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("notify relay %s: %w", path, err)
	}
	return r, nil
}

func (r *Relay) setup() error {
	if err := os.Chmod(r.path, 0o666); err != nil {
		return err
	}
	raw, err := r.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_PASSCRED: %w", serr)
	}
	return nil
}

// Path is the socket's host path, for sandbox.Options.NotifySocket.
func (r *Relay) Path() string { return r.path }

// Close closes the socket and removes its directory. It also ends Serve.
func (r *Relay) Close() error {
	err := r.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil // Serve's context already closed it
	}
	if rerr := os.RemoveAll(r.dir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// Serve reads datagrams until ctx is done or the Relay is closed, and calls
// deliver, from this goroutine and in arrival order, with the assignments of
// each accepted datagram that policy lets through (never an empty slice).
// Datagrams sent before Serve starts wait in the socket's queue.
//
// File descriptors passed along (systemd-notify's BARRIER=1 sends one and
// waits for it to be closed) are closed after the datagram is handled, which
// gives the barrier its meaning: everything sent before it was processed.
func (r *Relay) Serve(ctx context.Context, policy RelayPolicy, deliver func(assignments []string)) error {
	stop := context.AfterFunc(ctx, func() { _ = r.conn.Close() })
	defer stop()

	buf := make([]byte, maxDatagram+1)
	oob := make([]byte, syscall.CmsgSpace(syscall.SizeofUcred)+syscall.CmsgSpace(4*253))
	warned := map[string]bool{}
	warnOnce := func(key, format string, args ...any) {
		if !warned[key] {
			warned[key] = true
			r.log(format, args...)
		}
	}
	for {
		n, oobn, flags, _, err := r.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("notify relay: %w", err)
		}
		creds, fds := parseControl(oob[:oobn])
		var notMember error
		if creds != nil {
			notMember = policy.Member(int(creds.Pid))
		}
		switch {
		case creds == nil:
			warnOnce("nocreds", "notify relay: dropped a datagram without sender credentials")
		case notMember != nil:
			warnOnce("pid:"+strconv.Itoa(int(creds.Pid)), "notify relay: dropped a datagram from pid %d: %v", creds.Pid, notMember)
		case flags&syscall.MSG_TRUNC != 0:
			warnOnce("trunc", "notify relay: dropped a datagram longer than %d bytes", maxDatagram)
		default:
			if allowed := r.filter(buf[:n], policy, warnOnce); len(allowed) > 0 {
				deliver(allowed)
			}
		}
		for _, fd := range fds {
			_ = syscall.Close(fd)
		}
	}
}

// filter keeps the assignments a workload may make: READY=1, STATUS=,
// EXTEND_TIMEOUT_USEC= and (per policy) WATCHDOG=1. MAINPID= is refused:
// nucleus-exec is the unit's main process and stays so.
func (r *Relay) filter(datagram []byte, policy RelayPolicy, warnOnce func(key, format string, args ...any)) []string {
	var allowed []string
	for _, line := range bytes.Split(datagram, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		a := string(line)
		key, value, _ := strings.Cut(a, "=")
		switch {
		case a == "READY=1":
			allowed = append(allowed, a)
		case key == "STATUS":
			allowed = append(allowed, "STATUS="+OneLine(value, maxValue))
		case key == "EXTEND_TIMEOUT_USEC":
			if _, err := strconv.ParseUint(value, 10, 64); err != nil {
				warnOnce("extend", "notify relay: dropped EXTEND_TIMEOUT_USEC=%q: not a number", OneLine(value, 64))
				continue
			}
			allowed = append(allowed, a)
		case a == "WATCHDOG=1" && policy.AllowWatchdog:
			allowed = append(allowed, a)
		case a == "WATCHDOG=1":
			warnOnce("watchdog", "notify relay: dropped WATCHDOG=1 from the workload: the [health] probe drives the watchdog")
		case a == "BARRIER=1":
			// Answered by closing the passed fd after this datagram.
		case key == "MAINPID":
			warnOnce("mainpid", "notify relay: dropped MAINPID= from the workload: nucleus-exec stays the unit's main process")
		default:
			warnOnce("key:"+key, "notify relay: dropped unsupported assignment %s= from the workload", OneLine(key, 64))
		}
	}
	return allowed
}

func parseControl(oob []byte) (*syscall.Ucred, []int) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, nil
	}
	var creds *syscall.Ucred
	var fds []int
	for i := range msgs {
		m := &msgs[i]
		if m.Header.Level != syscall.SOL_SOCKET {
			continue
		}
		switch m.Header.Type {
		case syscall.SCM_CREDENTIALS:
			if c, err := syscall.ParseUnixCredentials(m); err == nil {
				creds = c
			}
		case syscall.SCM_RIGHTS:
			if f, err := syscall.ParseUnixRights(m); err == nil {
				fds = append(fds, f...)
			}
		}
	}
	return creds, fds
}

// ProcessTree returns a RelayPolicy.Member that accepts root and its
// descendants. root is the container's init pid as the host sees it; the
// kernel translates a sender's pid into the receiver's pid namespace, so a
// process inside the container's pid namespace arrives here with its host
// pid. The parent chain is read from /proc/PID/stat. A sender that has
// already exited cannot be checked and is refused, with a reason that says
// so: systemd-notify stays alive until its BARRIER=1 is answered, and a
// daemon calling sd_notify(3) is alive anyway; a one-shot `socat`/`nc`
// sender may lose the race.
func ProcessTree(root int) func(pid int) error {
	return func(pid int) error {
		sender := pid
		for depth := 0; depth < 4096 && pid > 1; depth++ {
			if pid == root {
				return nil
			}
			ppid, err := parentPid(pid)
			if err != nil {
				if pid == sender && errors.Is(err, fs.ErrNotExist) {
					return errors.New("the sender exited before it could be checked (send with systemd-notify, or keep the sender alive until the datagram is handled)")
				}
				return fmt.Errorf("not a process of this container (%v)", err)
			}
			pid = ppid
		}
		return errors.New("not a process of this container")
	}
}

func parentPid(pid int) (int, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces and parentheses; the
	// fields after its last ')' are "state ppid ...".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 2 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	return strconv.Atoi(fields[1])
}
