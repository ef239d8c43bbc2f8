package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

const minimalSpec = "[exec]\ncommand = [\"/bin/true\"]\n"

func TestLoadRefusesUnsafeFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("these tests create root-owned files and chown others; run them as root")
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string // error text, with the path as $F
	}{
		{"owned by another user", func(t *testing.T, p string) {
			if err := os.Chown(p, 65534, 0); err != nil {
				t.Fatal(err)
			}
		}, "$F: owned by uid 65534, not root: a spec runs code as root, so only root may be able to change it (chown root $F)"},
		{"group-writable", func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o664); err != nil {
				t.Fatal(err)
			}
		}, "$F: mode 0664 is group- or world-writable: a spec runs code as root, so only root may be able to change it (chmod go-w $F)"},
		{"world-writable and foreign", func(t *testing.T, p string) {
			if err := os.Chmod(p, 0o646); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(p, 1000, 1000); err != nil {
				t.Fatal(err)
			}
		}, "$F: mode 0646 is group- or world-writable: a spec runs code as root, so only root may be able to change it (chmod go-w $F)\n" +
			"$F: owned by uid 1000, not root: a spec runs code as root, so only root may be able to change it (chown root $F)"},
		{"a directory", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "$F: not a regular file"},
		{"missing", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, "$F: cannot open spec: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "web.toml")
			if err := os.WriteFile(p, []byte(minimalSpec), 0o644); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, p)
			s, err := Load(Found{Name: "web", Main: p})
			if err == nil || s != nil {
				t.Fatalf("Load = %v, %v; want an error", s, err)
			}
			if got, want := err.Error(), strings.ReplaceAll(tt.want, "$F", p); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestLoadSymlinkedSpec(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.toml")
	if err := os.WriteFile(real, []byte(minimalSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "web.toml")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	s, err := Load(Found{Name: "web", Main: link})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "web" || !reflect.DeepEqual(s.Sources, []string{link}) {
		t.Errorf("Name, Sources = %q, %q", s.Name, s.Sources)
	}
}

func TestLoadFiles(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"db.toml":          minimalSpec + "[resources]\npids = 10\n",
		"db.toml.d/b.toml": "[resources]\npids = 30\n",
		"db.toml.d/a.toml": "[resources]\npids = 20\n",
		"db.conf":          minimalSpec,
		"bad name.toml":    minimalSpec,
	})
	// The merge order is the order given, not the file names' order.
	paths := []string{dir + "/db.toml", dir + "/db.toml.d/b.toml", dir + "/db.toml.d/a.toml"}
	s, err := LoadFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "db" || s.Resources.Pids != 20 || !reflect.DeepEqual(s.Sources, paths) {
		t.Errorf("Name %q, Pids %d, Sources %q; want db, 20 (the last file given), %q", s.Name, s.Resources.Pids, s.Sources, paths)
	}
	if h, err := Hash(paths); err != nil || h != s.Hash {
		t.Errorf("Hash(paths) = %q, %v; Spec.Hash = %q", h, err, s.Hash)
	}

	for _, tt := range []struct {
		paths []string
		want  string
	}{
		{nil, "no spec file given"},
		{[]string{dir + "/db.conf"}, dir + "/db.conf: a spec file name must be NAME.toml"},
		{[]string{dir + "/bad name.toml"}, dir + `/bad name.toml: invalid spec name "bad name": a NAME is a letter or digit followed by letters, digits, '_', '.' or '-', at most 64 characters`},
		{[]string{dir + "/db.toml", dir + "/nope.toml"}, dir + "/nope.toml: cannot open spec: no such file or directory"},
	} {
		s, err := LoadFiles(tt.paths)
		if err == nil || s != nil {
			t.Errorf("LoadFiles(%q) = %v, nil; want error %q", tt.paths, s, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("LoadFiles(%q):\n got %s\nwant %s", tt.paths, err, tt.want)
		}
	}
}

func TestHash(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	writeTree(t, dir, map[string]string{"a.toml": "x = 1\n", "b.toml": ""})
	// The documented construction, spelled out independently.
	sum := sha256.Sum256([]byte(a + "\x00" + "6" + "\x00" + "x = 1\n" + b + "\x00" + "0" + "\x00"))
	want := "sha256:" + hex.EncodeToString(sum[:])
	got, err := Hash([]string{a, b})
	if err != nil || got != want {
		t.Errorf("Hash = %q, %v; want %q", got, err, want)
	}
	// Order, paths and contents all matter.
	other, _ := Hash([]string{b, a})
	if other == got {
		t.Error("Hash ignores the order of the files")
	}
	if err := os.WriteFile(a, []byte("x = 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, _ := Hash([]string{a, b}); changed == got {
		t.Error("Hash ignores the content")
	}
	if _, err := Hash([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("Hash of a missing file succeeded")
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{"/etc/nucleus/web.toml", 12, "[resources] memroy", `unknown key (did you mean "memory"?)`},
			`/etc/nucleus/web.toml:12: [resources] memroy: unknown key (did you mean "memory"?)`},
		{Error{"/w.toml", 3, "[[mount]] #2 target", "x"}, "/w.toml:3: [[mount]] #2 target: x"},
		{Error{"/w.toml", 1, "description", "x"}, "/w.toml:1: description: x"},
		{Error{"/w.toml", 0, "", "not a regular file"}, "/w.toml: not a regular file"},
		{Error{"/w.toml", 0, "[exec] command", "missing"}, "/w.toml: [exec] command: missing"},
		{Error{"", 0, "", "no spec file given"}, "no spec file given"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	list := ErrorList{{File: "b", Line: 2, Msg: "x"}, {File: "a", Line: 9, Msg: "y"}, {File: "a", Line: 1, Msg: "z"}}
	list.sortBy([]string{"b", "a"})
	if got, want := list.Error(), "b:2: x\na:1: z\na:9: y"; got != want {
		t.Errorf("sorted list:\n%s\nwant\n%s", got, want)
	}
}

// TestErrorsFromEveryFile checks that a spec with errors in its main file and
// in two drop-ins reports all of them, sorted by file (merge order) and line.
func TestErrorsFromEveryFile(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"web.toml":          "[exec]\ncommand = [\"/bin/true\"]\nuser = \"\"\n\n[resources]\npids = 0\n",
		"web.toml.d/a.toml": "[resources]\n\nmemroy = 1\n",
		"web.toml.d/b.toml": "[exec\n",
	})
	_, err := Load(Found{Name: "web", Main: dir + "/web.toml", DropIns: []string{dir + "/web.toml.d/a.toml", dir + "/web.toml.d/b.toml"}})
	want := strings.Join([]string{
		"$D/web.toml:3: [exec] user: must not be empty (leave user out to run as root)",
		"$D/web.toml:6: [resources] pids: must be between 1 and 4194304, not 0",
		`$D/web.toml.d/a.toml:3: [resources] memroy: unknown key (did you mean "memory"?)`,
		"$D/web.toml.d/b.toml:1: invalid TOML: expected ']' to close table name (column 6)",
	}, "\n")
	if err == nil {
		t.Fatal("Load succeeded")
	}
	if got := strings.ReplaceAll(err.Error(), dir, "$D"); got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
}

// TestUnreadableDropInHidesWholeSpecErrors: when a drop-in cannot be read,
// "missing" errors are not reported, as the drop-in may hold the key.
func TestUnreadableDropInHidesWholeSpecErrors(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"web.toml": "[exec]\nuser = 5\n"})
	_, err := Load(Found{Name: "web", Main: dir + "/web.toml", DropIns: []string{dir + "/web.toml.d/gone.toml"}})
	want := "$D/web.toml:2: [exec] user: must be a string, not an integer\n" +
		"$D/web.toml.d/gone.toml: cannot open spec: no such file or directory"
	if err == nil || strings.ReplaceAll(err.Error(), dir, "$D") != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
}

func TestMergeSemantics(t *testing.T) {
	main := `
[exec]
command = ["/bin/a", "x"]
environment = { A = "1", B = "2" }
[isolation]
seccomp_allow = ["ptrace"]
[[credential]]
name = "a"
source = "/a"
target = "/run/a"
[health]
tcp = 80
retries = 7
[unit]
after = ["x"]
`
	dropin := `
[exec]
command = ["/bin/b"]
environment.B = "3"
[isolation]
seccomp_allow = []
[[credential]]
name = "b"
source = "/b"
target = "/run/b"
[health]
exec = ["/bin/check"]
`
	s, errs := decodeSources("m", []source{{"m.toml", []byte(main)}, {"d.toml", []byte(dropin)}}, false)
	if errs != nil {
		t.Fatal(errs)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"command replaced", s.Exec.Command, []string{"/bin/b"}},
		{"environment merged", s.Exec.Environment, map[string]string{"A": "1", "B": "3"}},
		{"array replaced by empty", s.Isolation.SeccompAllow, []string{}},
		{"[[credential]] replaced", s.Credentials, []Credential{{Name: "b", Source: "/b", Target: "/run/b"}}},
		{"health kind replaced", s.Health.Probe.Kind, ProbeExec},
		{"health tcp gone", s.Health.Port, uint16(0)},
		{"health retries kept", s.Health.Retries, 7},
		{"untouched table kept", s.Unit.After, []string{"x.service"}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

func TestKeyLines(t *testing.T) {
	doc := `# comment
description = "x" # trailing
[exec]
command = [
  "/bin/sh",
  """multi
line""",
  "c",
]
environment = { A = "1",
  B = "2" }
"quoted.key" = 1
a.b.c = 2

[[mount]]
target = "/a"
[[mount]]
target = '/b'
mount2 = [{ x = 1 },
  { x = 2 }]
[exec.more]
K = "v"
`
	root, serr := buildTree(0, []byte(doc))
	if serr != nil {
		t.Fatal(serr)
	}
	want := []struct {
		path []string
		line int
	}{
		{[]string{"description"}, 2},
		{[]string{"exec"}, 3},
		{[]string{"exec", "command"}, 4},
		{[]string{"exec", "command", "#0"}, 5},
		{[]string{"exec", "command", "#1"}, 6},
		{[]string{"exec", "command", "#2"}, 8},
		{[]string{"exec", "environment"}, 10},
		{[]string{"exec", "environment", "A"}, 10},
		{[]string{"exec", "environment", "B"}, 11},
		{[]string{"exec", "quoted.key"}, 12},
		{[]string{"exec", "a", "b", "c"}, 13},
		{[]string{"mount"}, 15},
		{[]string{"mount", "#0"}, 15},
		{[]string{"mount", "#0", "target"}, 16},
		{[]string{"mount", "#1"}, 17},
		{[]string{"mount", "#1", "target"}, 18},
		{[]string{"mount", "#1", "mount2", "#1"}, 20},
		{[]string{"mount", "#1", "mount2", "#1", "x"}, 20},
		{[]string{"exec", "more"}, 21},
		{[]string{"exec", "more", "K"}, 22},
	}
	for _, w := range want {
		if got, ok := lineOf(root, w.path...); !ok || got != w.line {
			t.Errorf("line of %s = %d (found %v), want %d", strings.Join(w.path, "."), got, ok, w.line)
		}
	}
}

// lineOf finds the node at a path of keys and "#N" array indices.
func lineOf(n *node, path ...string) (int, bool) {
	for _, c := range path {
		switch v := n.val.(type) {
		case table:
			if n = v[c]; n == nil {
				return 0, false
			}
		case []*node:
			i, err := strconv.Atoi(strings.TrimPrefix(c, "#"))
			if err != nil || i >= len(v) {
				return 0, false
			}
			n = v[i]
		default:
			return 0, false
		}
	}
	return n.line, true
}

// TestByteOrderMark: a UTF-8 byte order mark (which some editors write) is
// skipped, and lines are still counted from the first line.
func TestByteOrderMark(t *testing.T) {
	_, errs := decodeSources("web", []source{{path: "web.toml", data: []byte("\ufeff[exec]\ncommand = []\n")}}, false)
	want := "web.toml:2: [exec] command: must not be empty: the first element is the program to run"
	if got := errs.Error(); got != want {
		t.Errorf("errors:\n got %s\nwant %s", got, want)
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"memory", "memory_high", "cpus", "pids"}
	for word, want := range map[string]string{
		"memroy": "memory", "memory-high": "memory_high", "cpu": "cpus", "pid": "pids",
		"frobnicate": "", "m": "", "": "",
	} {
		if got := suggest(word, cands); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}
