package spec

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nucleus-containers/nucleus/internal/seccomp"
	"golang.org/x/sys/unix"
)

// Value checks for spec format v1. Each returns an error whose text is the
// message part of an *Error ("must be an absolute path", ...); the caller
// adds file, line and key. No regexps: Load must stay cheap.

func quote(s string) string { return strconv.Quote(s) }

// parseDuration accepts Go syntax ("500ms", "1m30s") and systemd's
// ("10s", "5min", "1h 30min", "2d"); a bare number other than "0" is
// refused because systemd would read it as seconds and Go would not read it
// at all. Negative durations are refused.
func parseDuration(s string) (time.Duration, error) {
	hint := `use a number with a unit, e.g. "500ms", "10s", "1m30s"`
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration: " + hint)
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("%s: must not be negative", quote(s))
	}
	if d, err := time.ParseDuration(t); err == nil {
		return d, nil
	}
	if d, ok := parseSystemdDuration(t); ok {
		return d, nil
	}
	return 0, fmt.Errorf("invalid duration %s: %s", quote(s), hint)
}

// systemdUnit is the length of one time unit of systemd.time(7). A switch,
// not a map: a map literal is built at package initialisation, in every
// nucleus-exec process.
func systemdUnit(u string) (time.Duration, bool) {
	switch u {
	case "us", "usec", "µs":
		return time.Microsecond, true
	case "ms", "msec":
		return time.Millisecond, true
	case "s", "sec", "second", "seconds":
		return time.Second, true
	case "m", "min", "minute", "minutes":
		return time.Minute, true
	case "h", "hr", "hour", "hours":
		return time.Hour, true
	case "d", "day", "days":
		return 24 * time.Hour, true
	case "w", "week", "weeks":
		return 7 * 24 * time.Hour, true
	}
	return 0, false
}

// parseSystemdDuration parses a sequence of "NUMBER UNIT" parts, separated
// by optional whitespace, every part with a unit.
func parseSystemdDuration(s string) (time.Duration, bool) {
	var total float64
	i := 0
	parts := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == start {
			return 0, false
		}
		num, err := strconv.ParseFloat(s[start:i], 64)
		if err != nil {
			return 0, false
		}
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		ustart := i
		for i < len(s) && !(s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == ' ' || s[i] == '\t') {
			i++
		}
		unit, ok := systemdUnit(s[ustart:i])
		if !ok {
			return 0, false
		}
		total += num * float64(unit)
		parts++
	}
	if parts == 0 || total >= math.MaxInt64/2 {
		return 0, false
	}
	return time.Duration(total), true
}

// parseSize accepts a byte count or a number with a base-1024 suffix
// K, M, G, T, P or E.
func parseSize(s string) (int64, error) {
	hint := `use bytes or a number with K, M, G or T (base 1024), e.g. "64M"`
	if s == "" {
		return 0, errors.New("empty size: " + hint)
	}
	mult := int64(1)
	digits := s
	switch s[len(s)-1] {
	case 'K':
		mult = 1 << 10
	case 'M':
		mult = 1 << 20
	case 'G':
		mult = 1 << 30
	case 'T':
		mult = 1 << 40
	case 'P':
		mult = 1 << 50
	case 'E':
		mult = 1 << 60
	}
	if mult > 1 {
		digits = s[:len(s)-1]
	}
	if digits == "" {
		return 0, fmt.Errorf("invalid size %s: %s", quote(s), hint)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("invalid size %s: %s", quote(s), hint)
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %s is too large", quote(s))
	}
	return n * mult, nil
}

// parseSignal accepts "SIGTERM" or "TERM", in any case.
func parseSignal(s string) (syscall.Signal, error) {
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	var names []string
	for i := 1; i < 32; i++ {
		if n := unix.SignalName(syscall.Signal(i)); n != "" {
			names = append(names, n)
		}
	}
	return 0, fmt.Errorf("unknown signal %s%s", quote(s), didYouMean(name, names))
}

// capabilityNames is the kernel's capability list (include/uapi/linux/
// capability.h), index = capability number, without the CAP_ prefix.
var capabilityNames = [...]string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL",
	"SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
	"SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL",
	"SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// CapabilityNumber returns the kernel's number for a canonical capability
// name such as "CAP_NET_BIND_SERVICE" (the form Isolation.Capabilities
// holds).
func CapabilityNumber(name string) (int, bool) {
	if !strings.HasPrefix(name, "CAP_") {
		return 0, false
	}
	for i, n := range capabilityNames {
		if n == name[4:] {
			return i, true
		}
	}
	return 0, false
}

// canonicalCapability accepts "CAP_NET_RAW", "NET_RAW" or lower case and
// returns "CAP_NET_RAW".
func canonicalCapability(s string) (string, error) {
	name := strings.TrimPrefix(strings.ToUpper(s), "CAP_")
	for _, n := range capabilityNames {
		if n == name {
			return "CAP_" + n, nil
		}
	}
	all := make([]string, len(capabilityNames))
	for i, n := range capabilityNames {
		all[i] = "CAP_" + n
	}
	return "", fmt.Errorf("unknown capability %s%s", quote(s), didYouMean("CAP_"+name, all))
}

// checkSyscall accepts a name for seccomp_allow: an x86_64 system call that
// the default profile may be extended with. It asks internal/seccomp, which
// builds the filter, so the spec accepts exactly what the filter can be
// built with; its table is static, so no package initialisation is paid at
// every nucleus-exec start.
func checkSyscall(s string) error {
	if !seccomp.Known(s) {
		// Names() is sorted, so ties in distance do not depend on order.
		return fmt.Errorf("unknown system call %s%s", quote(s), didYouMean(s, seccomp.Names()))
	}
	if err := seccomp.CheckAllow(s); err != nil {
		// The error names seccomp_allow itself; the spec error's key does.
		return errors.New(strings.TrimPrefix(err.Error(), "seccomp_allow: "))
	}
	return nil
}

// checkPath accepts an absolute, clean path without "..", NUL or newline.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("must not be empty")
	case strings.ContainsAny(p, "\x00\n"):
		return errors.New("must not contain a NUL byte or a newline")
	case p[0] != '/':
		return fmt.Errorf("%s must be an absolute path", quote(p))
	case len(p) > 4095:
		return errors.New("path is longer than 4095 bytes")
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return fmt.Errorf("%s must not contain \"..\"", quote(p))
		}
	}
	if c := filepath.Clean(p); c != p {
		return fmt.Errorf("%s is not a clean path (write %s)", quote(p), quote(c))
	}
	return nil
}

// unitSuffixes are the unit types a dependency may name explicitly.
var unitSuffixes = []string{".service", ".socket", ".target", ".device", ".mount", ".automount",
	".swap", ".path", ".timer", ".slice", ".scope"}

// resolveUnit turns a dependency into a full unit name: "db" is another
// spec's "db.service"; a name with a unit suffix passes through.
func resolveUnit(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty unit name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == ':' || c == '_' || c == '.' || c == '-' || c == '@' || c == '\\') {
			return "", fmt.Errorf("invalid unit name %s: only letters, digits and \":_.-@\\\" are allowed", quote(s))
		}
	}
	name := s
	suffix := ""
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(s, suf) {
			suffix = suf
			break
		}
	}
	if suffix == "" {
		suffix = ".service"
		name = s + suffix
	}
	prefix := strings.TrimSuffix(name, suffix)
	switch {
	case len(name) > 255:
		return "", fmt.Errorf("unit name %s is longer than 255 characters", quote(s))
	case prefix == "" || prefix[0] == '.' || prefix[0] == '@':
		return "", fmt.Errorf("invalid unit name %s", quote(s))
	case strings.Count(prefix, "@") > 1:
		return "", fmt.Errorf("invalid unit name %s: more than one \"@\"", quote(s))
	case strings.HasSuffix(prefix, "@"):
		return "", fmt.Errorf("%s is a template: name an instance, e.g. %s", quote(s),
			quote(strings.TrimSuffix(prefix, "@")+"@INSTANCE"+suffix))
	}
	return name, nil
}

// checkEnvName accepts POSIX variable names and refuses LD_* (and
// NOTIFY_SOCKET, which nucleus sets itself for [readiness] notify = true).
// LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT and the other LD_* variables make
// the dynamic loader run or prefer other code in every dynamically linked
// program of the container, including the host binaries of the default
// rootfs and the exec probes nucleus starts on the spec's behalf; an
// environment table reads as plain configuration, so it is no place for
// code injection. A workload that needs one sets it in its own wrapper
// script, where it is visible as code.
func checkEnvName(k string) error {
	if k == "" {
		return errors.New("empty variable name")
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return errors.New("not a POSIX variable name (letters, digits and '_', not starting with a digit)")
		}
	}
	if strings.HasPrefix(k, "LD_") {
		return errors.New("LD_* variables change which code the dynamic loader runs in every program of the container (probes included); set it in a wrapper script instead")
	}
	if k == "NOTIFY_SOCKET" {
		return errors.New("set by nucleus itself when [readiness] notify = true")
	}
	return nil
}

// checkHostname accepts RFC 1123 host names: dot-separated labels of
// letters, digits and '-', each 1..63 long, not starting or ending with
// '-', 64 characters in all (the kernel's HOST_NAME_MAX).
func checkHostname(h string) error {
	if h == "" {
		return errors.New("must not be empty")
	}
	if len(h) > 64 {
		return errors.New("longer than 64 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%s: every label between dots must be 1 to 63 characters", quote(h))
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%s: a label must not start or end with '-'", quote(h))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("%s: only letters, digits, '-' and '.' are allowed", quote(h))
			}
		}
	}
	return nil
}

// checkID accepts a decimal uid/gid, 0..4294967294 (-1 is "no id").
func checkID(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	return err == nil && n < math.MaxUint32
}

// checkAccountName accepts a user or group name as shadow-utils does:
// a letter or '_' first, then letters, digits, '_', '.', '-', an optional
// trailing '$', at most 32 characters.
func checkAccountName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.' || c == '-'):
		case i > 0 && i == len(s)-1 && c == '$':
		default:
			return false
		}
	}
	return true
}

// checkUser accepts "name", "uid" or "uid:gid".
func checkUser(s string) error {
	if s == "" {
		return errors.New(`must not be empty (leave user out to run as root)`)
	}
	if uid, gid, ok := strings.Cut(s, ":"); ok {
		if checkID(uid) && checkID(gid) {
			return nil
		}
		return fmt.Errorf("%s: the \"uid:gid\" form takes two numbers", quote(s))
	}
	if checkID(s) || checkAccountName(s) {
		return nil
	}
	return fmt.Errorf("%s is neither a user name nor a uid", quote(s))
}

func checkGroup(s string) error {
	if checkID(s) || checkAccountName(s) {
		return nil
	}
	return fmt.Errorf("%s is neither a group name nor a gid", quote(s))
}

// checkCredentialName follows systemd's credential_name_valid() (a valid
// file name, at most 255 bytes) and also refuses ':' (the separator of
// LoadCredential=NAME:PATH) and control characters and whitespace.
func checkCredentialName(s string) error {
	switch {
	case s == "":
		return errors.New("must not be empty")
	case len(s) > 255:
		return errors.New("longer than 255 bytes")
	case s == "." || s == "..":
		return fmt.Errorf("%s is not a valid credential name", quote(s))
	}
	for _, r := range s {
		if r == '/' || r == ':' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("%s: a credential name must not contain '/', ':', whitespace or control characters", quote(s))
		}
	}
	return nil
}

// checkProbeURL accepts http:// URLs to the loopback address with a port:
// probes run inside the container's network namespace and must not reach
// elsewhere.
func checkProbeURL(s string) error {
	hint := `must be http://127.0.0.1:PORT/path, http://[::1]:PORT/path or http://localhost:PORT/path`
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "http" || u.Opaque != "" || u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%s: %s", quote(s), hint)
	}
	host, port := u.Hostname(), u.Port()
	if host != "127.0.0.1" && host != "::1" && host != "localhost" {
		return fmt.Errorf("%s: %s", quote(s), hint)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s: needs a port 1..65535: %s", quote(s), hint)
	}
	return nil
}
