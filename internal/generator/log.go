package generator

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Syslog priorities used in the "<PRI>" prefix of kernel log records.
const (
	priErr     = 3
	priWarning = 4
	priInfo    = 6
	priDebug   = 7
)

// logger writes one record per line. To the kernel log each record is a
// single write of "<PRI>nucleus-generator[PID]: msg\n", which /dev/kmsg
// turns into one kernel log entry with that priority and identifier (the
// journal is not running yet when systemd runs generators at boot).
// Elsewhere (stderr) records are "nucleus-generator: msg".
type logger struct {
	mu      sync.Mutex
	w       io.Writer
	kmsg    bool
	prefix  string
	verbose bool
}

// openLog opens the kernel log device for writing, or falls back to
// stderr when it cannot (tests, containers, unprivileged runs).
func openLog(kmsgPath string, stderr io.Writer, verbose bool) (*logger, io.Closer) {
	if kmsgPath != "" {
		if f, err := os.OpenFile(kmsgPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			return &logger{w: f, kmsg: true, prefix: "nucleus-generator[" + strconv.Itoa(os.Getpid()) + "]: ", verbose: verbose}, f
		}
	}
	return stderrLog(stderr, verbose), io.NopCloser(nil)
}

func stderrLog(w io.Writer, verbose bool) *logger {
	return &logger{w: w, prefix: "nucleus-generator: ", verbose: verbose}
}

func (l *logger) log(pri int, format string, args ...any) {
	if pri == priDebug && !l.verbose {
		return
	}
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	// A message with newlines (a joined error) becomes several records,
	// so that each line keeps its priority and identifier.
	for _, line := range strings.Split(msg, "\n") {
		var b strings.Builder
		b.Grow(len(line) + len(l.prefix) + 5)
		if l.kmsg {
			b.WriteByte('<')
			b.WriteString(strconv.Itoa(pri))
			b.WriteByte('>')
		}
		b.WriteString(l.prefix)
		b.WriteString(line)
		b.WriteByte('\n')
		// Logging must never stop the generator; a lost line is the lesser
		// evil at boot.
		_, _ = io.WriteString(l.w, b.String())
	}
}

func (l *logger) errorf(format string, args ...any) { l.log(priErr, format, args...) }
func (l *logger) debugf(format string, args ...any) { l.log(priDebug, format, args...) }
