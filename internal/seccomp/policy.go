package seccomp

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// maxInstructions is BPF_MAXINSNS: the kernel rejects longer programs.
const maxInstructions = 4096

// auditArchX86_64 is AUDIT_ARCH_X86_64, the only architecture a filter
// matches syscalls for; every other one (i386 via int 0x80, x32) is killed.
const auditArchX86_64 = 0xc000003e

// Kernel return values (SECCOMP_RET_*). errno values go in the low 16 bits
// of SECCOMP_RET_ERRNO.
const (
	retKillProcess = uint32(unix.SECCOMP_RET_KILL_PROCESS)
	retKillThread  = uint32(unix.SECCOMP_RET_KILL_THREAD)
	retTrap        = uint32(unix.SECCOMP_RET_TRAP)
	retErrno       = uint32(unix.SECCOMP_RET_ERRNO)
	retLog         = uint32(unix.SECCOMP_RET_LOG)
	retAllow       = uint32(unix.SECCOMP_RET_ALLOW)
)

func errnoRet(e unix.Errno) uint32 { return retErrno | uint32(e)&unix.SECCOMP_RET_DATA }

// x32SyscallBit marks x32-ABI syscall numbers, which share
// AUDIT_ARCH_X86_64 with the native ABI.
const x32SyscallBit = 0x40000000

// Offsets in struct seccomp_data (little-endian x86_64).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// op is a comparison of one 64-bit syscall argument with a value.
type op uint8

const (
	opEqual op = iota
	opNotEqual
	opGreater
	opGreaterEqual
	opLess
	opLessEqual
	opAnyBits  // arg & value != 0
	opNoneBits // arg & value == 0
)

var opSymbols = [...]string{
	opEqual: "==", opNotEqual: "!=", opGreater: ">", opGreaterEqual: ">=", opLess: "<",
	opLessEqual: "<=", opAnyBits: "has any of", opNoneBits: "has none of",
}

// cond compares argument arg (0..5) with val; all 64 bits take part.
type cond struct {
	arg uint32
	op  op
	val uint64
}

// policy is the filter before assembly: a default action and rule groups
// evaluated in order, the first matching group deciding.
type policy struct {
	source        string // what the policy was made from, for errors and rendering
	defaultAction uint32
	flags         uint     // SECCOMP_FILTER_FLAG_* for seccomp(2)
	flagNames     []string // the same, as written, for rendering
	otherArches   []string // architectures a profile listed besides x86_64 (all killed)
	skipped       []string // profile names that exist only on other architectures
	groups        []group
}

// group is one action and the syscalls that take it: when one of a rule's
// argument condition sets matches (rules, tried first), or unconditionally
// (names).
type group struct {
	action uint32
	rules  []argRule
	names  []string
}

// argRule matches syscall name when all conditions of any one set hold.
type argRule struct {
	name  string
	anyOf [][]cond
}

// filter assembles p into an installable Filter.
func (p *policy) filter() (*Filter, error) {
	prog, err := p.instructions()
	if err != nil {
		return nil, err
	}
	return &Filter{prog: prog, flags: p.flags}, nil
}

// actionString renders a SECCOMP_RET_* value the way OCI profiles spell
// them, with the errno name for SCMP_ACT_ERRNO.
func actionString(a uint32) string {
	switch a & unix.SECCOMP_RET_ACTION_FULL {
	case retKillProcess:
		return "kill_process"
	case retKillThread:
		return "kill_thread"
	case retTrap:
		return "trap"
	case retLog:
		return "log"
	case retAllow:
		return "allow"
	case retErrno:
		e := unix.Errno(a & unix.SECCOMP_RET_DATA)
		if name := unix.ErrnoName(e); name != "" {
			return "errno(" + name + ")"
		}
		return fmt.Sprintf("errno(%d)", uint32(e))
	}
	return fmt.Sprintf("0x%08x", a)
}

// String renders p for humans and golden files: one line per group or rule,
// in evaluation order.
func (p *policy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source: %s\n", p.source)
	fmt.Fprintf(&b, "default: %s\n", actionString(p.defaultAction))
	b.WriteString("arch: x86_64 only; other architectures and x32 are killed")
	if len(p.otherArches) > 0 {
		fmt.Fprintf(&b, " (profile also listed: %s)", strings.Join(p.otherArches, " "))
	}
	b.WriteString("\n")
	if len(p.flagNames) > 0 {
		fmt.Fprintf(&b, "flags: %s\n", strings.Join(p.flagNames, " "))
	}
	if len(p.skipped) > 0 {
		fmt.Fprintf(&b, "skipped (not x86_64 syscalls): %s\n", strings.Join(p.skipped, " "))
	}
	for _, g := range p.groups {
		for _, r := range g.rules {
			var sets []string
			for _, set := range r.anyOf {
				var conds []string
				for _, c := range set {
					conds = append(conds, fmt.Sprintf("arg%d %s %#x", c.arg, opSymbols[c.op], c.val))
				}
				sets = append(sets, "("+strings.Join(conds, " && ")+")")
			}
			fmt.Fprintf(&b, "%s: %s if %s\n", actionString(g.action), r.name, strings.Join(sets, " || "))
		}
		if len(g.names) > 0 {
			names := append([]string(nil), g.names...)
			sort.Strings(names)
			fmt.Fprintf(&b, "%s: %s\n", actionString(g.action), strings.Join(names, " "))
		}
	}
	return b.String()
}
