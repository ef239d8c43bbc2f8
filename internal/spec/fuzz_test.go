package spec

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// FuzzLoad feeds arbitrary bytes, as a main file and a drop-in, through the
// production parse → merge → decode → validate path (decodeSources: Load
// without the file system). It must never panic; every error must name a
// file and a line >= 0 no greater than the file's line count; a success must
// hold the invariants consumers rely on.
func FuzzLoad(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/*.toml")
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte(nil))
	}
	f.Add([]byte(minimalSpec), []byte("[readiness]\ntcp = 80\n"))
	for _, d := range tomlRuleDocs {
		f.Add([]byte(d.doc), []byte(nil))
	}
	f.Fuzz(func(t *testing.T, main, dropin []byte) {
		srcs := []source{{path: "main.toml", data: main}}
		if dropin != nil {
			srcs = append(srcs, source{path: "dropin.toml", data: dropin})
		}
		checkKeyLines(t, main)
		checkAgainstDecoder(t, main)
		s, errs := decodeSources("fuzz", srcs, false)
		if (s == nil) == (len(errs) == 0) {
			t.Fatalf("decodeSources returned spec %v and %d errors", s != nil, len(errs))
		}
		for _, e := range errs {
			if e == nil {
				t.Fatal("nil *Error in the list")
			}
			var data []byte
			switch e.File {
			case "main.toml":
				data = main
			case "dropin.toml":
				data = dropin
			default:
				t.Fatalf("error names file %q: %v", e.File, e)
			}
			if e.Line < 0 || e.Line > bytes.Count(data, []byte("\n"))+1 {
				t.Fatalf("error line %d outside the file (%d newlines): %v", e.Line, bytes.Count(data, []byte("\n")), e)
			}
			if e.Msg == "" {
				t.Fatalf("error without a message: %#v", e)
			}
			_ = e.Error()
		}
		if s == nil {
			return
		}
		switch {
		case len(s.Exec.Command) == 0 || s.Exec.Command[0] == "":
			t.Fatalf("valid spec without a program: %q", s.Exec.Command)
		case s.Resources.Pids < 1:
			t.Fatalf("Pids = %d", s.Resources.Pids)
		case s.Restart.Policy == "" || s.Isolation.Runtime == "" || s.Network.Mode == "" || s.Isolation.UserNamespace == "" || s.Isolation.Seccomp == "":
			t.Fatalf("a default is missing: %+v", s)
		case s.Health != nil && s.Health.WatchdogTimeout() <= 0:
			t.Fatalf("watchdog timeout %v", s.Health.WatchdogTimeout())
		case s.Readiness != nil && (s.Readiness.Interval <= 0 || s.Readiness.Timeout <= 0 || s.Readiness.Probe.Kind == ""):
			t.Fatalf("readiness %+v", s.Readiness)
		}
		for _, m := range s.Mounts {
			if checkPath(m.Target) != nil || m.Target == "/" {
				t.Fatalf("mount target %q", m.Target)
			}
		}
	})
}

// checkAgainstDecoder checks the tree builder against go-toml's own
// decoder: both must accept or refuse the same documents, and build the same
// values.
func checkAgainstDecoder(t *testing.T, data []byte) {
	data = bytes.TrimPrefix(data, []byte(utf8BOM))
	var want any
	decErr := toml.Unmarshal(data, &want)
	root, err := buildTree(0, data)
	switch {
	case decErr != nil && err == nil:
		t.Fatalf("go-toml refuses the document (%v), the builder accepts it", decErr)
	case decErr == nil && err != nil:
		t.Fatalf("go-toml accepts the document, the builder refuses it: %v", err)
	case err != nil:
		return
	}
	if want == nil {
		want = map[string]any{}
	}
	if got := plainValue(root); !sameValue(got, want) {
		t.Fatalf("builder's values differ from go-toml's:\n got %#v\nwant %#v", got, want)
	}
}

// plainValue turns a node tree into the maps and slices go-toml decodes.
func plainValue(n *node) any {
	switch v := n.val.(type) {
	case table:
		m := make(map[string]any, len(v))
		for k, c := range v {
			m[k] = plainValue(c)
		}
		return m
	case []*node:
		a := make([]any, len(v))
		for i, c := range v {
			a[i] = plainValue(c)
		}
		return a
	}
	return n.val
}

// sameValue is reflect.DeepEqual, except that NaN equals NaN.
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y)) && math.Signbit(x) == math.Signbit(y)
	}
	return reflect.DeepEqual(a, b)
}

// checkKeyLines checks the lines the builder gives keys: when it accepts
// data, every bare key of a table must be found on a line that contains it.
// Escapes are skipped: "\u0061" is key "a" without the letter on the line.
func checkKeyLines(t *testing.T, data []byte) {
	if bytes.IndexByte(data, '\\') >= 0 {
		return
	}
	d := &decoder{srcs: []source{{path: "main.toml", data: data}}}
	root := d.parseSource(0, d.srcs[0])
	if root == nil {
		return
	}
	lines := bytes.Split(data, []byte("\n"))
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		if depth > 20 {
			return
		}
		switch v := n.val.(type) {
		case table:
			for k, c := range v {
				bare := k != ""
				for i := 0; i < len(k); i++ {
					bare = bare && isBareKeyChar(k[i])
				}
				if bare && (c.line < 1 || c.line > len(lines) || !bytes.Contains(lines[c.line-1], []byte(k))) {
					t.Fatalf("key %q placed on line %d, which does not contain it", k, c.line)
				}
				walk(c, depth+1)
			}
		case []*node:
			for _, c := range v {
				walk(c, depth+1)
			}
		}
	}
	walk(root, 0)
}

// BenchmarkLoad loads one typical spec (examples/web.toml, kept as
// testdata/valid/example-web.toml) from disk, as the generator does for
// every spec at every daemon-reload; "every-key" is the largest spec.
func BenchmarkLoad(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"typical", "testdata/valid/example-web.toml"},
		{"every-key", "testdata/valid/full.toml"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			data, err := os.ReadFile(bc.file)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "web.toml"), data, 0o644); err != nil {
				b.Fatal(err)
			}
			f := Found{Name: "web", Main: filepath.Join(dir, "web.toml")}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				if _, err := Load(f); err != nil {
					b.Fatal(err)
				}
			}
			// On a machine shared with other work, wall time per op
			// includes waiting for a CPU; the process's CPU time (garbage
			// collection included) does not.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the user+system CPU time the process has used, in ns.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
