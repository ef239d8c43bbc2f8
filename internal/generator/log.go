package generator

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
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

	// kmsgPath is opened at the first record: a run with nothing to say
	// (the common case at boot) never touches the kernel log.
	kmsgPath string
	stderr   io.Writer
	file     *os.File
}

// openLog returns a logger for the kernel log device at kmsgPath, falling
// back to stderr when it cannot be opened for writing (tests, containers,
// unprivileged runs). Close releases the device.
func openLog(kmsgPath string, stderr io.Writer, verbose bool) *logger {
	return &logger{kmsgPath: kmsgPath, stderr: stderr, verbose: verbose}
}

func stderrLog(w io.Writer, verbose bool) *logger {
	return &logger{w: w, prefix: "nucleus-generator: ", verbose: verbose}
}

// Close closes the kernel log device if it was opened.
func (l *logger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		return l.file.Close()
	}
	return nil
}

// target picks the writer at the first record; l.mu is held.
func (l *logger) target() {
	if l.w != nil {
		return
	}
	if f, err := os.OpenFile(l.kmsgPath, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		l.w, l.file, l.kmsg = f, f, true
		l.prefix = "nucleus-generator[" + strconv.Itoa(os.Getpid()) + "]: "
		return
	}
	l.w, l.prefix = l.stderr, "nucleus-generator: "
}

func (l *logger) log(pri int, format string, args ...any) {
	if pri == priDebug && !l.verbose {
		return
	}
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.target()
	// A message with newlines (a joined error) becomes several records,
	// so that each line keeps its priority and identifier.
	for _, line := range strings.Split(msg, "\n") {
		for _, rec := range l.records(pri, line) {
			// Logging must never stop the generator; a lost line is the
			// lesser evil at boot.
			_, _ = io.WriteString(l.w, rec)
		}
	}
}

// kmsgRecordMax is the longest write /dev/kmsg accepts (the kernel's
// PRINTKRB_RECORD_MAX); a longer one fails with EINVAL and is lost.
const kmsgRecordMax = 1024

// records formats one log line; for the kernel log, a line too long for
// one record is split over several, each with the full prefix, on UTF-8
// boundaries, the later ones marked with a leading "…".
func (l *logger) records(pri int, line string) []string {
	head := l.prefix
	if l.kmsg {
		head = "<" + strconv.Itoa(pri) + ">" + l.prefix
	}
	if !l.kmsg || len(head)+len(line)+1 <= kmsgRecordMax {
		return []string{head + line + "\n"}
	}
	const more = "…"
	var recs []string
	for first := true; line != "" || first; first = false {
		h := head
		if !first {
			h += more
		}
		room := kmsgRecordMax - len(h) - 1
		n := min(room, len(line))
		for n < len(line) && n > 0 && !utf8.RuneStart(line[n]) {
			n--
		}
		recs = append(recs, h+line[:n]+"\n")
		line = line[n:]
	}
	return recs
}

func (l *logger) errorf(format string, args ...any) { l.log(priErr, format, args...) }
func (l *logger) debugf(format string, args ...any) { l.log(priDebug, format, args...) }
