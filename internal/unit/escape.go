package unit

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// maxLineLen is systemd's LONG_LINE_MAX: config_parse refuses longer lines.
const maxLineLen = 1024 * 1024

// The escaping below follows systemd 252's parser, which reads a unit as:
//
//  1. lines split at '\n', '\r' or NUL; a line whose first non-blank byte is
//     '#' or ';' is a comment, skipped before anything else;
//  2. a line ending in an odd run of backslashes continues on the next line;
//  3. "[Section]" or "Key=Value", both sides stripped of " \t\n\r";
//  4. per directive: plain strings only get specifiers ("%%" → "%")
//     expanded; ExecStart= and Environment= split the value into words with
//     extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE) and expand
//     specifiers per word; ExecStart= arguments later expand "$VAR" and
//     "$$" → "$" at run time.
//
// So a value is safe when, once written, it cannot end the line, cannot end
// in a continuation backslash, and decodes back to itself.

// escapeSpecifiers doubles '%' so specifier expansion yields s again.
func escapeSpecifiers(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	return strings.ReplaceAll(s, "%", "%%")
}

// plainValue checks that s survives, unchanged, as the raw value of a
// directive that does no unquoting (Description=, SourcePath=,
// LoadCredential='s source) and returns it with specifiers escaped.
// Such a value cannot carry control characters (a newline would end the
// line), leading or trailing blanks (stripped by the parser), or an odd run
// of trailing backslashes (a line continuation).
func plainValue(s string) (string, error) {
	if s == "" {
		return "", errors.New("empty value")
	}
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("control character %q cannot be written in a unit file", r)
		}
	}
	if strings.TrimLeft(s, " ") != s || strings.TrimRight(s, " ") != s {
		return "", errors.New("leading or trailing blanks would be stripped by systemd")
	}
	if trailingBackslashes(s)%2 == 1 {
		return "", errors.New("a trailing backslash would continue the line")
	}
	return escapeSpecifiers(s), nil
}

func trailingBackslashes(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// isBareWordByte reports bytes that need neither quoting nor C escaping in
// a word of ExecStart= or Environment=. Everything else gets quoted.
func isBareWordByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("/._+-:,=@%$^~", c) >= 0
}

// quoteWord renders s as one word for extract_first_word(EXTRACT_UNQUOTE|
// EXTRACT_CUNESCAPE) followed by specifier expansion, and, when execArg is
// set, by ExecStart='s run-time "$" expansion. Words made only of harmless
// bytes stay bare for readability; anything else is double-quoted with C
// escapes (\\ \" \n \t \r \xNN), so no byte of s can end the line, end the
// word or continue the line. NUL cannot be represented (cunescape refuses
// \x00), and an empty word only exists quoted.
func quoteWord(s string, execArg bool) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", errors.New("NUL byte cannot be written in a unit file")
	}
	s = escapeSpecifiers(s)
	if execArg && strings.Contains(s, "$") {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	return quoteEscaped(s), nil
}

// commentWord renders s for a comment line: quoted and C-escaped like a
// word when needed, so that no byte of s can end the comment line, but
// without specifier or "$" escaping, which comments do not get.
func commentWord(s string) string {
	return quoteEscaped(s)
}

// quoteEscaped quotes s unless it is a non-empty run of bare-word bytes.
func quoteEscaped(s string) string {
	bare := s != ""
	for i := 0; i < len(s) && bare; i++ {
		bare = isBareWordByte(s[i])
	}
	// A lone ";" separates commands in ExecStart=; it is not bare-safe
	// (';' is not in isBareWordByte), so it is always quoted here.
	if bare {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '"':
			b.WriteString(`\"`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c >= 0x80:
			// Valid UTF-8 is kept as is; stray bytes become \xNN, which
			// cunescape turns back into the same raw byte.
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size <= 1 {
				fmt.Fprintf(&b, `\x%02x`, c)
				i++
				continue
			}
			b.WriteString(s[i : i+size])
			i += size
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}

// ValidUnitName reports whether name is a full systemd unit name
// ("db.service", "getty@tty1.service", "multi-user.target"), following
// unit_name_is_valid(): at most 255 bytes, a known type suffix, a non-empty
// prefix of [A-Za-z0-9:_.\-\\] and at most one '@' (template or instance).
// The generator relies on it before using a name as a path component.
func ValidUnitName(name string) bool {
	if len(name) == 0 || len(name) > 255 {
		return false
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return false
	}
	switch name[dot+1:] {
	case "service", "socket", "target", "device", "mount", "automount",
		"swap", "timer", "path", "slice", "scope":
	default:
		return false
	}
	prefix := name[:dot]
	at := strings.IndexByte(prefix, '@')
	if at == 0 || (at > 0 && strings.IndexByte(prefix[at+1:], '@') >= 0) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := prefix[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte(":-_.\\@", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// validCredentialName follows systemd's credential_name_valid() (a file
// name that is also a valid fd name: printable ASCII, no '/' or ':', not
// "." or "..", at most 255 bytes), minus backslash and blanks, which
// LoadCredential='s extract_first_word would eat or strip.
func validCredentialName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == ':' || c == '\\' {
			return false
		}
	}
	return true
}

// formatTimespan renders d as a systemd time span. systemd counts in
// microseconds, so a sub-microsecond remainder is rounded up: a duration
// that was set never turns into 0 ("no timeout").
func formatTimespan(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	case d%time.Millisecond == 0:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	default:
		return fmt.Sprintf("%dus", (d+time.Microsecond-1)/time.Microsecond)
	}
}

// formatCPUQuota renders cpus as CPUQuota='s percentage. systemd parses it
// with two decimals (permyriad); a positive quota never rounds to 0%, which
// systemd would refuse.
func formatCPUQuota(cpus float64) string {
	permyriad := int64(cpus*10000 + 0.5)
	if permyriad < 1 {
		permyriad = 1
	}
	whole, frac := permyriad/100, permyriad%100
	switch {
	case frac == 0:
		return fmt.Sprintf("%d%%", whole)
	case frac%10 == 0:
		return fmt.Sprintf("%d.%d%%", whole, frac/10)
	default:
		return fmt.Sprintf("%d.%02d%%", whole, frac)
	}
}
