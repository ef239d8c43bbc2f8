package spec

import (
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// The decoded values (go-toml's Unmarshal into an interface) carry no
// positions, so keyLines walks the file once more with go-toml's own
// parser (its unstable package), which gives every key part and scalar its
// byte range, and notes the line on which each key, table, array-of-tables
// entry and array element starts. It is the library's parser, not a second
// grammar: the walk only resolves paths the way TOML does (headers, dotted
// keys, inline tables, [[table]] entries). A position it cannot find (an
// element that is itself an empty array) falls back to the enclosing
// table's line.

// keyPath identifies a key by its path from the root, as a 64-bit FNV-1a
// hash over the components (each preceded by a NUL; array elements and
// [[table]] entries are components "#0", "#1", ...). Hashing instead of
// joining strings keeps the walk and the tree build free of allocations; a
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

// maxWalkDepth bounds recursion into nested arrays and inline tables;
// anything deeper gets its enclosing line.
const maxWalkDepth = 64

type lineWalker struct {
	data  []byte
	line  int // line number at lpos
	lpos  int
	lines map[keyPath]int
	aot   map[keyPath]int // array-of-tables path → entries so far
}

// keyLines maps key paths to the 1-based line where they are defined. data
// must be a document the library accepted; on a syntax error the walk just
// stops.
func keyLines(data []byte) map[keyPath]int {
	w := &lineWalker{data: data, line: 1, lines: make(map[keyPath]int, 64)}
	var p unstable.Parser
	p.Reset(data)
	ctx := rootPath
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.KeyValue:
			k := e.Key()
			w.value(w.keyPath(ctx, &k), e.Value(), 0)
		case unstable.Table, unstable.ArrayTable:
			k := e.Key()
			ctx = w.header(&k, e.Kind == unstable.ArrayTable)
		}
	}
	return w.lines
}

// lineAt returns the line of byte offset i. Offsets nearly always grow, so
// counting newlines from the last one keeps the walk linear.
func (w *lineWalker) lineAt(i int) int {
	i = min(i, len(w.data))
	if i < w.lpos {
		w.line, w.lpos = 1, 0
	}
	for ; w.lpos < i; w.lpos++ {
		if w.data[w.lpos] == '\n' {
			w.line++
		}
	}
	return w.line
}

func (w *lineWalker) record(path keyPath, line int) {
	if _, ok := w.lines[path]; !ok {
		w.lines[path] = line
	}
}

// header resolves a [table] or [[table]] header to its path, descending into
// the last entry of any array of tables on the way, like TOML does.
func (w *lineWalker) header(key *unstable.Iterator, isArray bool) keyPath {
	if w.aot == nil {
		w.aot = map[keyPath]int{}
	}
	path := rootPath
	line := 0
	for key.Next() {
		k := key.Node()
		if line == 0 {
			line = w.lineAt(int(k.Raw.Offset))
		}
		path = path.childBytes(k.Data)
		w.record(path, line)
		n, isAOT := w.aot[path]
		switch {
		case key.IsLast() && isArray:
			w.aot[path] = n + 1
			path = path.index(n)
			w.record(path, line)
		case isAOT && n > 0:
			path = path.index(n - 1)
		}
	}
	return path
}

// keyPath records a (dotted) key's parts, the implicit tables included, and
// returns its full path.
func (w *lineWalker) keyPath(ctx keyPath, key *unstable.Iterator) keyPath {
	path := ctx
	for key.Next() {
		k := key.Node()
		path = path.childBytes(k.Data)
		w.record(path, w.lineAt(int(k.Raw.Offset)))
	}
	return path
}

// value records the elements of arrays and the keys of inline tables.
func (w *lineWalker) value(path keyPath, v *unstable.Node, depth int) {
	if depth >= maxWalkDepth {
		return
	}
	switch v.Kind {
	case unstable.Array:
		idx := 0
		for it := v.Children(); it.Next(); {
			e := it.Node()
			if e.Kind == unstable.Comment {
				continue
			}
			p := path.index(idx)
			idx++
			if off, ok := firstOffset(e, depth); ok {
				w.record(p, w.lineAt(off))
			}
			w.value(p, e, depth+1)
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			k := kv.Key()
			w.value(w.keyPath(path, &k), kv.Value(), depth+1)
		}
	}
}

// firstOffset is where a value starts: its own range, or for an array (which
// has none) its first element's.
func firstOffset(n *unstable.Node, depth int) (int, bool) {
	for ; depth < maxWalkDepth; depth++ {
		if n.Raw.Length > 0 {
			return int(n.Raw.Offset), true
		}
		if n.Kind != unstable.Array {
			return 0, false
		}
		var first *unstable.Node
		for it := n.Children(); it.Next(); {
			if c := it.Node(); c.Kind != unstable.Comment {
				first = c
				break
			}
		}
		if first == nil {
			return 0, false
		}
		n = first
	}
	return 0, false
}

// errorKey names the key of a decode error at line errLine as a dotted path
// from the root. The library gives a header's key from the root but a
// key/value's relative to its table (and none for a syntax error), so the
// table is found by parsing up to that line: the last header above it.
func errorKey(data []byte, errLine int, key []string) string {
	var table []string
	w := &lineWalker{data: data, line: 1}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != unstable.Table && e.Kind != unstable.ArrayTable {
			continue
		}
		k := e.Key()
		var parts []string
		line := 0
		for k.Next() {
			if line == 0 {
				line = w.lineAt(int(k.Node().Raw.Offset))
			}
			parts = append(parts, string(k.Node().Data))
		}
		if line >= errLine {
			if line == errLine && len(key) > 0 {
				table = nil // the header itself is at fault; its key is whole
			}
			break
		}
		table = parts
	}
	return strings.Join(append(table, key...), ".")
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
