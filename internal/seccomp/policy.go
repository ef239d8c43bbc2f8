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

// The program is assembled here rather than by
// github.com/elastic/go-seccomp-bpf, for two reasons: importing that
// library costs 0.5-1 ms of package initialisation (its syscall maps) in
// every nucleus-exec start, measured with GODEBUG=inittrace=1; and in
// v1.6.0 it does not reload the syscall number after a group that compared
// arguments (a later group for the same syscall then tests an argument
// instead: "personality(0xffffffff)" in a Docker-style profile was
// refused), and its long-jump fixup fails on a program the size of the
// default profile. TestProgramMatchesPolicy checks this assembler against
// a plain Go reading of the policy, in a BPF interpreter.
//
// The layout keeps every jump short (BPF conditional jumps reach at most
// 255 instructions ahead):
//
//	preamble           kill foreign architectures and x32
//	per rule and set:  ld nr; jne NR → next; conditions (fail → next); ret ACTION
//	per name:          jne NR → +1; ret ACTION
//	ret DEFAULT
//
// The kernel (5.11+) caches the verdict for every syscall whose path
// through the program reads no argument, so unconditionally allowed calls
// cost one bitmap lookup, not a walk of the list.

// Classic BPF opcodes used by the assembler.
const (
	ldAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	jgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	jsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	retK   = unix.BPF_RET | unix.BPF_K
)

func load(off uint32) unix.SockFilter { return unix.SockFilter{Code: ldAbsW, K: off} }
func ret(v uint32) unix.SockFilter    { return unix.SockFilter{Code: retK, K: v} }
func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
}

// failJump is a placeholder jump offset meaning "to the end of the block"
// (the next block); condBlock patches it. Real offsets inside a block are
// small, so 0xff never collides with one.
const failJump = 0xff

// instructions assembles p. It writes the program directly as
// sock_filter structs: going through golang.org/x/net/bpf's Instruction
// interface cost more than the rest of the assembly.
func (p *policy) instructions() ([]unix.SockFilter, error) {
	prog := make([]unix.SockFilter, 0, 1024)
	prog = append(prog,
		// Foreign architectures (i386 via int 0x80, anything else) die:
		// their syscall numbers mean different calls, so no rule applies.
		load(offArch),
		jump(jeqK, auditArchX86_64, 1, 0),
		ret(retKillProcess),
		// x32 shares the arch value; its numbers carry __X32_SYSCALL_BIT.
		// nr == -1 is not x32: ptrace and seccomp use it to skip a call,
		// and it gets the default action like any other unknown number.
		load(offNr),
		jump(jgeK, x32SyscallBit, 0, 2),
		jump(jeqK, 0xffffffff, 1, 0),
		ret(retKillProcess),
	)
	var err error
	for _, g := range p.groups {
		for _, r := range g.rules {
			nr, ok := syscallNumber(r.name)
			if !ok {
				return nil, fmt.Errorf("assemble %s: unknown syscall %q", p.source, r.name)
			}
			for _, set := range r.anyOf {
				if prog, err = appendCondBlock(prog, nr, set, g.action); err != nil {
					return nil, fmt.Errorf("assemble %s: %s: %w", p.source, r.name, err)
				}
			}
		}
		if len(g.names) > 0 {
			prog = append(prog, load(offNr))
		}
		for _, n := range g.names {
			nr, ok := syscallNumber(n)
			if !ok {
				return nil, fmt.Errorf("assemble %s: unknown syscall %q", p.source, n)
			}
			prog = append(prog, jump(jeqK, nr, 0, 1), ret(g.action))
		}
	}
	prog = append(prog, ret(p.defaultAction))
	if len(prog) > maxInstructions {
		return nil, fmt.Errorf("assemble %s: %d BPF instructions, the kernel allows %d", p.source, len(prog), maxInstructions)
	}
	return prog, nil
}

// appendCondBlock appends "if nr matches and every condition holds, return
// action"; otherwise control falls through to the instruction after the
// block. Every jump stays inside the block, so none is ever too long.
func appendCondBlock(prog []unix.SockFilter, nr uint32, set []cond, action uint32) ([]unix.SockFilter, error) {
	start := len(prog)
	prog = append(prog, load(offNr), jump(jeqK, nr, 0, failJump))
	for _, c := range set {
		if c.arg > 5 {
			return nil, fmt.Errorf("argument %d: syscalls have arguments 0 to 5", c.arg)
		}
		lo, hi := load(offArgs+8*c.arg), load(offArgs+8*c.arg+4)
		vlo, vhi := uint32(c.val), uint32(c.val>>32)
		switch c.op {
		case opEqual: // hi == vhi && lo == vlo
			prog = append(prog, hi, jump(jeqK, vhi, 0, failJump), lo, jump(jeqK, vlo, 0, failJump))
		case opNotEqual: // hi != vhi || lo != vlo
			prog = append(prog, hi, jump(jeqK, vhi, 0, 2), lo, jump(jeqK, vlo, failJump, 0))
		case opGreater, opGreaterEqual: // hi > vhi || (hi == vhi && lo >(=) vlo)
			loTest := uint16(jgtK)
			if c.op == opGreaterEqual {
				loTest = jgeK
			}
			prog = append(prog, hi, jump(jgtK, vhi, 3, 0), jump(jeqK, vhi, 0, failJump), lo, jump(loTest, vlo, 0, failJump))
		case opLess, opLessEqual: // hi < vhi || (hi == vhi && lo <(=) vlo)
			loFail := uint16(jgeK) // lo >= vlo fails "<"
			if c.op == opLessEqual {
				loFail = jgtK
			}
			prog = append(prog, hi, jump(jgeK, vhi, 0, 3), jump(jeqK, vhi, 0, failJump), lo, jump(loFail, vlo, failJump, 0))
		case opAnyBits: // hi & vhi != 0 || lo & vlo != 0
			prog = append(prog, hi, jump(jsetK, vhi, 2, 0), lo, jump(jsetK, vlo, 0, failJump))
		case opNoneBits: // hi & vhi == 0 && lo & vlo == 0
			prog = append(prog, hi, jump(jsetK, vhi, failJump, 0), lo, jump(jsetK, vlo, failJump, 0))
		default:
			return nil, fmt.Errorf("unknown comparison %d", c.op)
		}
	}
	prog = append(prog, ret(action))
	end := len(prog)
	if end-start > 255 {
		return nil, fmt.Errorf("%d conditions are too many for one rule", len(set))
	}
	for i := start; i < end; i++ {
		in := &prog[i]
		if in.Code&0x07 != unix.BPF_JMP {
			continue
		}
		fail := uint8(end - i - 1)
		if in.Jt == failJump {
			in.Jt = fail
		}
		if in.Jf == failJump {
			in.Jf = fail
		}
	}
	return prog, nil
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
