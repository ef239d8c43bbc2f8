// Package landlock owns turning a path and port rule set into a Landlock
// domain for the calling thread, best effort down the kernel's ABI list.
// The sandbox decides which paths and ports go in (from the mount layout and
// the spec's [landlock] table); this package must not decide that, and must
// not know the spec format.
//
// What the rule lists grant (beneath each path, a directory or a file):
//
//	Read     read files, list directories
//	Execute  Read + execute files
//	Write    Read + write and truncate files, create, remove and rename
//	         (also across directories: "refer") files, directories, sockets,
//	         fifos, symlinks, device nodes; ioctl on devices (ABI 5+: ttys,
//	         /dev/null-style files belong here)
//
// Nothing is executable from a Write-only tree (W^X), and a device under
// Read only can be read but not ioctl'd. W^X covers the filesystem only:
// Landlock does not restrict files on kernel-internal mounts, so a memfd
// written by the workload can still be executed (checked on this kernel,
// ABI 7, through /proc/self/fd/N); the pid namespace's vm.memfd_noexec = 2
// is what closes that. Pathname unix sockets (ABI 9's
// resolve_unix) are not restricted: the notify socket is bind-mounted from
// outside, and mounts already decide which sockets exist in the container.
//
// Ports: TCPBind and TCPConnect (ABI 4+) restrict only when non-empty: an
// empty list means "not restricted", a non-empty one is the only TCP ports
// the workload may bind (or connect to). An empty list cannot mean "deny
// all", because empty is the spec's default and would break every server.
// UDP (ABI 10) is not restricted.
//
// Scopes (ABI 6+): the workload can neither connect to abstract unix
// sockets nor signal processes outside its domain. With network.mode =
// "host" this is what keeps it from the host's abstract sockets (the
// containerd-shim escape, CVE-2020-15257), which seccomp cannot see.
//
// Nothing else is reachable: with empty path lists, no file can be
// opened at all.
//
// Paths that do not exist are skipped: they come from mounts and the spec,
// a missing path grants nothing, and refusing to start would make a spec
// depend on the exact contents of its root filesystem. Rules.Missing lists
// them so that the caller can log a warning.
//
// Restrict applies the domain to the calling thread only (no TSYNC, like
// seccomp.Filter.Install): it locks the goroutine to its thread for good, so
// that the execve that follows runs restricted, and the Go runtime retires
// the thread instead of reusing it.
package landlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	golandlock "github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// Rules is what the workload may touch; paths are absolute, as seen by
// the calling process.
type Rules struct {
	Read, Write, Execute []string
	TCPBind, TCPConnect  []uint16
}

// Filesystem access rights by the ABI that introduced them.
const (
	rightsV1 = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile | ll.AccessFSReadDir |
		ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeChar | ll.AccessFSMakeDir |
		ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeBlock |
		ll.AccessFSMakeSym
	rightsV2 = rightsV1 | ll.AccessFSRefer
	rightsV3 = rightsV2 | ll.AccessFSTruncate
	rightsV5 = rightsV3 | ll.AccessFSIoctlDev

	// fileRights are the rights that apply to a file (not a directory);
	// Landlock refuses directory rights on a file rule.
	fileRights = ll.AccessFSExecute | ll.AccessFSWriteFile | ll.AccessFSReadFile |
		ll.AccessFSTruncate | ll.AccessFSIoctlDev

	readRights    = ll.AccessFSReadFile | ll.AccessFSReadDir
	executeRights = readRights | ll.AccessFSExecute
	writeRights   = readRights | ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSRemoveDir |
		ll.AccessFSRemoveFile | ll.AccessFSMakeChar | ll.AccessFSMakeDir | ll.AccessFSMakeReg |
		ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeBlock | ll.AccessFSMakeSym |
		ll.AccessFSRefer | ll.AccessFSIoctlDev
)

// handledFS is the set of filesystem rights the domain restricts at a
// given ABI: everything the kernel knows up to ABI 5 (resolve_unix, ABI
// 9, is deliberately left out; see the package comment).
func handledFS(abi int) golandlock.AccessFSSet {
	switch {
	case abi >= 5:
		return rightsV5
	case abi >= 3:
		return rightsV3
	case abi >= 2:
		return rightsV2
	case abi >= 1:
		return rightsV1
	}
	return 0
}

var (
	abiOnce sync.Once
	abiVal  int
)

// ABI is the Landlock ABI version the kernel supports; 0 means no Landlock
// (not built in, or not enabled at boot).
func ABI() int {
	abiOnce.Do(func() {
		v, err := ll.LandlockGetABIVersion()
		if err != nil || v < 0 {
			v = 0
		}
		abiVal = v
	})
	return abiVal
}

// Missing lists the rule paths that do not exist (and that Restrict skips).
func (r Rules) Missing() []string {
	var missing []string
	for _, list := range [][]string{r.Read, r.Write, r.Execute} {
		for _, p := range list {
			if _, err := os.Stat(p); isMissing(err) {
				missing = append(missing, p)
			}
		}
	}
	return missing
}

func isMissing(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}

// Restrict turns r into a Landlock domain on the calling thread, using
// what the running kernel supports, and returns that ABI version. abi 0
// with a nil error means the kernel has no Landlock: nothing was done.
// Paths that do not exist are skipped (see Missing); any other problem
// with a path is an error naming it.
func Restrict(r Rules) (abi int, err error) {
	abi = ABI()
	if abi == 0 {
		return 0, nil
	}
	cfg, rules, err := r.config(abi)
	if err != nil {
		return abi, err
	}
	fd, flags, err := cfg.NewRulesetFD(rules...)
	if err != nil {
		return abi, fmt.Errorf("landlock: ruleset for ABI %d: %w", abi, err)
	}
	if fd < 0 {
		return abi, nil // nothing to restrict (cannot happen with filesystem rights handled)
	}
	defer unix.Close(fd)
	runtime.LockOSThread() // never unlocked: see the package comment
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return abi, fmt.Errorf("landlock: prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := ll.LandlockRestrictSelf(fd, flags); err != nil {
		return abi, fmt.Errorf("landlock: landlock_restrict_self (ABI %d): %w", abi, err)
	}
	return abi, nil
}

// config is the go-landlock configuration and rules for r at ABI abi.
func (r Rules) config(abi int) (golandlock.Config, []golandlock.Rule, error) {
	fs := handledFS(abi)
	cfg := golandlock.Config{HandledAccessFS: fs}
	var rules []golandlock.Rule
	for _, list := range []struct {
		paths  []string
		rights golandlock.AccessFSSet
	}{{r.Read, readRights}, {r.Execute, executeRights}, {r.Write, writeRights}} {
		for _, p := range list.paths {
			if !filepath.IsAbs(p) {
				return cfg, nil, fmt.Errorf("landlock: rule path %q is not absolute", p)
			}
			st, err := os.Stat(p)
			if isMissing(err) {
				continue
			}
			if err != nil {
				return cfg, nil, fmt.Errorf("landlock: rule path: %w", err)
			}
			rights := list.rights & fs
			if !st.IsDir() {
				rights &= fileRights
			}
			if rights != 0 {
				rules = append(rules, golandlock.PathAccess(rights, p))
			}
		}
	}
	if abi >= 4 {
		if len(r.TCPBind) > 0 {
			cfg.HandledAccessNet |= ll.AccessNetBindTCP
			for _, port := range r.TCPBind {
				rules = append(rules, golandlock.BindTCP(port))
			}
		}
		if len(r.TCPConnect) > 0 {
			cfg.HandledAccessNet |= ll.AccessNetConnectTCP
			for _, port := range r.TCPConnect {
				rules = append(rules, golandlock.ConnectTCP(port))
			}
		}
	}
	if abi >= 6 {
		cfg.Scoped = ll.ScopeAbstractUnixSocket | ll.ScopeSignal
	}
	// Denials by the workload are logged to the audit log (ABI 7+; by
	// default Landlock stops logging at execve, which is exactly when the
	// workload starts).
	cfg = cfg.EnableLoggingForSubprocesses().BestEffort()
	return cfg, rules, nil
}
