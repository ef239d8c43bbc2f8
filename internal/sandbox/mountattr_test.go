package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetMountAttr checks both ways of making a mount tree read-only,
// nosuid and nodev: mount_setattr(2) and the remount fallback for kernels
// without it. Each case runs on its own OS thread in a private mount
// namespace (unshare(CLONE_NEWNS) is per thread); the thread is never
// unlocked, so the runtime discards it afterwards and the host's mounts
// are never touched.
func TestSetMountAttr(t *testing.T) {
	cases := []struct {
		name      string
		set       func(path string, attr uint64, recursive bool) error
		recursive bool
	}{
		{"mount_setattr recursive", setMountAttr, true},
		{"mount_setattr top only", setMountAttr, false},
		{"remount fallback recursive", remountAttr, true},
		{"remount fallback top only", remountAttr, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A space in the path: mountinfo escapes it (\040).
			dir := filepath.Join(t.TempDir(), "a b")
			errc := make(chan error, 1)
			var top, sub unix.Statfs_t
			go func() {
				runtime.LockOSThread() // never unlocked: this thread's mount namespace is private
				errc <- func() error {
					if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
						return err
					}
					if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
						return err
					}
					if err := os.MkdirAll(dir, 0o755); err != nil {
						return err
					}
					if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
						return err
					}
					if err := os.Mkdir(dir+"/sub", 0o755); err != nil {
						return err
					}
					if err := unix.Mount("tmpfs", dir+"/sub", "tmpfs", 0, "size=64k"); err != nil {
						return err
					}
					if err := tc.set(dir, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, tc.recursive); err != nil {
						return err
					}
					if err := unix.Statfs(dir, &top); err != nil {
						return err
					}
					return unix.Statfs(dir+"/sub", &sub)
				}()
			}()
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			want := int64(unix.ST_RDONLY | unix.ST_NOSUID | unix.ST_NODEV)
			if top.Flags&want != want {
				t.Errorf("top mount flags %#x, want %#x set", top.Flags, want)
			}
			if tc.recursive && sub.Flags&want != want {
				t.Errorf("submount flags %#x, want %#x set", sub.Flags, want)
			}
			if !tc.recursive && sub.Flags&want != 0 {
				t.Errorf("submount flags %#x changed by a non-recursive call", sub.Flags)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/usr", "/usr"},
		{`/tmp/a\040b`, "/tmp/a b"},
		{`/x\011y\012z\134w`, "/x\ty\nz\\w"},
		{`/trailing\04`, `/trailing\04`}, // too short to be an escape
		{`/not\999octal`, `/not\999octal`},
	}
	for _, tc := range cases {
		if got := unescapeMountinfo(tc.in); got != tc.want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
