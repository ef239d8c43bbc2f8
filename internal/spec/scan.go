package spec

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml v1.6 records the position of every key but does not export
// it (MetaData has no position API; only syntax and decode errors carry a
// line). So after the library has accepted a file, keyLines walks the same
// text once more with a small TOML scanner whose only job is to note the
// line on which each key, table, array-of-tables entry and array element
// starts. It relies on the text being valid TOML (the library checked) and
// is defensive rather than exact on anything else: a position it cannot find
// falls back to the enclosing table's line.

// keyPath identifies a key by its path from the root, as a 64-bit FNV-1a
// hash over the components (each preceded by a NUL; array elements and
// [[table]] entries are components "#0", "#1", ...). Hashing instead of
// joining strings keeps the scan and the tree build free of allocations; a
// collision could only misplace a line number in an error message.
type keyPath uint64

const (
	rootPath keyPath = 14695981039346656037 // FNV-1a offset basis
	fnvPrime keyPath = 1099511628211
)

func (p keyPath) mix(b byte) keyPath { return (p ^ keyPath(b)) * fnvPrime }

// child is the path of key k under p.
func (p keyPath) child(k string) keyPath {
	p = p.mix(0)
	for i := 0; i < len(k); i++ {
		p = p.mix(k[i])
	}
	return p
}

func (p keyPath) childBytes(k []byte) keyPath {
	p = p.mix(0)
	for _, b := range k {
		p = p.mix(b)
	}
	return p
}

// index is the path of element i of the array at p.
func (p keyPath) index(i int) keyPath {
	var buf [20]byte
	p = p.mix(0).mix('#')
	for _, b := range strconv.AppendInt(buf[:0], int64(i), 10) {
		p = p.mix(b)
	}
	return p
}

// maxScanDepth bounds recursion into nested arrays and inline tables.
const maxScanDepth = 64

type lineScanner struct {
	s     []byte
	i     int
	line  int // line number at lpos
	lpos  int
	lines map[keyPath]int
	aot   map[keyPath]int // array-of-tables path → entries so far
	key   [][]byte        // the components of the key being read (reused)
}

// keyLines maps key paths to the 1-based line where they are defined.
func keyLines(data []byte) map[keyPath]int {
	sc := &lineScanner{s: data, line: 1, lines: make(map[keyPath]int, 64)}
	sc.run()
	return sc.lines
}

// lineAt returns the line of byte offset i; offsets only grow, so counting
// newlines incrementally keeps the scan linear.
func (sc *lineScanner) lineAt(i int) int {
	if i > len(sc.s) {
		i = len(sc.s)
	}
	if i < sc.lpos {
		return sc.line
	}
	for ; sc.lpos < i; sc.lpos++ {
		if sc.s[sc.lpos] == '\n' {
			sc.line++
		}
	}
	return sc.line
}

func (sc *lineScanner) record(path keyPath, line int) {
	if _, ok := sc.lines[path]; !ok {
		sc.lines[path] = line
	}
}

func (sc *lineScanner) more() bool { return sc.i < len(sc.s) }

func (sc *lineScanner) skipWS() {
	for sc.more() && (sc.s[sc.i] == ' ' || sc.s[sc.i] == '\t') {
		sc.i++
	}
}

// skipWSNL skips whitespace, newlines and comments (inside arrays and, in
// TOML 1.1, inline tables).
func (sc *lineScanner) skipWSNL() {
	for sc.more() {
		switch sc.s[sc.i] {
		case ' ', '\t', '\r', '\n':
			sc.i++
		case '#':
			sc.skipComment()
		default:
			return
		}
	}
}

func (sc *lineScanner) skipComment() {
	for sc.more() && sc.s[sc.i] != '\n' {
		sc.i++
	}
}

func (sc *lineScanner) run() {
	ctx := rootPath
	if bytes.HasPrefix(sc.s, []byte("\ufeff")) {
		sc.i = 3 // a UTF-8 byte order mark, which the library skips too
	}
	for sc.more() {
		start := sc.i
		sc.skipWS()
		if !sc.more() {
			break
		}
		switch c := sc.s[sc.i]; c {
		case '\n', '\r':
			sc.i++
		case '#':
			sc.skipComment()
		case '[':
			line := sc.lineAt(sc.i)
			isArray := sc.i+1 < len(sc.s) && sc.s[sc.i+1] == '['
			sc.i++
			if isArray {
				sc.i++
			}
			key := sc.parseKey()
			sc.skipWS()
			for sc.more() && sc.s[sc.i] == ']' {
				sc.i++
			}
			ctx = sc.header(key, isArray, line)
		default:
			line := sc.lineAt(sc.i)
			key := sc.parseKey()
			if len(key) == 0 {
				sc.skipComment() // not a key: give up on this line
				break
			}
			sc.skipWS()
			if sc.more() && sc.s[sc.i] == '=' {
				sc.i++
			}
			sc.skipWS()
			sc.value(sc.keyPath(ctx, key, line), 0)
		}
		if sc.i == start {
			sc.i++ // never loop on something unexpected
		}
	}
}

// header resolves a [table] or [[table]] header to its path, descending into
// the last entry of any array of tables on the way, like TOML does.
func (sc *lineScanner) header(key [][]byte, isArray bool, line int) keyPath {
	if sc.aot == nil {
		sc.aot = map[keyPath]int{}
	}
	path := rootPath
	for j, k := range key {
		path = path.childBytes(k)
		sc.record(path, line)
		n, isAOT := sc.aot[path]
		switch {
		case j == len(key)-1 && isArray:
			sc.aot[path] = n + 1
			path = path.index(n)
			sc.record(path, line)
		case isAOT && n > 0:
			path = path.index(n - 1)
		}
	}
	return path
}

// keyPath records the dotted key's prefixes (implicit tables) and returns
// its full path.
func (sc *lineScanner) keyPath(ctx keyPath, key [][]byte, line int) keyPath {
	path := ctx
	for _, k := range key {
		path = path.childBytes(k)
		sc.record(path, line)
	}
	return path
}

func (sc *lineScanner) value(path keyPath, depth int) {
	if !sc.more() {
		return
	}
	switch c := sc.s[sc.i]; {
	case c == '"' || c == '\'':
		sc.skipString()
	case c == '[':
		sc.i++
		for idx := 0; sc.more(); idx++ {
			sc.skipWSNL()
			if !sc.more() || sc.s[sc.i] == ']' {
				sc.i++
				return
			}
			start := sc.i
			if depth < maxScanDepth {
				p := path.index(idx)
				sc.record(p, sc.lineAt(sc.i))
				sc.value(p, depth+1)
			} else {
				sc.skipBare()
			}
			sc.skipWSNL()
			if sc.more() && sc.s[sc.i] == ',' {
				sc.i++
			} else if sc.i == start {
				sc.i++
			}
		}
	case c == '{':
		sc.i++
		for sc.more() {
			sc.skipWSNL()
			if !sc.more() || sc.s[sc.i] == '}' {
				sc.i++
				return
			}
			start := sc.i
			line := sc.lineAt(sc.i)
			key := sc.parseKey()
			sc.skipWS()
			if sc.more() && sc.s[sc.i] == '=' {
				sc.i++
			}
			sc.skipWS()
			if depth < maxScanDepth {
				sc.value(sc.keyPath(path, key, line), depth+1)
			} else {
				sc.skipBare()
			}
			sc.skipWSNL()
			if sc.more() && sc.s[sc.i] == ',' {
				sc.i++
			} else if sc.i == start {
				sc.i++
			}
		}
	default:
		sc.skipBare()
	}
}

// skipBare skips a number, boolean or date-time (which may contain a space).
func (sc *lineScanner) skipBare() {
	for sc.more() {
		switch sc.s[sc.i] {
		case ',', ']', '}', '#', '\n', '\r':
			return
		}
		sc.i++
	}
}

// skipString skips a basic, literal or multi-line string and returns its raw
// body (escapes not processed), a slice of the input.
func (sc *lineScanner) skipString() []byte {
	q := sc.s[sc.i]
	if sc.i+2 < len(sc.s) && sc.s[sc.i+1] == q && sc.s[sc.i+2] == q {
		sc.i += 3
		start := sc.i
		for sc.more() {
			if q == '"' && sc.s[sc.i] == '\\' {
				sc.i += 2
				continue
			}
			if sc.s[sc.i] == q && sc.i+2 < len(sc.s) && sc.s[sc.i+1] == q && sc.s[sc.i+2] == q {
				end := sc.i
				sc.i += 3
				// Up to two more quotes may close the string ("""a""""").
				for k := 0; k < 2 && sc.more() && sc.s[sc.i] == q; k++ {
					sc.i++
					end++
				}
				return sc.s[start:end]
			}
			sc.i++
		}
		return sc.s[start:]
	}
	sc.i++
	start := sc.i
	for sc.more() && sc.s[sc.i] != '\n' {
		if q == '"' && sc.s[sc.i] == '\\' {
			sc.i += 2
			continue
		}
		if sc.s[sc.i] == q {
			body := sc.s[start:sc.i]
			sc.i++
			return body
		}
		sc.i++
	}
	if sc.i > len(sc.s) {
		sc.i = len(sc.s)
	}
	return sc.s[start:sc.i]
}

// parseKey reads a (possibly dotted) key of bare and quoted parts. The
// result is reused by the next call.
func (sc *lineScanner) parseKey() [][]byte {
	key := sc.key[:0]
	defer func() { sc.key = key[:0] }()
	for sc.more() {
		sc.skipWS()
		if !sc.more() {
			break
		}
		switch c := sc.s[sc.i]; {
		case c == '"':
			key = append(key, unescapeBasic(sc.skipString()))
		case c == '\'':
			key = append(key, sc.skipString())
		case isBareKeyChar(c):
			start := sc.i
			for sc.more() && isBareKeyChar(sc.s[sc.i]) {
				sc.i++
			}
			key = append(key, sc.s[start:sc.i])
		default:
			return key
		}
		sc.skipWS()
		if !sc.more() || sc.s[sc.i] != '.' {
			return key
		}
		sc.i++
	}
	return key
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// unescapeBasic processes the escapes of a TOML basic string (used for
// quoted keys only, so that "a\u0062" finds key "ab"). Malformed escapes are
// kept as written: the library already rejected invalid files.
func unescapeBasic(raw []byte) []byte {
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw
	}
	s := string(raw)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case '"', '\\':
			b.WriteByte(s[i])
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[s[i]]
			if i+1+n <= len(s) {
				if v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32); err == nil && utf8.ValidRune(rune(v)) {
					b.WriteRune(rune(v))
					i += n
					continue
				}
			}
			b.WriteByte('\\')
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return []byte(b.String())
}
