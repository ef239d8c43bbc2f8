package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// The layout is built bubblewrap-style: inside init's private mount
// namespace a tmpfs ("base") is mounted over /tmp and pivoted to, so the host
// tree sits at /oldroot and every host source is reached as /oldroot+path
// (a source under the host's /tmp stays reachable). The container root is
// assembled at /newroot, then pivoted to, and base and oldroot are detached.
const (
	baseMountpoint = "/tmp"
	oldRoot        = "/oldroot"
	newRoot        = "/newroot"
)

// Paths under /proc replaced by /dev/null (files) or an empty read-only
// tmpfs (directories): kernel memory, addresses, keyrings and debug state.
var (
	procMaskedFiles = []string{"kcore", "kallsyms", "kmsg", "keys", "key-users", "timer_list", "timer_stats",
		"sched_debug", "latency_stats", "config.gz", "pagetypeinfo", "vmallocinfo"}
	procMaskedDirs = []string{"acpi", "asound", "scsi", "driver"}
	// Bound read-only onto themselves.
	procReadOnly  = []string{"sys", "bus", "fs", "irq", "sysrq-trigger"}
	sysMaskedDirs = []string{"firmware", "devices/virtual/powercap", "kernel/security"}
	// The character devices of the container's /dev, with their fixed
	// numbers (Documentation/admin-guide/devices.txt); all mode 0666.
	devNodes = []struct {
		name         string
		major, minor uint32
	}{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}}
	mountFlagsKeep = uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
)

// procFlags are the container's /proc mount flags.
const procFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// logf is where init's setup diagnostics go (stderr: the journal).
type logf func(format string, args ...any)

// setupFilesystem builds the container's mount tree at /newroot, up to and
// including the [[mount]] entries (credentials and enterRoot follow). It
// runs in init, in the new mount namespace, before anything of the
// workload exists. Any error leaves nothing behind on the host: every mount
// lives in this private namespace and dies with it.
func setupFilesystem(p *plan, log logf) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("tmpfs", baseMountpoint, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("staging tmpfs on %s: %w", baseMountpoint, err)
	}
	for _, d := range []string{baseMountpoint + oldRoot, baseMountpoint + newRoot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("staging: %w", err)
		}
	}
	if err := unix.PivotRoot(baseMountpoint, baseMountpoint+oldRoot); err != nil {
		return fmt.Errorf("pivot_root to staging: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}

	if err := mountRoot(p); err != nil {
		return err
	}
	var masks masker
	if err := mountProc(p, &masks, log); err != nil {
		return err
	}
	mountSys(p, &masks, log)
	if err := mountDev(p); err != nil {
		return err
	}
	for _, t := range []struct{ dir, opts string }{{"/tmp", "mode=1777"}, {"/run", "mode=0755"}} {
		dst, err := topMountpoint(p, t.dir)
		if err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, t.opts); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", t.dir, err)
		}
	}
	if p.Notify != "" {
		if err := bindMount(p.Notify, workload.NotifySocket, true, true, oldRoot); err != nil {
			return fmt.Errorf("notify socket: %w", err)
		}
	}
	for _, m := range p.Mounts {
		var err error
		switch m.Type {
		case spec.MountBind:
			err = bindMount(m.Source, m.Target, m.IsFile, m.ReadOnly, oldRoot)
		case spec.MountTmpfs:
			err = tmpfsMount(m)
		}
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
	}
	return nil
}

// enterRoot finishes the container root (read-only when asked), detaches
// the host tree and pivots into /newroot. Everything mounted into the
// container (credentials included) must be in place before.
func enterRoot(p *plan) error {
	if err := finishRoot(p); err != nil {
		return err
	}

	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	// pivot_root(".", ".") stacks the staging root on top of the new one;
	// detaching "." then removes it together with everything mounted
	// below it (the host tree at /oldroot, the credentials' tmpfs),
	// leaving no path back to the host. One detach for all: each umount
	// waits for an expedited RCU grace period (synchronize_rcu_expedited
	// in namespace_unlock), IPIs to every CPU, costly in a VM.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach staging root and host tree: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// mountRoot creates /newroot: a fresh tmpfs with the host view, or the
// directory rootfs bound in.
func mountRoot(p *plan) error {
	if p.Rootfs != "" {
		if err := unix.Mount(oldRoot+p.Rootfs, newRoot, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("rootfs %s: %w", p.Rootfs, err)
		}
		return restrictRootfsTree(p)
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	for _, e := range p.HostView {
		dst := newRoot + e.Path
		if e.Symlink != "" {
			if err := unix.Symlink(e.Symlink, dst); err != nil {
				return fmt.Errorf("host view %s: %w", e.Path, err)
			}
			continue
		}
		if err := unix.Mkdir(dst, 0o755); err != nil {
			return fmt.Errorf("host view %s: %w", e.Path, err)
		}
		if err := unix.Mount(oldRoot+e.Path, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("host view %s: %w", e.Path, err)
		}
		// The whole bound tree, not only its top: a host filesystem
		// mounted below (/usr/local, an /etc/resolv.conf bound in by a
		// container engine) must not stay writable inside.
		if err := setTreeReadOnly(dst); err != nil {
			return fmt.Errorf("host view %s read-only: %w", e.Path, err)
		}
	}
	return nil
}

// restrictRootfsTree gives the file systems mounted below a directory
// rootfs on the host (they come along with MS_REC) the root's nosuid and
// nodev, and its read-only with read_only. It runs before anything of the
// container's own is mounted below the root, so it can apply to the whole
// tree at once; the top is left writable for the mount targets still to be
// created in it, and finishRoot makes it read-only at the end.
func restrictRootfsTree(p *plan) error {
	attr := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if p.ReadOnly {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	if err := setMountAttr(newRoot, attr, true); err != nil {
		return fmt.Errorf("rootfs %s: submounts: %w", p.Rootfs, err)
	}
	if !p.ReadOnly {
		return nil
	}
	err := unix.MountSetattr(unix.AT_FDCWD, newRoot, unix.AT_SYMLINK_NOFOLLOW, &unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY})
	if err == unix.ENOSYS {
		err = remount(newRoot, unix.MS_NOSUID|unix.MS_NODEV)
	}
	if err != nil {
		return fmt.Errorf("rootfs %s: writable until its mount targets exist: %w", p.Rootfs, err)
	}
	return nil
}

// finishRoot makes the root itself read-only (when asked) once every
// mountpoint in it has been created.
func finishRoot(p *plan) error {
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if p.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if p.Rootfs == "" {
		if err := unix.Mount("", newRoot, "", unix.MS_REMOUNT|flags, ""); err != nil {
			return fmt.Errorf("root tmpfs read-only: %w", err)
		}
		return nil
	}
	if err := remount(newRoot, flags); err != nil {
		return fmt.Errorf("rootfs read-only: %w", err)
	}
	return nil
}

func mountProc(p *plan, masks *masker, log logf) error {
	dst, err := topMountpoint(p, "/proc")
	if err != nil {
		return err
	}
	// proc is mounted while the host's /proc is still attached at /oldroot:
	// in a user namespace the kernel only allows a new proc mount when a
	// fully visible one exists in the mount namespace.
	if err := unix.Mount("proc", dst, "proc", procFlags, ""); err != nil {
		return fmt.Errorf("proc: %w", err)
	}
	// Before /proc/sys goes read-only below.
	if p.PidNS {
		if err := memfdNoexec(dst, p.UserNS, log); err != nil {
			return err
		}
	} else {
		log("vm.memfd_noexec: not set without a pid namespace (it would change the host's): memfds stay executable")
	}
	// Each entry is tried directly: one mount(2) per path, ENOENT meaning
	// the kernel has no such file (kcore without CONFIG_PROC_KCORE, ...),
	// which is checked then: a missing source must not pass for it.
	for _, f := range procMaskedFiles {
		path := dst + "/" + f
		err := unix.Mount(oldRoot+"/dev/null", path, "", unix.MS_BIND, "")
		if err == unix.ENOENT {
			var st unix.Stat_t
			if unix.Lstat(path, &st) == unix.ENOENT {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("mask /proc/%s: %w", f, err)
		}
	}
	for _, d := range procMaskedDirs {
		if err := masks.dir(dst + "/" + d); err != nil {
			return fmt.Errorf("mask /proc/%s: %w", d, err)
		}
	}
	for _, f := range procReadOnly {
		path := dst + "/" + f
		err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, "")
		if err == unix.ENOENT {
			continue // source and target: the kernel has no such entry
		}
		if err != nil {
			return fmt.Errorf("/proc/%s read-only: %w", f, err)
		}
		// The flags of the proc mount above, plus read-only: a bind
		// remount replaces all of them.
		if err := unix.Mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND|procFlags|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("/proc/%s read-only: %w", f, err)
		}
	}
	return nil
}

// memfdNoexec sets vm.memfd_noexec = 2 in the container's pid namespace
// (the sysctl is per pid namespace and applies to the writer's): no memfd
// created inside can ever be executed, and asking for an executable one
// (MFD_EXEC) fails. Landlock does not cover memfds (they have no path
// under its rules), so without this a workload could write a program
// into a memfd and run it through /proc/self/fd/N despite the execute
// rules. Kernels before 6.3 have no such sysctl: that is logged, not fatal.
// Neither is a refusal in a user namespace (user_namespace = "auto"): the
// kernel lets only the host's root (global uid 0) write a sysctl file, and
// init is an unprivileged host uid there.
func memfdNoexec(procDir string, userNS bool, log logf) error {
	err := writeFile(procDir+"/sys/vm/memfd_noexec", "2\n")
	if errors.Is(err, os.ErrNotExist) {
		log("vm.memfd_noexec: not in this kernel (added in 6.3): memfds stay executable")
		return nil
	}
	if userNS && errors.Is(err, os.ErrPermission) {
		log("vm.memfd_noexec: cannot be set in a user namespace (%v): memfds stay executable", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("vm.memfd_noexec = 2: %w", err)
	}
	return nil
}

// mountSys mounts a read-only sysfs. The kernel refuses sysfs to a user
// namespace that does not own the network namespace (user_namespace = auto
// with network = host); then the container has an empty /sys, which is
// logged rather than fatal because nothing in the spec asks for /sys.
func mountSys(p *plan, masks *masker, log logf) {
	dst, err := topMountpoint(p, "/sys")
	if err != nil {
		log("no /sys: %v", err)
		return
	}
	if err := unix.Mount("sysfs", dst, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		log("no /sys (sysfs: %v)", err)
		return
	}
	for _, d := range sysMaskedDirs {
		if err := masks.dir(dst + "/" + d); err != nil {
			log("mask /sys/%s: %v", d, err)
		}
	}
}

// mountDev builds a minimal /dev: the harmless character devices
// (makeDevNodes: created, or the host's bound in a user namespace), a
// private devpts, /dev/shm and the usual symlinks. The tmpfs is read-only
// afterwards.
func mountDev(p *plan) error {
	dst, err := topMountpoint(p, "/dev")
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("/dev tmpfs: %w", err)
	}
	if err := makeDevNodes(dst, p.UserNS); err != nil {
		return err
	}
	for _, d := range []string{"pts", "shm"} {
		if err := unix.Mkdir(dst+"/"+d, 0o755); err != nil {
			return fmt.Errorf("/dev/%s: %w", d, err)
		}
	}
	if err := unix.Mount("devpts", dst+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("/dev/pts: %w", err)
	}
	if err := unix.Mount("tmpfs", dst+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777"); err != nil {
		return fmt.Errorf("/dev/shm: %w", err)
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	for _, l := range links {
		if err := unix.Symlink(l[0], dst+"/"+l[1]); err != nil {
			return fmt.Errorf("/dev/%s: %w", l[1], err)
		}
	}
	if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("/dev read-only: %w", err)
	}
	return nil
}

// makeDevNodes creates the devNodes in dir (the container's /dev tmpfs).
// With the host's root it mknods them: one system call each and no mount
// to set up and tear down. In a user namespace (no CAP_MKNOD there), or
// where mknod is refused (a devices cgroup, a host without CAP_MKNOD), it
// binds the host's node onto an empty file instead.
func makeDevNodes(dir string, userNS bool) error {
	mknod := !userNS
	if mknod {
		// The nodes are 0666 whatever init's umask; the umask is put
		// back before anything else is created (the workload inherits it).
		old := unix.Umask(0)
		defer unix.Umask(old)
	}
	for _, n := range devNodes {
		path := dir + "/" + n.name
		if mknod {
			err := unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor)))
			if err == nil {
				continue
			}
			if err != unix.EPERM {
				return fmt.Errorf("/dev/%s: %w", n.name, err)
			}
			mknod = false // and bind from now on
		}
		// An empty regular file to bind the node onto (mknod of a
		// regular file needs no privilege, also in a user namespace).
		if err := unix.Mknod(path, unix.S_IFREG|0o644, 0); err != nil {
			return fmt.Errorf("/dev/%s: %w", n.name, err)
		}
		if err := unix.Mount(oldRoot+"/dev/"+n.name, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("/dev/%s: %w", n.name, err)
		}
	}
	return nil
}

// bindMount binds a path at target inside the container, nosuid and nodev,
// read-only when asked. The source is prefix+path: oldRoot for a host path
// (as seen before pivot_root), "" for a path of the staging root.
func bindMount(path, target string, isFile, readOnly bool, prefix string) error {
	dst, err := mountpoint(target, isFile)
	if err != nil {
		return err
	}
	if err := unix.Mount(prefix+path, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", path, err)
	}
	attr := uint64(unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV)
	if readOnly {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	if err := setMountAttr(dst, attr, false); err != nil {
		return fmt.Errorf("remount %s: %w", target, err)
	}
	return nil
}

func tmpfsMount(m mountStep) error {
	dst, err := mountpoint(m.Target, false)
	if err != nil {
		return err
	}
	opts := "mode=0755"
	if m.Size > 0 {
		opts += ",size=" + strconv.FormatInt(m.Size, 10)
	}
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if m.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("tmpfs", dst, "tmpfs", flags, opts); err != nil {
		return fmt.Errorf("tmpfs: %w", err)
	}
	return nil
}

// masker hides directories under one empty read-only tmpfs: the first
// masked directory gets a new one, every later one a bind of it (a bind
// keeps the read-only, nosuid, nodev, noexec flags of its source mount).
// One superblock instead of one per directory, set up and torn down at
// every start.
type masker struct{ first string }

// dir masks path; a path that does not exist on this kernel, or is not a
// directory, is left alone.
func (m *masker) dir(path string) error {
	var err error
	if m.first == "" {
		err = unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=0555")
	} else {
		err = unix.Mount(m.first, path, "", unix.MS_BIND, "")
	}
	switch err {
	case nil:
		if m.first == "" {
			m.first = path
		}
		return nil
	case unix.ENOENT, unix.ENOTDIR:
		return nil // absent on this kernel: nothing to hide
	}
	return err
}

// remount applies flags to an existing (bind) mount, keeping the atime and
// nosuid/nodev/noexec flags it already has: the kernel refuses to clear
// those on mounts it locked (from a less privileged namespace).
func remount(path string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	keep := uintptr(st.Flags) & mountFlagsKeep
	return unix.Mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND|flags|keep, "")
}

// setTreeReadOnly makes the mount at path and every mount below it
// read-only, nosuid and nodev.
func setTreeReadOnly(path string) error {
	return setMountAttr(path, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, true)
}

// setMountAttr sets attr (MOUNT_ATTR_* flags) on the mount at path, and on
// every mount below it when recursive, with one mount_setattr(2): no
// statfs and no remount per mount, and flags the kernel locked (from a
// less privileged namespace) are never cleared because nothing is
// cleared. Kernels before 5.12 lack it (ENOSYS): there the same is done
// with one bind remount per mount, the mounts below found in
// /proc/thread-self/mountinfo.
func setMountAttr(path string, attr uint64, recursive bool) error {
	flags := uint(unix.AT_SYMLINK_NOFOLLOW)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(unix.AT_FDCWD, path, flags, &unix.MountAttr{Attr_set: attr})
	if err != unix.ENOSYS {
		return err
	}
	return remountAttr(path, attr, recursive)
}

// remountAttr is setMountAttr without mount_setattr(2).
func remountAttr(path string, attr uint64, recursive bool) error {
	var flags uintptr
	for _, f := range [...]struct {
		attr uint64
		ms   uintptr
	}{{unix.MOUNT_ATTR_RDONLY, unix.MS_RDONLY}, {unix.MOUNT_ATTR_NOSUID, unix.MS_NOSUID},
		{unix.MOUNT_ATTR_NODEV, unix.MS_NODEV}, {unix.MOUNT_ATTR_NOEXEC, unix.MS_NOEXEC}} {
		if attr&f.attr != 0 {
			flags |= f.ms
		}
	}
	points := []string{path}
	if recursive {
		below, err := mountsBelow(path)
		if err != nil {
			return err
		}
		points = append(points, below...)
	}
	for _, p := range points {
		if err := remount(p, flags); err != nil {
			return fmt.Errorf("remount %s: %w", p, err)
		}
	}
	return nil
}

// mountsBelow lists the mount points strictly below dir (an absolute,
// clean path) in this mount namespace, parents before children.
func mountsBelow(dir string) ([]string, error) {
	// thread-self: a mount namespace can be per thread (unshare). In init
	// the staging root has no /proc: the host's is at /oldroot/proc (it
	// lists this thread too, with its mount points relative to our root).
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if errors.Is(err, os.ErrNotExist) {
		b, err = os.ReadFile(oldRoot + "/proc/thread-self/mountinfo")
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMountinfo(f[4])
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out, nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// writeFile writes s to an existing file with three system calls
// (os.WriteFile also registers the file with the runtime's poller).
func writeFile(path, s string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	_, err = unix.Write(fd, []byte(s))
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// topMountpoint creates the mount point of one of the container's own
// top-level directories (/proc, /sys, /dev, /tmp, /run). In the fresh
// tmpfs root of rootfs = "" nothing can be in the way (the host view is
// /usr, /etc, /lib*, /bin, /sbin only), so a plain mkdir does, without
// resolving the path component by component; a directory rootfs goes
// through mountpoint and its symlink-safe resolution.
func topMountpoint(p *plan, dir string) (string, error) {
	if p.Rootfs == "" {
		dst := newRoot + dir
		if err := unix.Mkdir(dst, 0o755); err == nil {
			return dst, nil
		}
	}
	return mountpoint(dir, false)
}

// mountpoint returns the staging path for a container path, creating the
// directory (or empty file) to mount on. The path is resolved inside
// /newroot with securejoin, so a symlink in a directory rootfs cannot point
// a mount outside the container.
func mountpoint(target string, isFile bool) (string, error) {
	if !filepath.IsAbs(target) {
		return "", fmt.Errorf("mount target %q is not absolute", target)
	}
	dst, err := securejoin.SecureJoin(newRoot, target)
	if err != nil {
		return "", fmt.Errorf("resolve %s in root: %w", target, err)
	}
	fi, err := os.Stat(dst)
	switch {
	case err == nil:
		if isFile == fi.IsDir() {
			kind := "a directory"
			if isFile {
				kind = "a file"
			}
			return "", fmt.Errorf("mount target %s must be %s", target, kind)
		}
		return dst, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("mount target %s: %w", target, err)
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create mount target %s: %w", target, err)
	}
	if isFile {
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return "", fmt.Errorf("create mount target %s: %w", target, err)
		}
		f.Close()
	} else if err := os.Mkdir(dst, 0o755); err != nil {
		return "", fmt.Errorf("create mount target %s: %w", target, err)
	}
	return dst, nil
}

// credentialsStaging is where the credentials' tmpfs is mounted in the
// staging root; it is detached with the staging root, leaving only the
// per-file binds inside the container.
const credentialsStaging = "/credentials"

// readCredentials reads each credential from the descriptor the supervisor
// opened for it, and closes the descriptor (the workload must not inherit
// it).
func readCredentials(creds []credentialStep) ([][]byte, error) {
	out := make([][]byte, len(creds))
	for i, c := range creds {
		f := os.NewFile(uintptr(c.FD), c.Name)
		if f == nil {
			return nil, fmt.Errorf("credential %s: descriptor %d not passed", c.Name, c.FD)
		}
		b, err := workload.ReadCredential(f, c.Source)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("credential %s: %w", c.Name, err)
		}
		out[i] = b
	}
	return out, nil
}

// mountCredentials puts each credential at its target as a read-only file
// that only the workload's user can read: a copy, mode 0400, owned by
// uid:gid (ids of the container, so under user_namespace = "auto" the
// namespace maps them), in a private tmpfs that is then made read-only;
// each file is bound from there, nosuid, nodev, noexec, read-only. The
// source (under systemd a root-owned 0400 file in
// $CREDENTIALS_DIRECTORY) is never bound or changed.
func mountCredentials(creds []credentialStep, content [][]byte, uid, gid uint32) error {
	if len(creds) == 0 {
		return nil
	}
	size := int64(0)
	for _, b := range content {
		size += (int64(len(b))/4096 + 1) * 4096
	}
	if err := os.Mkdir(credentialsStaging, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	opts := fmt.Sprintf("mode=0700,size=%d,nr_inodes=%d", size, len(creds)+1)
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount("tmpfs", credentialsStaging, "tmpfs", flags, opts); err != nil {
		return fmt.Errorf("credentials: tmpfs: %w", err)
	}
	for i, c := range creds {
		path := credentialsStaging + "/" + strconv.Itoa(i)
		if err := writeCredential(path, content[i], uid, gid); err != nil {
			return fmt.Errorf("credential %s: %w", c.Name, err)
		}
	}
	if err := unix.Mount("", credentialsStaging, "", unix.MS_REMOUNT|unix.MS_RDONLY|flags, ""); err != nil {
		return fmt.Errorf("credentials: tmpfs read-only: %w", err)
	}
	for i, c := range creds {
		if err := bindMount(credentialsStaging+"/"+strconv.Itoa(i), c.Target, true, true, ""); err != nil {
			return fmt.Errorf("credential %s: %w", c.Name, err)
		}
	}
	return nil
}

func writeCredential(path string, b []byte, uid, gid uint32) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|unix.O_NOFOLLOW, 0o400)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := f.Chown(int(uid), int(gid)); err != nil {
		return fmt.Errorf("chown to %d:%d: %w", uid, gid, err)
	}
	if err := f.Chmod(0o400); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return f.Close()
}
