package sandbox_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/golden"
	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// submountHelperEnv makes the test binary act as submountHelper ("1") or
// noDevNullHelper ("no-dev-null"). It is checked in init, before TestMain
// (main_test.go) dispatches its own roles: the helper is an ordinary
// supervisor process, never the container's init (whose environment is
// only the plan) nor a probe inside.
const submountHelperEnv = "NUCLEUS_TEST_SUBMOUNT_HELPER"

func init() {
	switch os.Getenv(submountHelperEnv) {
	case "1":
		os.Exit(submountHelper())
	case "no-dev-null":
		os.Exit(noDevNullHelper())
	case "rootfs-submount":
		os.Exit(rootfsSubmountHelper())
	}
}

// rootfsEnv passes TestRootfsSubmountReadOnly's rootfs directory to its
// helper.
const rootfsEnv = "NUCLEUS_TEST_ROOTFS"

// TestRootfsSubmountReadOnly: a file system mounted below a directory
// rootfs on the host comes into the container read-only, nosuid and nodev
// with read_only = true, like the rootfs itself; a [[mount]] with
// read_only = false stays writable. The host side is a helper's private
// mount namespace with a writable tmpfs on ROOTFS/sub.
func TestRootfsSubmountReadOnly(t *testing.T) {
	root := busyboxRootfs(t, "root:x:0:0:root:/root:/bin/sh\n", "sub", "rw")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), submountHelperEnv+"=rootfs-submount", rootfsEnv+"="+root, "RW_SOURCE="+t.TempDir())
	if dynamicTestBinary(t) {
		cmd.Env = append(cmd.Env, "NUCLEUS_TEST_DYNAMIC=1")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, want := range []string{"/sub/new: ro", "/new: ro", "/rw/new: rw"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	flags := ""
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/sub" {
			flags = f[5]
		}
	}
	for _, want := range []string{"ro", "nosuid", "nodev"} {
		if !hasOption(flags, want) {
			t.Errorf("/sub inside has flags %q, want %s\n%s", flags, want, out)
		}
	}
}

// rootfsSubmountHelper mounts a writable tmpfs on ROOTFS/sub and runs a
// container from ROOTFS that tries to write below it, to its root and to a
// writable [[mount]], and prints its mountinfo.
func rootfsSubmountHelper() int {
	root := os.Getenv(rootfsEnv)
	if err := syscall.Mount("tmpfs", root+"/sub", "tmpfs", 0, "size=64k"); err != nil {
		os.Stderr.WriteString("mount tmpfs on the rootfs's /sub: " + err.Error() + "\n")
		return 1
	}
	try := `for f in /sub/new /new /rw/new; do if echo x > $f; then echo "$f: rw"; else echo "$f: ro"; fi; done; busybox cat /proc/self/mountinfo`
	s := &spec.Spec{
		Name: "sbrootfssub",
		Exec: spec.Exec{Command: []string{"/bin/busybox", "sh", "-c", try}, Workdir: "/"},
		Isolation: spec.Isolation{Runtime: spec.RuntimeNative, Rootfs: root, ReadOnly: true, Namespaces: spec.DefaultNamespaces,
			UserNamespace: spec.UserNSHost, Seccomp: spec.SeccompDefault},
		Network: spec.Network{Mode: spec.NetworkNone},
		Mounts:  []spec.Mount{{Type: spec.MountBind, Source: os.Getenv("RW_SOURCE"), Target: "/rw"}},
	}
	if os.Getenv("NUCLEUS_TEST_DYNAMIC") != "" {
		// As in TestDirectoryRootfs: a cgo test binary needs the host's
		// loader and libc in the rootfs.
		s.Mounts = append(s.Mounts,
			spec.Mount{Type: spec.MountBind, Source: "/lib64", Target: "/lib64", ReadOnly: true},
			spec.Mount{Type: spec.MountBind, Source: "/usr/lib", Target: "/lib", ReadOnly: true})
	}
	return runFromHelper(s)
}

// runFromHelper runs s from a helper process (the container inherits its
// stdio) and returns the status the helper exits with: 0, 125 when the
// container did not start, 1 when it failed.
func runFromHelper(s *spec.Spec) int {
	c, err := sandbox.Start(s, sandbox.Options{})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 125
	}
	if st, err := c.Wait(); st != 0 || err != nil {
		os.Stderr.WriteString("container: status " + itoa(st) + "\n")
		return 1
	}
	return 0
}

// TestMasksNeedTheirSource: the /proc masks are bound from the host's
// /dev/null; where it is missing the start fails, naming the mask, rather
// than taking the missing source for a /proc file this kernel lacks and
// leaving kallsyms, keys & co. readable. The host side is a helper's
// private mount namespace with an empty tmpfs on /dev.
func TestMasksNeedTheirSource(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), submountHelperEnv+"=no-dev-null")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "mask /proc/") {
		t.Fatalf("start without the host's /dev/null: err %v, output %q; want a failed start naming a /proc mask", err, out)
	}
}

// noDevNullHelper hides the host's /dev (an empty tmpfs on it, in this
// process's private mount namespace) and starts a container.
func noDevNullHelper() int {
	if err := syscall.Mount("tmpfs", "/dev", "tmpfs", 0, "size=64k"); err != nil {
		os.Stderr.WriteString("mount tmpfs on /dev: " + err.Error() + "\n")
		return 2
	}
	s := &spec.Spec{
		Name: "sbnodevnull",
		Exec: spec.Exec{Command: []string{"/bin/true"}, Workdir: "/"},
		Isolation: spec.Isolation{Runtime: spec.RuntimeNative, ReadOnly: true, Namespaces: spec.DefaultNamespaces,
			UserNamespace: spec.UserNSHost, Seccomp: spec.SeccompDefault},
		Network: spec.Network{Mode: spec.NetworkNone},
	}
	c, err := sandbox.Start(s, sandbox.Options{})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 125
	}
	st, _ := c.Wait()
	os.Stderr.WriteString("started, status " + itoa(st) + "\n")
	return 0
}

// TestMountLayout pins the container's whole mount tree as the workload
// sees it in /proc/self/mountinfo: every mount point, its per-mount flags
// (ro, nosuid, nodev, noexec), its filesystem type and, for binds of a
// device node or a masking tmpfs, what is bound. A change to how the tree
// is built (fewer syscalls, another API) must leave this unchanged.
// Host-dependent details (the host view's filesystems, sizes, atime
// options, mount ids) are left out.
func TestMountLayout(t *testing.T) {
	data := hostDir(t, "f", "x")
	cases := []struct {
		name   string
		mutate func(*spec.Spec)
	}{
		{"default", func(*spec.Spec) {}},
		{"writable-root-mounts", func(s *spec.Spec) {
			s.Isolation.ReadOnly = false
			s.Mounts = []spec.Mount{
				{Type: spec.MountBind, Source: data, Target: "/data"},
				{Type: spec.MountBind, Source: data, Target: "/config", ReadOnly: true},
				{Type: spec.MountBind, Source: data + "/f", Target: "/etc-f", ReadOnly: true},
				{Type: spec.MountTmpfs, Target: "/cache", Size: 1 << 20},
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpec(t, "/bin/busybox", "cat", "/proc/self/mountinfo")
			tc.mutate(s)
			r := run(t, s)
			if r.status != 0 {
				t.Fatalf("status %d stderr %q", r.status, r.stderr)
			}
			got := normalizeMountinfo(t, r.stdout)
			golden.Check(t, filepath.Join("testdata", tc.name+".mounts"), []byte(got))
		})
	}
}

// normalizeMountinfo turns mountinfo into sorted lines "POINT FLAGS TYPE
// [ROOT]": FLAGS are the per-mount ro/rw, nosuid, nodev, noexec; TYPE is
// "host" for the host view (any filesystem); ROOT is kept for the
// filesystems nucleus creates or binds from (/dev nodes, masks).
func normalizeMountinfo(t *testing.T, mountinfo string) string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(mountinfo), "\n") {
		f := strings.Fields(l)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+1 >= len(f) {
			t.Fatalf("bad mountinfo line %q", l)
		}
		root, point, opts, fstype := f[3], f[4], f[5], f[sep+1]
		var keep []string
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "ro", "rw", "nosuid", "nodev", "noexec":
				keep = append(keep, o)
			}
		}
		out := point + " " + strings.Join(keep, ",")
		switch {
		case isHostView(point):
			out += " host"
		case fstype == "proc" || fstype == "sysfs" || fstype == "devpts":
			out += " " + fstype + " " + root
		case fstype == "tmpfs" && (strings.HasPrefix(point, "/proc/") || strings.HasPrefix(point, "/sys/")):
			out += " tmpfs(mask)"
		case strings.HasPrefix(point, "/dev/") && root != "/":
			out += " bind:" + root // a host device node (or /dev/null as a mask)
		case strings.HasPrefix(point, "/proc/"):
			out += " bind:" + root
		default:
			out += " " + fstype
		}
		lines = append(lines, out)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func isHostView(point string) bool {
	for _, d := range []string{"/usr", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin"} {
		if point == d || strings.HasPrefix(point, d+"/") {
			return true
		}
	}
	return false
}

// TestHostSubmountReadOnly: a filesystem mounted below a host-view
// directory (here a tmpfs on /usr/local, as a container engine binds
// /etc/resolv.conf or an admin mounts /usr/local) is read-only, nosuid and
// nodev inside like the directory itself. The host side is a private mount
// namespace of a helper process, so the host is never changed.
func TestHostSubmountReadOnly(t *testing.T) {
	if fi, err := os.Stat("/usr/local"); err != nil || !fi.IsDir() {
		t.Fatalf("/usr/local: %v (the test mounts a tmpfs there, in a private mount namespace)", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), submountHelperEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	got := parseOutcomes(string(out))
	for _, p := range []string{"/usr/local/new", "/usr/new"} {
		if got[p] != "EROFS" {
			t.Errorf("write %s: %q, want EROFS\n%s", p, got[p], out)
		}
	}
	flags := ""
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 5 && f[4] == "/usr/local" {
			flags = f[5]
		}
	}
	for _, want := range []string{"ro", "nosuid", "nodev"} {
		if !hasOption(flags, want) {
			t.Errorf("/usr/local inside has flags %q, want %s", flags, want)
		}
	}
}

func hasOption(opts, o string) bool {
	for _, x := range strings.Split(opts, ",") {
		if x == o {
			return true
		}
	}
	return false
}

// submountHelper runs in a private mount namespace (TestHostSubmountReadOnly):
// it mounts a writable tmpfs on /usr/local and runs a container that tries
// to write below it and prints its mountinfo.
func submountHelper() int {
	if err := syscall.Mount("tmpfs", "/usr/local", "tmpfs", 0, "size=64k"); err != nil {
		os.Stderr.WriteString("mount tmpfs on /usr/local: " + err.Error() + "\n")
		return 1
	}
	exe, err := os.Executable()
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	s := &spec.Spec{
		Name: "sbsubmount",
		Exec: spec.Exec{Command: []string{probeBin, "/usr/local/new", "/usr/new"}, Workdir: "/",
			Environment: map[string]string{probeEnv: "write"}},
		Isolation: spec.Isolation{Runtime: spec.RuntimeNative, ReadOnly: true, Namespaces: spec.DefaultNamespaces,
			UserNamespace: spec.UserNSHost, Seccomp: spec.SeccompDefault},
		Network: spec.Network{Mode: spec.NetworkNone},
		Mounts:  []spec.Mount{{Type: spec.MountBind, Source: exe, Target: probeBin, ReadOnly: true}},
	}
	for _, argv := range [][]string{s.Exec.Command, {"/bin/busybox", "cat", "/proc/self/mountinfo"}} {
		s.Exec.Command = argv
		if status := runFromHelper(s); status != 0 {
			return status
		}
	}
	return 0
}

// TestDevNodes: the container's /dev has the usual character devices,
// mode 0666, whether init mknods them (host uids) or binds the host's
// (user namespace, where mknod is not allowed), and they work. init clears
// its umask to create them; the workload still gets the supervisor's.
func TestDevNodes(t *testing.T) {
	umask := syscall.Umask(0o027)
	defer syscall.Umask(umask)
	want := "/dev/null character special file 1:3 666\n" +
		"/dev/zero character special file 1:5 666\n" +
		"/dev/full character special file 1:7 666\n" +
		"/dev/random character special file 1:8 666\n" +
		"/dev/urandom character special file 1:9 666\n" +
		"/dev/tty character special file 5:0 666\n" +
		"4 zero bytes\numask 0027\n"
	script := `busybox stat -c "%n %F %t:%T %a" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty &&
echo discarded >/dev/null && echo "$(busybox head -c 4 /dev/zero | busybox wc -c) zero bytes" && echo "umask $(umask)"`
	for _, userns := range []spec.UserNamespaceMode{spec.UserNSHost, spec.UserNSAuto} {
		t.Run(string(userns), func(t *testing.T) {
			s := newSpec(t, "/bin/busybox", "sh", "-c", script)
			s.Isolation.UserNamespace = userns
			r := run(t, s)
			if r.status != 0 || r.stdout != want {
				t.Errorf("status %d stderr %q\n got %q\nwant %q", r.status, r.stderr, r.stdout, want)
			}
		})
	}
}
