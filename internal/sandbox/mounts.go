package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

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
	procReadOnly   = []string{"sys", "bus", "fs", "irq", "sysrq-trigger"}
	sysMaskedDirs  = []string{"firmware", "devices/virtual/powercap", "kernel/security"}
	devNodes       = []string{"null", "zero", "full", "random", "urandom", "tty"}
	mountFlagsKeep = uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
)

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
	if err := mountProc(p, log); err != nil {
		return err
	}
	mountSys(log)
	if err := mountDev(); err != nil {
		return err
	}
	for _, t := range []struct{ dir, opts string }{{"/tmp", "mode=1777"}, {"/run", "mode=0755"}} {
		dst, err := mountpoint(t.dir, false)
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

	if err := unix.Unmount(oldRoot, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach host root: %w", err)
	}
	if err := unix.Chdir(newRoot); err != nil {
		return fmt.Errorf("chdir to new root: %w", err)
	}
	// pivot_root(".", ".") stacks the staging root on top of the new one;
	// detaching "." then removes it, leaving no path back to the host.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach staging root: %w", err)
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
		return nil
	}
	if err := unix.Mount("tmpfs", newRoot, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=1m"); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	for _, e := range p.HostView {
		dst := newRoot + e.Path
		if e.Symlink != "" {
			if err := os.Symlink(e.Symlink, dst); err != nil {
				return fmt.Errorf("host view %s: %w", e.Path, err)
			}
			continue
		}
		if err := os.Mkdir(dst, 0o755); err != nil {
			return fmt.Errorf("host view %s: %w", e.Path, err)
		}
		if err := unix.Mount(oldRoot+e.Path, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("host view %s: %w", e.Path, err)
		}
		if err := remount(dst, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
			return fmt.Errorf("host view %s read-only: %w", e.Path, err)
		}
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

func mountProc(p *plan, log logf) error {
	dst, err := mountpoint("/proc", false)
	if err != nil {
		return err
	}
	// proc is mounted while the host's /proc is still attached at /oldroot:
	// in a user namespace the kernel only allows a new proc mount when a
	// fully visible one exists in the mount namespace.
	if err := unix.Mount("proc", dst, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
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
	for _, f := range procMaskedFiles {
		path := dst + "/" + f
		if _, err := os.Lstat(path); err != nil {
			continue
		}
		if err := unix.Mount(oldRoot+"/dev/null", path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("mask /proc/%s: %w", f, err)
		}
	}
	for _, d := range procMaskedDirs {
		if err := maskDir(dst + "/" + d); err != nil {
			return fmt.Errorf("mask /proc/%s: %w", d, err)
		}
	}
	for _, f := range procReadOnly {
		path := dst + "/" + f
		if _, err := os.Lstat(path); err != nil {
			continue
		}
		if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("/proc/%s read-only: %w", f, err)
		}
		if err := remount(path, unix.MS_RDONLY); err != nil {
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
	err := os.WriteFile(procDir+"/sys/vm/memfd_noexec", []byte("2\n"), 0)
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
func mountSys(log logf) {
	dst, err := mountpoint("/sys", false)
	if err != nil {
		log("no /sys: %v", err)
		return
	}
	if err := unix.Mount("sysfs", dst, "sysfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		log("no /sys (sysfs: %v)", err)
		return
	}
	for _, d := range sysMaskedDirs {
		if err := maskDir(dst + "/" + d); err != nil {
			log("mask /sys/%s: %v", d, err)
		}
	}
}

// mountDev builds a minimal /dev: the host's harmless character devices
// bound in (works in a user namespace, where mknod does not), a private
// devpts, /dev/shm and the usual symlinks. The tmpfs is read-only
// afterwards.
func mountDev() error {
	dst, err := mountpoint("/dev", false)
	if err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=64k"); err != nil {
		return fmt.Errorf("/dev tmpfs: %w", err)
	}
	for _, n := range devNodes {
		path := dst + "/" + n
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			return fmt.Errorf("/dev/%s: %w", n, err)
		}
		if err := unix.Mount(oldRoot+"/dev/"+n, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("/dev/%s: %w", n, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(dst+"/"+d, 0o755); err != nil {
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
		if err := os.Symlink(l[0], dst+"/"+l[1]); err != nil {
			return fmt.Errorf("/dev/%s: %w", l[1], err)
		}
	}
	if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("/dev read-only: %w", err)
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
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	if readOnly {
		flags |= unix.MS_RDONLY
	}
	if err := remount(dst, flags); err != nil {
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

// maskDir hides a directory under an empty read-only tmpfs.
func maskDir(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return nil // absent on this kernel: nothing to hide
	}
	return unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=0555")
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
