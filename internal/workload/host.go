package workload

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// HostViewDirs are the host directories a rootfs = "" container sees,
// read-only. Entries that are symlinks on the host (the merged-/usr
// layout: /bin -> usr/bin) are recreated as the same symlinks.
var HostViewDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// HostEntry is one host-view directory, or a symlink to recreate.
type HostEntry struct {
	Path    string
	Symlink string // non-empty: recreate as a symlink with this target
}

// HostView lists the HostViewDirs that exist on this host, in that order;
// the ones missing here (/lib32 and the like) and non-directories are left
// out.
func HostView() ([]HostEntry, error) { return hostView(HostViewDirs) }

// hostView lists those of dirs (absolute host paths) that exist as
// directories or symlinks.
func hostView(dirs []string) ([]HostEntry, error) {
	var out []HostEntry
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		e := HostEntry{Path: d}
		if fi.Mode()&os.ModeSymlink != 0 {
			t, err := os.Readlink(d)
			if err != nil {
				return nil, fmt.Errorf("host view %s: %w", d, err)
			}
			e.Symlink = t
		} else if !fi.IsDir() {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// MaxCredentialSize bounds a credential's copy; systemd's own limit for
// LoadCredential= is the same (CREDENTIAL_SIZE_MAX).
const MaxCredentialSize = 1 << 20

// CredentialSource is where a credential is read from: under systemd
// (credDir = $CREDENTIALS_DIRECTORY) the copy LoadCredential= made there,
// run by hand the spec's source itself.
func CredentialSource(c spec.Credential, credDir string) string {
	if credDir != "" {
		return filepath.Join(credDir, c.Name)
	}
	return c.Source
}

// ReadCredential reads a credential's content from r, refusing more than
// MaxCredentialSize bytes; source names it in errors.
func ReadCredential(r io.Reader, source string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxCredentialSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	if len(b) > MaxCredentialSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", source, MaxCredentialSize)
	}
	return b, nil
}
