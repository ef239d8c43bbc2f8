package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/golden"
)

// specDirPlaceholder replaces the per-test temporary spec directory in
// goldens, so they do not depend on the machine.
const specDirPlaceholder = "$SPECDIR"

// dump renders a Spec as stable text: one "Field.Path = value" line per
// leaf, maps sorted by key. Hash is checked separately (it covers paths,
// which differ per run).
func dump(s *Spec) string {
	var b strings.Builder
	dumpValue(&b, "", reflect.ValueOf(*s))
	return b.String()
}

func dumpValue(b *strings.Builder, prefix string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Name == "Hash" {
				continue
			}
			if f.Anonymous {
				dumpValue(b, prefix, v.Field(i))
				continue
			}
			dumpValue(b, field(prefix, f.Name), v.Field(i))
		}
		return
	case reflect.Pointer:
		if v.IsNil() {
			fmt.Fprintf(b, "%s = nil\n", prefix)
			return
		}
		dumpValue(b, prefix, v.Elem())
		return
	case reflect.Slice:
		if v.Len() > 0 && v.Index(0).Kind() == reflect.Struct {
			for i := 0; i < v.Len(); i++ {
				dumpValue(b, fmt.Sprintf("%s[%d]", prefix, i), v.Index(i))
			}
			return
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = scalar(v.Index(i))
		}
		fmt.Fprintf(b, "%s = [%s]\n", prefix, strings.Join(parts, ", "))
		return
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		if len(keys) == 0 {
			fmt.Fprintf(b, "%s = {}\n", prefix)
		}
		for _, k := range keys {
			fmt.Fprintf(b, "%s[%q] = %s\n", prefix, k, scalar(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key()))))
		}
		return
	}
	fmt.Fprintf(b, "%s = %s\n", prefix, scalar(v))
}

func field(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func scalar(v reflect.Value) string {
	if sig, ok := v.Interface().(syscall.Signal); ok {
		return unix.SignalName(sig)
	}
	switch v.Kind() {
	case reflect.String:
		return fmt.Sprintf("%q", v.String())
	}
	return fmt.Sprint(v.Interface())
}

// copySpec copies testdata/<kind>/<name>.toml (and <name>.toml.d/, if any)
// into a fresh spec directory with root-only write permission, as Load
// demands, whatever the checkout's umask was.
func copySpec(t *testing.T, kind, name string) string {
	t.Helper()
	dir := t.TempDir()
	copyFile(t, filepath.Join("testdata", kind, name+".toml"), filepath.Join(dir, name+".toml"))
	dropDir := filepath.Join("testdata", kind, name+".toml.d")
	if entries, err := os.ReadDir(dropDir); err == nil {
		if err := os.Mkdir(filepath.Join(dir, name+".toml.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			copyFile(t, filepath.Join(dropDir, e.Name()), filepath.Join(dir, name+".toml.d", e.Name()))
		}
	}
	return dir
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, 0o644); err != nil {
		t.Fatal(err)
	}
}

// goldenCases lists the spec names under testdata/<kind>.
func goldenCases(t *testing.T, kind string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", kind, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".toml"))
	}
	if len(names) == 0 {
		t.Fatalf("no specs under testdata/%s", kind)
	}
	return names
}

// loadOne finds and loads the only spec in dir.
func loadOne(t *testing.T, dir string) (*Spec, error) {
	t.Helper()
	found, errs := Find([]string{dir})
	if len(errs) > 0 || len(found) != 1 {
		t.Fatalf("Find(%s) = %v, %v; want one spec, no errors", dir, found, errs)
	}
	return Load(found[0])
}

func TestGoldenValid(t *testing.T) {
	for _, name := range goldenCases(t, "valid") {
		t.Run(name, func(t *testing.T) {
			dir := copySpec(t, "valid", name)
			s, err := loadOne(t, dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want, err := Hash(s.Sources)
			if err != nil || s.Hash != want {
				t.Errorf("Hash = %q, Hash(Sources) = %q, %v", s.Hash, want, err)
			}
			got := strings.ReplaceAll(dump(s), dir, specDirPlaceholder)
			golden.Check(t, filepath.Join("testdata", "valid", name+".golden"), []byte(got))
		})
	}
}

func TestGoldenInvalid(t *testing.T) {
	for _, name := range goldenCases(t, "invalid") {
		t.Run(name, func(t *testing.T) {
			dir := copySpec(t, "invalid", name)
			s, err := loadOne(t, dir)
			if err == nil {
				t.Fatalf("Load succeeded, want errors; spec:\n%s", dump(s))
			}
			if s != nil {
				t.Errorf("Load returned a Spec with errors")
			}
			list, ok := err.(ErrorList)
			if !ok || len(list) == 0 {
				t.Fatalf("error is %T, want a non-empty ErrorList", err)
			}
			for _, e := range list {
				if e.File == "" || e.Line < 0 || e.Msg == "" {
					t.Errorf("error without file, line or message: %#v", e)
				}
			}
			got := strings.ReplaceAll(err.Error(), dir, specDirPlaceholder) + "\n"
			golden.Check(t, filepath.Join("testdata", "invalid", name+".err"), []byte(got))
		})
	}
}
