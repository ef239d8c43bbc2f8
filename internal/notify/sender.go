// Package notify owns the sd_notify datagrams: sending them to systemd's
// $NOTIFY_SOCKET (Sender), and the relay socket that serves the workload's
// own NOTIFY_SOCKET inside the container (Relay).
//
// It decides how a datagram looks and who may send one, never when to send:
// the probe loops and the supervisor do that. It must not know about probes,
// specs or how the container is built.
package notify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sender sends sd_notify datagrams to one socket. The zero value and a nil
// *Sender are disabled senders: Notify does nothing, which is what
// foreground mode (no systemd) needs. Safe for concurrent use.
type Sender struct {
	addr *net.UnixAddr

	mu   sync.Mutex
	conn *net.UnixConn
}

// Dial returns a Sender for the socket at path ("@name" for an abstract
// socket). It does not validate the path: FromEnv does that for sockets
// named by the environment.
func Dial(path string) (*Sender, error) {
	if path == "" {
		return nil, errors.New("notify socket: empty path")
	}
	s := &Sender{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
	// Connect now so that a missing socket is reported at start-up rather
	// than on the first READY=1.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connectLocked(); err != nil {
		return nil, err
	}
	return s, nil
}

// ValidateSocket accepts what the Rust nucleus accepted for NOTIFY_SOCKET: an
// abstract socket ("@name"), or an absolute path without ".." components
// that lies under /run/ (or /var/run/) once symlinks are resolved. Anything
// else could make nucleus-exec write datagrams into an arbitrary socket.
func ValidateSocket(path string) error {
	if strings.ContainsRune(path, 0) {
		return errors.New("contains a NUL byte")
	}
	if strings.HasPrefix(path, "@") {
		if len(path) == 1 {
			return errors.New("empty abstract socket name")
		}
		return nil
	}
	if !filepath.IsAbs(path) {
		return errors.New("neither an abstract socket (@name) nor an absolute path")
	}
	for _, part := range strings.Split(path, "/") {
		if part == ".." {
			return errors.New("contains a .. component")
		}
	}
	// Resolve symlinks; if the socket itself does not exist (yet), its
	// directory still must not lead out of /run.
	resolved := path
	if r, err := filepath.EvalSymlinks(path); err == nil {
		resolved = r
	} else if d, err := filepath.EvalSymlinks(filepath.Dir(path)); err == nil {
		resolved = filepath.Join(d, filepath.Base(path))
	}
	if !strings.HasPrefix(resolved, "/run/") && !strings.HasPrefix(resolved, "/var/run/") {
		return fmt.Errorf("%s is not under /run/", resolved)
	}
	return nil
}

// FromEnv returns the Sender for $NOTIFY_SOCKET and unsets NOTIFY_SOCKET,
// WATCHDOG_USEC and WATCHDOG_PID so that no child inherits them (the
// workload gets its own socket from the relay, or none). It returns a
// disabled Sender, after logging why, when the variable is unset (foreground
// mode), fails ValidateSocket, or cannot be connected to.
func FromEnv(log func(format string, args ...any)) *Sender {
	path, ok := os.LookupEnv("NOTIFY_SOCKET")
	for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		_ = os.Unsetenv(v)
	}
	if !ok || path == "" {
		return &Sender{}
	}
	if err := ValidateSocket(path); err != nil {
		log("refusing NOTIFY_SOCKET=%q: %v; not notifying systemd", path, err)
		return &Sender{}
	}
	s, err := Dial(path)
	if err != nil {
		log("NOTIFY_SOCKET=%q: %v; not notifying systemd", path, err)
		return &Sender{}
	}
	return s
}

// WatchdogFromEnv returns the watchdog timeout systemd set for this process
// ($WATCHDOG_USEC, honoured only when $WATCHDOG_PID is unset or names this
// process, as sd_watchdog_enabled(3) does), or 0 when there is none. Call it
// before FromEnv, which unsets both variables.
func WatchdogFromEnv() time.Duration {
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	usec, err := strconv.ParseUint(os.Getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}

// Enabled reports whether Notify sends anything.
func (s *Sender) Enabled() bool { return s != nil && s.addr != nil }

// Notify sends one datagram made of the given "KEY=value" assignments, one
// per line, in order. Control characters in a value (a newline from a probe's
// output, say) are replaced by spaces: no text can smuggle in an assignment
// of its own, such as READY=1 or WATCHDOG=1.
func (s *Sender) Notify(assignments ...string) error {
	if !s.Enabled() || len(assignments) == 0 {
		return nil
	}
	msg, err := Format(assignments...)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		if err := s.connectLocked(); err != nil {
			return err
		}
	}
	if _, err := s.conn.Write(msg); err != nil {
		// systemd recreates its socket on daemon-reexec; a connected
		// datagram socket still points at the old one. Reconnect once.
		_ = s.conn.Close()
		s.conn = nil
		if cerr := s.connectLocked(); cerr != nil {
			return fmt.Errorf("notify %s: %w", s.addr.Name, err)
		}
		if _, err := s.conn.Write(msg); err != nil {
			return fmt.Errorf("notify %s: %w", s.addr.Name, err)
		}
	}
	return nil
}

// Close releases the socket.
func (s *Sender) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

func (s *Sender) connectLocked() error {
	conn, err := net.DialUnix("unixgram", nil, s.addr)
	if err != nil {
		return fmt.Errorf("notify socket %s: %w", s.addr.Name, err)
	}
	s.conn = conn
	return nil
}

// maxDatagram is systemd's NOTIFY_BUFFER_MAX (PIPE_BUF): longer datagrams
// are truncated by the receiver.
const maxDatagram = 4096

// maxValue bounds one value (a STATUS= line with a long error), so that a
// whole datagram stays under maxDatagram.
const maxValue = 1024

// Format joins assignments into a datagram, after checking each is
// "KEY=value" with a KEY of upper-case letters, digits and underscores, and
// cleaning the value (see Notify).
func Format(assignments ...string) ([]byte, error) {
	var b strings.Builder
	for i, a := range assignments {
		key, value, ok := strings.Cut(a, "=")
		if !ok || !validKey(key) {
			return nil, fmt.Errorf("notify: %q is not a KEY=value assignment", a)
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(OneLine(value, maxValue))
	}
	if b.Len() > maxDatagram {
		return nil, fmt.Errorf("notify: datagram of %d bytes exceeds %d", b.Len(), maxDatagram)
	}
	return []byte(b.String()), nil
}

func validKey(key string) bool {
	if key == "" {
		return false
	}
	for _, r := range key {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// OneLine returns s with every control character replaced by a space,
// surrounding space trimmed, and cut to at most max bytes (on a rune
// boundary, marked with "…").
func OneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
