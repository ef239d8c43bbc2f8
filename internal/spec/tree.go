package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// One pass from bytes to the node tree: go-toml's parser (its unstable
// package) yields each expression with the byte range of every key part and
// scalar, and the builder below applies TOML 1.0's rules for defining keys
// and tables while it builds the tree, so every node gets its line from the
// parser itself. go-toml's own decoder would build the same values (the fuzz
// target checks that it accepts and refuses exactly the same documents, with
// the same values) but keeps no positions; decoding twice, once for values
// and once for lines, cost twice the time.

// How a table or array came to be, for TOML's rules on defining it again.
const (
	defValue         uint8 = iota // a scalar, or an array written as a value
	defImplicit                   // a table named only as a prefix of a [header]
	defHeader                     // a table defined by its own [header]
	defDotted                     // a table made by a dotted key (a.b = 1)
	defInline                     // an inline table, or a table inside one: sealed
	defArrayOfTables              // an array made by [[header]]s
)

// treeBuilder turns one parsed file into nodes.
type treeBuilder struct {
	src   int
	data  []byte
	line  int // line number at lpos
	lpos  int
	slab  []node   // nodes are carved from slabs: one allocation per 32
	table []string // the current [header]'s key, for error messages
	parts [][]byte // keyParts' scratch space
	offs  []int
}

// syntaxError is a file that is not valid TOML: where, and why.
type syntaxError struct {
	offset int
	key    []string // the key being defined, from the root; may be nil
	msg    string
}

func (e *syntaxError) Error() string { return e.msg }

func (b *treeBuilder) newNode(line int, def uint8, val any) *node {
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]node, 0, 32)
	}
	b.slab = append(b.slab, node{src: b.src, line: line, def: def, val: val})
	return &b.slab[len(b.slab)-1]
}

// lineAt returns the line of byte offset i. Offsets nearly always grow, so
// counting newlines from the last one keeps the build linear.
func (b *treeBuilder) lineAt(i int) int {
	i = max(min(i, len(b.data)), 0)
	if i < b.lpos {
		b.line, b.lpos = 1, 0
	}
	for ; b.lpos < i; b.lpos++ {
		if b.data[b.lpos] == '\n' {
			b.line++
		}
	}
	return b.line
}

// offsetOf is the position of a subslice of the data (the parser's error
// highlights are), clamped to the data.
func (b *treeBuilder) offsetOf(s []byte) int {
	return max(min(cap(b.data)-cap(s), len(b.data)), 0)
}

// parsers keeps go-toml parsers for reuse: a parser's node arena grows to
// the size of a spec once and is then reused (the builder copies every key
// and string out of it, so nothing refers to it after buildTree returns).
var parsers = sync.Pool{New: func() any { return new(unstable.Parser) }}

// buildTree parses data (a whole file, without a byte order mark) into a
// table node.
func buildTree(src int, data []byte) (*node, *syntaxError) {
	b := &treeBuilder{src: src, data: data, line: 1}
	root := b.newNode(0, defHeader, table{})
	cur := root
	p := parsers.Get().(*unstable.Parser)
	defer parsers.Put(p)
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		var err *syntaxError
		switch e.Kind {
		case unstable.KeyValue:
			err = b.keyValue(cur, e, false)
		case unstable.Table, unstable.ArrayTable:
			cur, err = b.header(root, e)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := p.Error(); err != nil {
		se := &syntaxError{offset: len(data), key: b.table, msg: err.Error()}
		if pe, ok := err.(*unstable.ParserError); ok {
			se.offset, se.msg = b.offsetOf(pe.Highlight), pe.Message
			if len(pe.Key) > 0 {
				se.key = append(append([]string(nil), b.table...), pe.Key...)
			}
		}
		return nil, se
	}
	return root, nil
}

// keyParts collects a key's parts and the offset of each, into scratch
// space reused by the next call.
func (b *treeBuilder) keyParts(it unstable.Iterator) (parts [][]byte, offs []int) {
	parts, offs = b.parts[:0], b.offs[:0]
	for it.Next() {
		k := it.Node()
		parts = append(parts, k.Data)
		offs = append(offs, int(k.Raw.Offset))
	}
	b.parts, b.offs = parts, offs
	return parts, offs
}

// keyStrings copies key parts out of the parser's memory.
func keyStrings(parts [][]byte) []string {
	ks := make([]string, len(parts))
	for i, p := range parts {
		ks[i] = string(p)
	}
	return ks
}

func (b *treeBuilder) errAt(offset int, key []string, format string, args ...any) *syntaxError {
	return &syntaxError{offset: offset, key: key, msg: fmt.Sprintf(format, args...)}
}

// header handles [a.b] and [[a.b]], returning the table that the following
// keys go into.
func (b *treeBuilder) header(root *node, e *unstable.Node) (*node, *syntaxError) {
	bparts, offs := b.keyParts(e.Key())
	parts := keyStrings(bparts)
	isArray := e.Kind == unstable.ArrayTable
	b.table = parts
	line := b.lineAt(offs[0])
	t := root
	for i, k := range parts[:len(parts)-1] {
		tb := t.val.(table)
		c := tb[k]
		switch {
		case c == nil:
			c = b.newNode(line, defImplicit, table{})
			tb[k] = c
		case c.def == defImplicit || c.def == defHeader || c.def == defDotted:
		case c.def == defArrayOfTables:
			arr := c.val.([]*node)
			c = arr[len(arr)-1]
		case c.def == defInline:
			return nil, b.errAt(offs[i], parts[:i+1], "%s is an inline table, which cannot be extended", quoteKey(parts[:i+1]))
		default:
			return nil, b.errAt(offs[i], parts[:i+1], "%s is already defined as a value, not a table", quoteKey(parts[:i+1]))
		}
		t = c
	}
	k, off := parts[len(parts)-1], offs[len(offs)-1]
	tb := t.val.(table)
	c := tb[k]
	switch {
	case isArray && c == nil:
		entry := b.newNode(line, defHeader, table{})
		tb[k] = b.newNode(line, defArrayOfTables, []*node{entry})
		return entry, nil
	case isArray && c.def == defArrayOfTables:
		entry := b.newNode(line, defHeader, table{})
		c.val = append(c.val.([]*node), entry)
		return entry, nil
	case isArray:
		return nil, b.errAt(off, parts, "%s is already defined, and not as an array of tables ([[%s]])", quoteKey(parts), strings.Join(parts, "."))
	case c == nil:
		c = b.newNode(line, defHeader, table{})
		tb[k] = c
		return c, nil
	case c.def == defImplicit:
		c.def = defHeader
		return c, nil
	case c.def == defHeader:
		return nil, b.errAt(off, parts, "table [%s] is defined twice", strings.Join(parts, "."))
	}
	return nil, b.errAt(off, parts, "%s is already defined above, and cannot be defined again as a table", quoteKey(parts))
}

// keyValue defines a (dotted) key in table t; inline says t is being built
// from an inline table.
func (b *treeBuilder) keyValue(t *node, e *unstable.Node, inline bool) *syntaxError {
	parts, offs := b.keyParts(e.Key())
	full := func(i int) []string {
		if inline {
			return nil // the inline table's own key names it
		}
		return append(append([]string(nil), b.table...), keyStrings(parts[:i+1])...)
	}
	for i, k := range parts[:len(parts)-1] {
		tb := t.val.(table)
		c := tb[string(k)]
		switch {
		case c == nil:
			c = b.newNode(b.lineAt(offs[i]), defDotted, table{})
			tb[string(k)] = c
		case c.def == defDotted:
		default:
			return b.errAt(offs[i], full(i), "%s is already defined, and dotted keys cannot add to it", quoteKey(keyStrings(parts[:i+1])))
		}
		t = c
	}
	last := len(parts) - 1
	tb := t.val.(table)
	if tb[string(parts[last])] != nil {
		return b.errAt(offs[last], full(last), "%s is already defined", quoteKey(keyStrings(parts)))
	}
	// The value may hold inline tables whose keys reuse the scratch space.
	k, off := string(parts[last]), offs[last]
	var dotted []string
	if last > 0 && !inline {
		dotted = keyStrings(parts[:last])
	}
	v, err := b.value(e.Value(), b.lineAt(off))
	if err != nil {
		if err.key == nil && !inline {
			err.key = append(append(append([]string(nil), b.table...), dotted...), k)
		}
		return err
	}
	tb[k] = v
	return nil
}

// value converts a value node; line is where its key is.
func (b *treeBuilder) value(v *unstable.Node, line int) (*node, *syntaxError) {
	switch v.Kind {
	case unstable.String:
		return b.newNode(line, defValue, string(v.Data)), nil
	case unstable.Bool:
		return b.newNode(line, defValue, len(v.Data) > 0 && v.Data[0] == 't'), nil
	case unstable.Integer:
		n, err := parseInteger(string(v.Data))
		if err != nil {
			return nil, b.errAt(int(v.Raw.Offset), nil, "%v", err)
		}
		return b.newNode(line, defValue, n), nil
	case unstable.Float:
		f, err := parseFloat(string(v.Data))
		if err != nil {
			return nil, b.errAt(int(v.Raw.Offset), nil, "%v", err)
		}
		return b.newNode(line, defValue, f), nil
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		// No spec key takes a date; let the library check and convert
		// the rare one, so it is refused with the right message.
		var doc struct{ V any }
		if err := toml.Unmarshal(append([]byte("V = "), v.Data...), &doc); err != nil {
			return nil, b.errAt(int(v.Raw.Offset), nil, "%s", strings.TrimPrefix(err.Error(), "toml: "))
		}
		return b.newNode(line, defValue, doc.V), nil
	case unstable.Array:
		var elems []*node
		for it := v.Children(); it.Next(); {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			l := line
			if off, ok := firstOffset(c); ok {
				l = b.lineAt(off)
			}
			n, err := b.value(c, l)
			if err != nil {
				return nil, err
			}
			elems = append(elems, n)
		}
		if elems == nil {
			elems = []*node{}
		}
		return b.newNode(line, defValue, elems), nil
	case unstable.InlineTable:
		t := b.newNode(line, defDotted, table{})
		for it := v.Children(); it.Next(); {
			kv := it.Node()
			if kv.Kind != unstable.KeyValue {
				continue
			}
			if err := b.keyValue(t, kv, true); err != nil {
				return nil, err
			}
		}
		seal(t)
		return t, nil
	}
	return nil, b.errAt(int(v.Raw.Offset), nil, "unexpected %s", v.Kind)
}

// seal marks an inline table and the tables its dotted keys made as
// complete: nothing may be added to them later.
func seal(n *node) {
	if n.def != defDotted {
		return
	}
	n.def = defInline
	for _, c := range n.val.(table) {
		seal(c)
	}
}

// firstOffset is where a value starts: its own range, or for an array
// (which has none) its first element's.
func firstOffset(n *unstable.Node) (int, bool) {
	for {
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
}

// parseInteger converts an integer the parser has already checked (digits,
// underscores between digits, 0x/0o/0b prefixes, no leading zeros).
func parseInteger(s string) (int64, error) {
	s = strings.ReplaceAll(s, "_", "")
	base := 10
	if len(s) > 2 && s[0] == '0' {
		switch s[1] {
		case 'x':
			base = 16
		case 'o':
			base = 8
		case 'b':
			base = 2
		}
		if base != 10 {
			s = s[2:]
		}
	}
	n, err := strconv.ParseInt(s, base, 64)
	if err != nil {
		return 0, errorString("integer does not fit in 64 bits")
	}
	return n, nil
}

// parseFloat converts a float the parser has already checked.
func parseFloat(s string) (float64, error) {
	s = strings.ReplaceAll(s, "_", "")
	switch strings.TrimLeft(s, "+-") {
	case "inf":
		if s[0] == '-' {
			return math.Inf(-1), nil
		}
		return math.Inf(1), nil
	case "nan":
		return math.NaN(), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, errorString("float out of range")
	}
	return f, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

// quoteKey renders a dotted key for a syntax message.
func quoteKey(parts []string) string {
	ks := make([]string, len(parts))
	for i, p := range parts {
		ks[i] = keyName(p)
	}
	return "key " + strings.Join(ks, ".")
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}
