package unit

// A small reader of systemd's unit file syntax, for tests only. It follows
// systemd 252 (src/shared/conf-parser.c config_parse/parse_line,
// src/basic/extract-word.c extract_first_word, src/basic/escape.c
// cunescape_one, src/shared/specifier.c specifier_printf,
// src/core/load-fragment.c config_parse_exec and config_parse_environ,
// src/basic/env-util.c replace_env), so that round-trip tests check the
// renderer against systemd's rules rather than against itself.

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

type directive struct {
	Section, Key, Value string
	Line                int
}

const sdWhitespace = " \t\n\r"

// parseUnitFile splits a unit file into directives the way config_parse
// does: lines end at \n, \r or NUL; comment lines (first non-blank byte '#'
// or ';') are dropped before continuation handling; an odd run of trailing
// backslashes joins the next line (the last backslash becoming a blank);
// keys and values are stripped of blanks.
func parseUnitFile(text string) ([]directive, error) {
	var raw []string
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n', '\r', 0:
			raw = append(raw, text[start:i])
			if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(text) {
		raw = append(raw, text[start:])
	}

	var out []directive
	section := ""
	continuation := ""
	inContinuation := false
	for n, l := range raw {
		lineNo := n + 1
		if len(l) >= maxLineLen {
			return nil, fmt.Errorf("line %d: too long", lineNo)
		}
		t := strings.TrimLeft(l, sdWhitespace)
		if t != "" && (t[0] == '#' || t[0] == ';') {
			continue
		}
		p := l
		if inContinuation {
			p = continuation + l
		}
		escaped := false
		for i := 0; i < len(p); i++ {
			if escaped {
				escaped = false
			} else if p[i] == '\\' {
				escaped = true
			}
		}
		if escaped {
			continuation = p[:len(p)-1] + " "
			inContinuation = true
			continue
		}
		continuation, inContinuation = "", false

		s := strings.Trim(p, sdWhitespace)
		if s == "" {
			continue
		}
		if s[0] == '[' {
			if s[len(s)-1] != ']' {
				return nil, fmt.Errorf("line %d: invalid section header %q", lineNo, s)
			}
			section = s[1 : len(s)-1]
			continue
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, fmt.Errorf("line %d: missing '=' in %q", lineNo, s)
		}
		if section == "" {
			return nil, fmt.Errorf("line %d: assignment outside of a section", lineNo)
		}
		out = append(out, directive{
			Section: section,
			Key:     strings.Trim(s[:eq], sdWhitespace),
			Value:   strings.Trim(s[eq+1:], sdWhitespace),
			Line:    lineNo,
		})
	}
	if inContinuation {
		// config_parse hands a pending continuation to parse_line at EOF.
		s := strings.Trim(continuation, sdWhitespace)
		if s != "" {
			return nil, fmt.Errorf("unterminated continuation %q at end of file", s)
		}
	}
	return out, nil
}

type extractFlags int

const (
	extractUnquote extractFlags = 1 << iota
	extractCUnescape
	extractRetainEscape
)

var errNoWord = errors.New("no word")

// extractFirstWord is extract_first_word() with WHITESPACE separators and
// the flags the parsers above use. It returns the word and the rest of the
// input, or errNoWord when only separators were left.
func extractFirstWord(p string, flags extractFlags) (word, rest string, err error) {
	i := 0
	for i < len(p) && strings.IndexByte(sdWhitespace, p[i]) >= 0 {
		i++
	}
	if i == len(p) {
		return "", "", errNoWord
	}
	var b strings.Builder
	var quote byte
	for i < len(p) {
		c := p[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
			if flags&extractUnquote == 0 {
				b.WriteByte(c)
			}
			i++
		case c == '\\' && flags&extractRetainEscape == 0:
			i++
			if i == len(p) {
				return "", "", errors.New("trailing backslash")
			}
			if flags&extractCUnescape == 0 {
				b.WriteByte(p[i])
				i++
				continue
			}
			r, eightBit, n, err := cunescapeOne(p[i:])
			if err != nil {
				return "", "", err
			}
			if eightBit {
				b.WriteByte(byte(r))
			} else {
				b.WriteRune(r)
			}
			i += n
		case quote != 0:
			b.WriteByte(c)
			i++
		case (c == '\'' || c == '"') && flags&extractUnquote != 0:
			quote = c
			i++
		case strings.IndexByte(sdWhitespace, c) >= 0:
			for i < len(p) && strings.IndexByte(sdWhitespace, p[i]) >= 0 {
				i++
			}
			return b.String(), p[i:], nil
		default:
			b.WriteByte(c)
			i++
		}
	}
	if quote != 0 {
		return "", "", errors.New("unbalanced quote")
	}
	return b.String(), "", nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// cunescapeOne decodes the escape after a backslash (cunescape_one with
// accept_nul = false): it returns the code point, whether it is a raw byte
// (\x, octal), and how many input bytes it used.
func cunescapeOne(p string) (r rune, eightBit bool, n int, err error) {
	bad := fmt.Errorf("invalid escape \\%.1s", p)
	switch p[0] {
	case 'a':
		return '\a', false, 1, nil
	case 'b':
		return '\b', false, 1, nil
	case 'f':
		return '\f', false, 1, nil
	case 'n':
		return '\n', false, 1, nil
	case 'r':
		return '\r', false, 1, nil
	case 't':
		return '\t', false, 1, nil
	case 'v':
		return '\v', false, 1, nil
	case '\\', '"', '\'':
		return rune(p[0]), false, 1, nil
	case 's':
		return ' ', false, 1, nil
	case 'x':
		if len(p) < 3 || unhex(p[1]) < 0 || unhex(p[2]) < 0 {
			return 0, false, 0, bad
		}
		v := unhex(p[1])<<4 | unhex(p[2])
		if v == 0 {
			return 0, false, 0, bad
		}
		return rune(v), true, 3, nil
	case 'u', 'U':
		digits := 4
		if p[0] == 'U' {
			digits = 8
		}
		if len(p) < 1+digits {
			return 0, false, 0, bad
		}
		v := 0
		for i := 1; i <= digits; i++ {
			h := unhex(p[i])
			if h < 0 {
				return 0, false, 0, bad
			}
			v = v<<4 | h
		}
		if v == 0 || !utf8.ValidRune(rune(v)) {
			return 0, false, 0, bad
		}
		return rune(v), false, 1 + digits, nil
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(p) < 3 {
			return 0, false, 0, bad
		}
		v := 0
		for i := 0; i < 3; i++ {
			if p[i] < '0' || p[i] > '7' {
				return 0, false, 0, bad
			}
			v = v<<3 | int(p[i]-'0')
		}
		if v == 0 || v > 255 {
			return 0, false, 0, bad
		}
		return rune(v), true, 3, nil
	}
	return 0, false, 0, bad
}

// expandSpecifiers is specifier_printf() with an empty specifier table:
// "%%" is "%", a trailing lone "%" stays, and any other specifier would
// expand to something the spec did not say, which the tests treat as an
// error.
func expandSpecifiers(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			b.WriteByte('%')
			break
		}
		i++
		if s[i] != '%' {
			return "", fmt.Errorf("specifier %%%c would be expanded", s[i])
		}
		b.WriteByte('%')
	}
	return b.String(), nil
}

// expandExecDollar is ExecStart='s run-time replace_env() for an argument
// when no variable is set: "$$" is "$"; "$NAME" or "${NAME}" would be
// replaced, which the tests treat as an error.
func expandExecDollar(s string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '_' || 'a' <= s[i+1]|0x20 && s[i+1]|0x20 <= 'z' || '0' <= s[i+1] && s[i+1] <= '9') {
			return "", fmt.Errorf("variable reference at %q would be expanded", s[i:])
		}
		b.WriteByte('$')
	}
	return b.String(), nil
}

// parseExecValue decodes an ExecStart=-style value into argv, following
// config_parse_exec: a raw ";" token separates commands (an error here:
// nucleus never writes two), a raw "\;" token is a literal ";", other
// words come from extract_first_word(EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE),
// then specifier expansion, then the run-time "$" expansion.
func parseExecValue(v string) ([]string, error) {
	var argv []string
	p := v
	for {
		p = strings.TrimLeft(p, sdWhitespace)
		if p == "" {
			break
		}
		if p[0] == ';' && (len(p) == 1 || strings.IndexByte(sdWhitespace, p[1]) >= 0) {
			return nil, errors.New("command separator ';'")
		}
		var w string
		if strings.HasPrefix(p, `\;`) && (len(p) == 2 || strings.IndexByte(sdWhitespace, p[2]) >= 0) {
			w, p = ";", p[2:]
		} else {
			var err error
			w, p, err = extractFirstWord(p, extractUnquote|extractCUnescape)
			if errors.Is(err, errNoWord) {
				break
			}
			if err != nil {
				return nil, err
			}
			if len(argv) == 0 && w == ";" {
				return nil, errors.New("command separator ';' as first word")
			}
			if len(argv) == 0 && (w == "" || strings.IndexByte("-@:+!", w[0]) >= 0) {
				return nil, fmt.Errorf("first word %q is empty or starts with a prefix character", w)
			}
		}
		w, err := expandSpecifiers(w)
		if err != nil {
			return nil, err
		}
		if w, err = expandExecDollar(w); err != nil {
			return nil, err
		}
		argv = append(argv, w)
	}
	return argv, nil
}

// parseEnvironmentValue decodes an Environment=-style value into its
// assignments, following config_parse_environ.
func parseEnvironmentValue(v string) ([]string, error) {
	var out []string
	p := v
	for {
		w, rest, err := extractFirstWord(p, extractUnquote|extractCUnescape)
		if errors.Is(err, errNoWord) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if w, err = expandSpecifiers(w); err != nil {
			return nil, err
		}
		out = append(out, w)
		p = rest
	}
}
