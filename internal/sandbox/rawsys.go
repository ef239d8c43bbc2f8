package sandbox

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The mount-tree calls of init's setup, made as raw system calls.
//
// A Go system call (syscall.Syscall) tells the scheduler that the thread
// may block: init runs with one P (GOMAXPROCS=1), so when such a call
// lasts longer than a sysmon tick (20 µs; a mount often does, an umount
// waits for an RCU grace period) sysmon takes the P away and hands it to
// another thread, creating one if none is idle, and the caller then has
// to wait for a P on its way out: two to four context switches and
// sometimes a new thread, for nothing, since init has no other goroutine
// to run while it builds the filesystem. A raw call keeps the P; these
// calls never wait for anything in user space (no pipe, socket, or other
// process), so holding it for their duration blocks nobody.

// atFDCWDArg is AT_FDCWD (-100) as a system call argument.
var atFDCWDArg = uintptr(atFDCWD)

func rawErr(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

// cstr is s as a NUL-terminated C string (nil for "" when nilEmpty).
func cstr(s string, nilEmpty bool) (*byte, error) {
	if s == "" && nilEmpty {
		return nil, nil
	}
	return unix.BytePtrFromString(s)
}

// mount is unix.Mount as a raw call (data "" is passed as NULL, as
// unix.Mount does).
func mount(source, target, fstype string, flags uintptr, data string) error {
	src, err := cstr(source, false)
	if err != nil {
		return err
	}
	dst, err := cstr(target, false)
	if err != nil {
		return err
	}
	typ, err := cstr(fstype, false)
	if err != nil {
		return err
	}
	dat, err := cstr(data, true)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(src)), uintptr(unsafe.Pointer(dst)),
		uintptr(unsafe.Pointer(typ)), flags, uintptr(unsafe.Pointer(dat)), 0)
	return rawErr(e)
}

// pathCall makes a raw call whose first argument is a path.
func pathCall(trap uintptr, path string, a1, a2 uintptr) error {
	p, err := cstr(path, false)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(trap, uintptr(unsafe.Pointer(p)), a1, a2)
	return rawErr(e)
}

// atCall makes a raw *at call relative to the working directory.
func atCall(trap uintptr, path string, a2, a3 uintptr) error {
	p, err := cstr(path, false)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall6(trap, atFDCWDArg, uintptr(unsafe.Pointer(p)), a2, a3, 0, 0)
	return rawErr(e)
}

func mkdir(path string, mode uint32) error {
	return atCall(unix.SYS_MKDIRAT, path, uintptr(mode), 0)
}

func mknodAt(path string, mode uint32, dev int) error {
	return atCall(unix.SYS_MKNODAT, path, uintptr(mode), uintptr(dev))
}

func symlink(oldpath, newpath string) error {
	o, err := cstr(oldpath, false)
	if err != nil {
		return err
	}
	n, err := cstr(newpath, false)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(unix.SYS_SYMLINKAT, uintptr(unsafe.Pointer(o)), atFDCWDArg, uintptr(unsafe.Pointer(n)))
	return rawErr(e)
}

func pivotRoot(newroot, putold string) error {
	n, err := cstr(newroot, false)
	if err != nil {
		return err
	}
	o, err := cstr(putold, false)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall(unix.SYS_PIVOT_ROOT, uintptr(unsafe.Pointer(n)), uintptr(unsafe.Pointer(o)), 0)
	return rawErr(e)
}

func unmount(target string, flags int) error {
	return pathCall(unix.SYS_UMOUNT2, target, uintptr(flags), 0)
}

func chdir(path string) error {
	return pathCall(unix.SYS_CHDIR, path, 0, 0)
}

func lstatRaw(path string, st *unix.Stat_t) error {
	p, err := cstr(path, false)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall6(unix.SYS_NEWFSTATAT, atFDCWDArg, uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
	return rawErr(e)
}

func mountSetattr(path string, flags uint, attr *unix.MountAttr) error {
	p, err := cstr(path, false)
	if err != nil {
		return err
	}
	_, _, e := unix.RawSyscall6(unix.SYS_MOUNT_SETATTR, atFDCWDArg, uintptr(unsafe.Pointer(p)),
		uintptr(flags), uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr), 0)
	return rawErr(e)
}
