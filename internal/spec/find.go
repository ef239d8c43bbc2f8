package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SpecDirsEnv names the environment variable that replaces the spec
// directories (colon-separated), for tests and for trying specs by hand.
const SpecDirsEnv = "NUCLEUS_SPEC_DIRS"

// DefaultDirs are the spec directories in precedence order: the admin's
// /etc first, then runtime specs, then the vendor's.
var DefaultDirs = []string{"/etc/nucleus", "/run/nucleus", "/usr/lib/nucleus"}

// maxNameLen bounds NAME so that NAME.service stays a short unit name and
// the default hostname (NAME) fits HOST_NAME_MAX (64).
const maxNameLen = 64

// Dirs returns the spec directories in precedence order: $NUCLEUS_SPEC_DIRS
// (colon-separated, empty elements dropped) when it is set and not empty,
// else /etc/nucleus, /run/nucleus, /usr/lib/nucleus.
func Dirs() []string {
	if v := os.Getenv(SpecDirsEnv); v != "" {
		var dirs []string
		for _, d := range strings.Split(v, ":") {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
		if len(dirs) > 0 {
			return dirs
		}
	}
	return append([]string(nil), DefaultDirs...)
}

// Found is one spec: its NAME, the main file (first match of NAME.toml in
// dirs order) and its drop-ins (NAME.toml.d/*.toml from ALL dirs, ordered by
// file name; a drop-in file name in an earlier dir masks the same file name
// in a later dir, like systemd's drop-ins).
type Found struct {
	Name    string
	Main    string
	DropIns []string
}

// ValidName reports whether name is a valid spec NAME:
// [A-Za-z0-9][A-Za-z0-9_.-]*, at most 64 characters.
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func nameError(path, name string) *Error {
	return &Error{File: path, Msg: "invalid spec name " + quote(name) +
		": a NAME is a letter or digit followed by letters, digits, '_', '.' or '-', at most 64 characters"}
}

// isMasked reports whether the directory entry is a symlink to /dev/null,
// which masks the spec or drop-in of that name in later directories, as
// systemd does for units.
func isMasked(dir string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	target, err := os.Readlink(filepath.Join(dir, e.Name()))
	return err == nil && target == "/dev/null"
}

// Find lists the specs in dirs, sorted by Name. Missing dirs are fine. Files
// whose stem is not a valid NAME are reported as errors and skipped; a
// drop-in dir with no main spec is reported too. Non-.toml files are
// ignored, and so are hidden files inside drop-in dirs (editor leftovers).
// A NAME.toml or drop-in that is a symlink to /dev/null masks that name in
// later dirs and is itself no spec, as with systemd units.
func Find(dirs []string) ([]Found, []error) {
	var errs []error
	mains := map[string]string{}     // NAME → main file
	masked := map[string]bool{}      // NAME masked by /dev/null
	dropins := map[string][]string{} // NAME → drop-in paths, masking applied
	seenDrop := map[string]string{}  // NAME + "/" + file name → first path (or "" if masked)
	dropDirOf := map[string]string{} // NAME → first drop-in dir, for the orphan error

	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, &Error{File: dir, Msg: "cannot read spec directory: " + err.Error()})
			}
			continue
		}
		for _, e := range entries {
			fname := e.Name()
			switch {
			case strings.HasSuffix(fname, ".toml.d"):
				name := strings.TrimSuffix(fname, ".toml.d")
				ddir := filepath.Join(dir, fname)
				if !ValidName(name) {
					errs = append(errs, nameError(ddir, name))
					continue
				}
				if !isDir(ddir, e) {
					continue
				}
				if _, ok := dropDirOf[name]; !ok {
					dropDirOf[name] = ddir
				}
				des, err := os.ReadDir(ddir)
				if err != nil {
					errs = append(errs, &Error{File: ddir, Msg: "cannot read drop-in directory: " + err.Error()})
					continue
				}
				for _, de := range des {
					dn := de.Name()
					if !strings.HasSuffix(dn, ".toml") || strings.HasPrefix(dn, ".") {
						continue
					}
					k := name + "/" + dn
					if _, ok := seenDrop[k]; ok {
						continue // masked by the same file name in an earlier dir
					}
					if isMasked(ddir, de) {
						seenDrop[k] = ""
						continue
					}
					p := filepath.Join(ddir, dn)
					seenDrop[k] = p
					dropins[name] = append(dropins[name], p)
				}
			case strings.HasSuffix(fname, ".toml"):
				name := strings.TrimSuffix(fname, ".toml")
				p := filepath.Join(dir, fname)
				if !ValidName(name) {
					errs = append(errs, nameError(p, name))
					continue
				}
				if _, ok := mains[name]; ok || masked[name] {
					continue
				}
				if isMasked(dir, e) {
					masked[name] = true
					continue
				}
				mains[name] = p
			}
		}
	}

	found := make([]Found, 0, len(mains))
	for name, main := range mains {
		ds := dropins[name]
		sort.Slice(ds, func(i, j int) bool { return filepath.Base(ds[i]) < filepath.Base(ds[j]) })
		found = append(found, Found{Name: name, Main: main, DropIns: ds})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })

	var orphans []string
	for name := range dropDirOf {
		if _, ok := mains[name]; !ok && !masked[name] {
			orphans = append(orphans, name)
		}
	}
	sort.Strings(orphans)
	for _, name := range orphans {
		errs = append(errs, &Error{File: dropDirOf[name],
			Msg: "drop-in directory without a spec: no " + name + ".toml in any spec directory"})
	}
	return found, errs
}

// isDir reports whether the entry is a directory, following a symlink.
func isDir(path string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
