package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeTree creates files (path → content; content "->TARGET" makes a
// symlink) under root with mode 0644.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindPrecedence(t *testing.T) {
	root := t.TempDir()
	const spec = "[exec]\ncommand = [\"/bin/true\"]\n"
	writeTree(t, root, map[string]string{
		// web: main from the first dir that has it; drop-ins from all dirs,
		// ordered by file name, an earlier dir's file masking a later one's.
		"etc/web.toml":                spec,
		"usr/web.toml":                spec,
		"etc/web.toml.d/10-x.toml":    "",
		"usr/web.toml.d/10-x.toml":    "",
		"usr/web.toml.d/05-y.toml":    "",
		"run/web.toml.d/20-z.toml":    "",
		"run/web.toml.d/.hidden.toml": "",
		"run/web.toml.d/notes.txt":    "",
		// db: masked in etc by a /dev/null symlink, so the usr one is gone too.
		"etc/db.toml":          "->/dev/null",
		"usr/db.toml":          spec,
		"usr/db.toml.d/a.toml": "",
		// cache: only in the last dir; one of its drop-ins masked in etc.
		"usr/cache.toml":          spec,
		"usr/cache.toml.d/a.toml": "",
		"usr/cache.toml.d/b.toml": "",
		"etc/cache.toml.d/b.toml": "->/dev/null",
		// Not specs.
		"etc/README":                               "",
		"etc/web.toml.bak":                         "",
		"etc/-bad.toml":                            spec,
		"run/has space.toml":                       spec,
		"run/orphan.toml.d/x.toml":                 "",
		"run/" + strings.Repeat("n", 65) + ".toml": spec,
	})
	dirs := []string{filepath.Join(root, "etc"), filepath.Join(root, "run"), filepath.Join(root, "missing"), filepath.Join(root, "usr")}
	found, errs := Find(dirs)

	want := []Found{
		{Name: "cache", Main: root + "/usr/cache.toml", DropIns: []string{root + "/usr/cache.toml.d/a.toml"}},
		{Name: "web", Main: root + "/etc/web.toml", DropIns: []string{
			root + "/usr/web.toml.d/05-y.toml",
			root + "/etc/web.toml.d/10-x.toml",
			root + "/run/web.toml.d/20-z.toml",
		}},
	}
	if !reflect.DeepEqual(found, want) {
		t.Errorf("Find:\n got %+v\nwant %+v", found, want)
	}

	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, strings.ReplaceAll(e.Error(), root, "$ROOT"))
	}
	wantErrs := []string{
		`$ROOT/etc/-bad.toml: invalid spec name "-bad": a NAME is a letter or digit followed by letters, digits, '_', '.' or '-', at most 64 characters`,
		`$ROOT/run/has space.toml: invalid spec name "has space": a NAME is a letter or digit followed by letters, digits, '_', '.' or '-', at most 64 characters`,
		`$ROOT/run/` + strings.Repeat("n", 65) + `.toml: invalid spec name "` + strings.Repeat("n", 65) + `": a NAME is a letter or digit followed by letters, digits, '_', '.' or '-', at most 64 characters`,
		`$ROOT/run/orphan.toml.d: drop-in directory without a spec: no orphan.toml in any spec directory`,
	}
	if !reflect.DeepEqual(msgs, wantErrs) {
		t.Errorf("Find errors:\n got %q\nwant %q", msgs, wantErrs)
	}
}

func TestFindEmpty(t *testing.T) {
	found, errs := Find([]string{filepath.Join(t.TempDir(), "nope")})
	if len(found) != 0 || len(errs) != 0 {
		t.Errorf("Find(missing dir) = %v, %v; want nothing", found, errs)
	}
	found, errs = Find(nil)
	if len(found) != 0 || len(errs) != 0 {
		t.Errorf("Find(nil) = %v, %v; want nothing", found, errs)
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"web": true, "a": true, "0db": true, "web.v2": true, "my_app-1": true,
		strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
		"": false, "-x": false, "_x": false, ".x": false, "a b": false, "a/b": false, "ü": false, "a:b": false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestDirs(t *testing.T) {
	tests := []struct {
		env  string
		want []string
	}{
		{"", DefaultDirs},
		{"/a:/b", []string{"/a", "/b"}},
		{"/a::/b:", []string{"/a", "/b"}},
		{":", DefaultDirs},
	}
	for _, tt := range tests {
		t.Setenv(SpecDirsEnv, tt.env)
		if got := Dirs(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Dirs() with %s=%q = %q, want %q", SpecDirsEnv, tt.env, got, tt.want)
		}
	}
}
