package spec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// maxSpecSize bounds one spec file; real specs are a few hundred bytes.
const maxSpecSize = 1 << 20

// source is one spec file's path and the exact bytes that were parsed and
// hashed (read once, so the hash always matches what was validated).
type source struct {
	path string
	data []byte
}

// Load reads, merges (drop-ins in order: a later file overrides keys; arrays
// replace, tables merge key by key; [[mount]]/[[credential]] arrays of
// tables replace as a whole), decodes strictly, validates and fills
// defaults. It checks each file is a regular file owned by root and not
// group- or world-writable (a spec runs code as root). The error is an
// ErrorList of *Error, every one naming file, line and key. On success
// Spec.Sources = [Main, DropIns...] and Spec.Hash = Hash(Spec.Sources).
//
// One exception to key-by-key merging: the probe kind keys of [readiness]
// (exec, tcp, http, notify) and [health] (exec, tcp, http) are one choice,
// so a drop-in that sets any of them replaces the kind chosen by earlier
// files instead of conflicting with it.
func Load(f Found) (*Spec, error) {
	paths := make([]string, 0, 1+len(f.DropIns))
	paths = append(paths, f.Main)
	paths = append(paths, f.DropIns...)
	return load(f.Name, paths)
}

// LoadFiles is Load for nucleus-exec, which is handed the file list on its
// command line: paths[0] is the main file (NAME = its stem), the rest are
// drop-ins in merge order.
func LoadFiles(paths []string) (*Spec, error) {
	if len(paths) == 0 {
		return nil, ErrorList{{Msg: "no spec file given"}}
	}
	base := filepath.Base(paths[0])
	if !strings.HasSuffix(base, ".toml") {
		return nil, ErrorList{{File: paths[0], Msg: "a spec file name must be NAME.toml"}}
	}
	return load(strings.TrimSuffix(base, ".toml"), append([]string(nil), paths...))
}

func load(name string, paths []string) (*Spec, error) {
	var errs ErrorList
	srcs := make([]source, 0, len(paths))
	for _, p := range paths {
		data, msgs := readSpecFile(p)
		for _, m := range msgs {
			errs = append(errs, &Error{File: p, Msg: m})
		}
		if len(msgs) == 0 {
			srcs = append(srcs, source{path: p, data: data})
		}
	}
	if !ValidName(name) {
		errs = append(errs, nameError(paths[0], name))
	}
	var s *Spec
	if len(srcs) > 0 {
		var derrs ErrorList
		s, derrs = decodeSources(name, srcs, len(srcs) < len(paths))
		errs = append(errs, derrs...)
	}
	if len(errs) > 0 {
		errs.sortBy(paths)
		return nil, errs
	}
	s.Sources = paths
	s.Hash = hashSources(srcs)
	return s, nil
}

// readSpecFile reads one spec file after checking, on the opened file, that
// only root can have written it: the spec decides what runs as root. It
// costs four system calls (open, fstat, one read, close): the generator
// reads every spec at every daemon-reload, and os.Open/File.Stat/ReadAll
// add a poller registration and a read to find EOF.
func readSpecFile(path string) ([]byte, []string) {
	// O_NONBLOCK: a FIFO put where a spec belongs must not block the open;
	// fstat then refuses it. It changes nothing for a regular file.
	fd, err := retryEINTR(func() (int, error) {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOCTTY|syscall.O_NONBLOCK, 0)
	})
	if err != nil {
		return nil, []string{"cannot open spec: " + err.Error()}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if _, err := retryEINTR(func() (int, error) { return 0, syscall.Fstat(fd, &st) }); err != nil {
		return nil, []string{"cannot stat spec: " + err.Error()}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, []string{"not a regular file"}
	}
	var msgs []string
	if st.Uid != 0 {
		msgs = append(msgs, fmt.Sprintf("owned by uid %d, not root: a spec runs code as root, so only root may be able to change it (chown root %s)", st.Uid, path))
	}
	if perm := st.Mode & 0o777; perm&0o022 != 0 {
		msgs = append(msgs, fmt.Sprintf("mode %04o is group- or world-writable: a spec runs code as root, so only root may be able to change it (chmod go-w %s)", perm, path))
	}
	if st.Size > maxSpecSize {
		msgs = append(msgs, fmt.Sprintf("larger than %d bytes", maxSpecSize))
	}
	if len(msgs) > 0 {
		return nil, msgs
	}
	data, err := readSized(fd, int(st.Size))
	if err != nil {
		return nil, []string{"cannot read spec: " + err.Error()}
	}
	if len(data) > maxSpecSize {
		return nil, []string{fmt.Sprintf("larger than %d bytes", maxSpecSize)}
	}
	return data, nil
}

// readSized reads a file that fstat says has size bytes: one read when the
// kernel returns them all, as it does for a regular file. A short read (the
// file shrank) reads on to EOF; a file that grows after fstat is read as
// it was at size bytes, and the spec hash covers exactly what was read.
// With size 0 (which some pseudo-files report) it reads to EOF, up to one
// byte past maxSpecSize so the caller can refuse a file that is too large.
func readSized(fd, size int) ([]byte, error) {
	buf := make([]byte, 0, size+1)
	for size == 0 || len(buf) < size {
		if len(buf) == cap(buf) {
			if len(buf) > maxSpecSize {
				return buf, nil
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := retryEINTR(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}

// retryEINTR calls f until it is not interrupted by a signal.
func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// Hash is "sha256:" + hex of sha256 over, for each path in order: path, NUL,
// len(content) as decimal, NUL, content. nucleus-exec compares it with the
// --hash the generator wrote.
func Hash(paths []string) (string, error) {
	srcs := make([]source, len(paths))
	for i, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("hashing spec: %w", err)
		}
		srcs[i] = source{path: p, data: data}
	}
	return hashSources(srcs), nil
}

func hashSources(srcs []source) string {
	h := sha256.New()
	var nul = []byte{0}
	for _, s := range srcs {
		io.WriteString(h, s.path)
		h.Write(nul)
		io.WriteString(h, strconv.Itoa(len(s.data)))
		h.Write(nul)
		h.Write(s.data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// node is one value of a parsed spec file, with where it was written. After
// merging, a tree holds nodes from several files, each still naming its own.
type node struct {
	src  int   // index into the sources
	line int   // 1-based; 0 = whole file
	def  uint8 // how a table or array was defined (tree.go), for TOML's rules
	val  any   // string, int64, float64, bool, a date/time, table or []*node
}

// table is a TOML table's keys.
type table map[string]*node

// decodeSources parses each source, merges them in order, and decodes the
// result into a validated Spec. It is Load without the file system, so the
// fuzz target and the tests exercise exactly the production path.
//
// incomplete says some file of the spec could not be read, so errors about
// the spec as a whole are left out, as when a file does not parse.
func decodeSources(name string, srcs []source, incomplete bool) (*Spec, ErrorList) {
	d := &decoder{srcs: srcs}
	var root *node
	parseFailed := incomplete
	for i, src := range srcs {
		n := d.parseSource(i, src)
		if n == nil {
			parseFailed = true
			continue
		}
		if root == nil {
			root = n
		} else {
			mergeTables(root, n, "")
		}
	}
	if root == nil {
		return nil, d.errs
	}
	// Decode what did parse, so every file's errors are reported at once;
	// errors about the spec as a whole are kept only when nothing is missing.
	s := d.decode(name, root)
	if !parseFailed {
		d.errs = append(d.errs, d.wholeErrs...)
	}
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return s, nil
}

// utf8BOM is a UTF-8 byte order mark, which go-toml does not skip; some
// editors write one.
const utf8BOM = "\ufeff"

// parseSource parses one file into a node tree, reporting a syntax error
// with its line and column.
func (d *decoder) parseSource(idx int, src source) *node {
	data := bytes.TrimPrefix(src.data, []byte(utf8BOM))
	root, err := buildTree(idx, data)
	if err != nil {
		line := 1 + bytes.Count(data[:err.offset], []byte("\n"))
		col := err.offset - bytes.LastIndexByte(data[:err.offset], '\n')
		d.errs = append(d.errs, &Error{File: src.path, Line: line,
			Key: dottedKeyName(strings.Join(err.key, ".")),
			Msg: "invalid TOML: " + oneLine(err.msg) + " (column " + strconv.Itoa(col) + ")"})
		return nil
	}
	return root
}

// probeKindKeys are the keys of [readiness] and [health] of which exactly
// one may be set; a drop-in that sets one replaces the earlier choice.
var probeKindKeys = []string{"exec", "tcp", "http", "notify"}

// mergeTables merges src over dst: tables merge key by key, everything else
// (scalars, arrays, arrays of tables) replaces. path is the table's dotted
// key ("" at the top), for the tables with special rules.
func mergeTables(dst, src *node, path string) {
	dt, ok1 := dst.val.(table)
	st, ok2 := src.val.(table)
	if !ok1 || !ok2 {
		*dst = *src
		return
	}
	if path == "readiness" || path == "health" {
		for _, k := range probeKindKeys {
			if _, ok := st[k]; ok {
				for _, k2 := range probeKindKeys {
					delete(dt, k2)
				}
				break
			}
		}
	}
	for k, sv := range st {
		if dv, ok := dt[k]; ok {
			if _, ok := dv.val.(table); ok {
				if _, ok := sv.val.(table); ok {
					child := k
					if path != "" {
						child = path + "." + k
					}
					mergeTables(dv, sv, child)
					continue
				}
			}
		}
		dt[k] = sv
	}
}

// dottedKeyName turns the library's "resources.memory" into the
// "[resources] memory" form errors use.
func dottedKeyName(k string) string {
	if k == "" {
		return ""
	}
	table, rest, ok := strings.Cut(k, ".")
	if !ok {
		switch {
		case table == "mount" || table == "credential":
			return "[[" + table + "]]"
		case contains(topKeys, table) && table != "description":
			return "[" + table + "]"
		}
		return k
	}
	if table == "mount" || table == "credential" {
		return "[[" + table + "]] " + rest
	}
	return "[" + table + "] " + rest
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(s)
}
