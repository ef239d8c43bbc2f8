package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// Verdict runs the assembled program for one x86_64 syscall, by name, the
// way the kernel would, without installing anything. It reports whether
// the call would run (SECCOMP_RET_ALLOW or SECCOMP_RET_LOG) and, either
// way, the action ("allow", "errno(EPERM)", "kill_thread", …).
//
// It exists for callers that must keep working under the filter they
// install (the sandbox forks every process from one filtered Go thread):
// they check before installing that the calls their own runtime makes are
// allowed, instead of finding out by a hang or a killed thread.
func (f *Filter) Verdict(name string, args [6]uint64) (runs bool, action string, err error) {
	nr, ok := syscallNumber(name)
	if !ok {
		return false, "", fmt.Errorf("seccomp: verdict: unknown syscall %q", name)
	}
	if f == nil {
		return true, actionString(retAllow), nil
	}
	var data [64]byte // struct seccomp_data, little-endian
	binary.LittleEndian.PutUint32(data[offNr:], nr)
	binary.LittleEndian.PutUint32(data[offArch:], auditArchX86_64)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[offArgs+8*i:], a)
	}
	v, err := runFilter(f.prog, data[:])
	if err != nil {
		return false, "", fmt.Errorf("seccomp: verdict for %s: %w", name, err)
	}
	switch v & unix.SECCOMP_RET_ACTION_FULL {
	case retAllow, retLog:
		return true, actionString(v), nil
	}
	return false, actionString(v), nil
}

// runFilter is a classic BPF interpreter with seccomp's rules: loads are
// 32-bit words of struct seccomp_data in host (little-endian) order, the
// program must end in a return, and jumps only go forward.
func runFilter(prog []unix.SockFilter, data []byte) (uint32, error) {
	var a, x uint32
	var mem [16]uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		k := in.K
		src := func() uint32 {
			if in.Code&unix.BPF_X != 0 {
				return x
			}
			return k
		}
		switch in.Code & 0x07 { // BPF_CLASS
		case unix.BPF_LD, unix.BPF_LDX:
			var v uint32
			switch in.Code & 0xe0 { // BPF_MODE
			case unix.BPF_ABS:
				if in.Code&0x18 != unix.BPF_W || k%4 != 0 || int(k)+4 > len(data) {
					return 0, fmt.Errorf("instruction %d: bad load at offset %d", pc, k)
				}
				v = binary.LittleEndian.Uint32(data[k:])
			case unix.BPF_IMM:
				v = k
			case unix.BPF_MEM:
				if k >= 16 {
					return 0, fmt.Errorf("instruction %d: scratch slot %d", pc, k)
				}
				v = mem[k]
			case unix.BPF_LEN:
				v = uint32(len(data))
			default:
				return 0, fmt.Errorf("instruction %d: unsupported load 0x%02x", pc, in.Code)
			}
			if in.Code&0x07 == unix.BPF_LD {
				a = v
			} else {
				x = v
			}
		case unix.BPF_ST, unix.BPF_STX:
			if k >= 16 {
				return 0, fmt.Errorf("instruction %d: scratch slot %d", pc, k)
			}
			if in.Code&0x07 == unix.BPF_ST {
				mem[k] = a
			} else {
				mem[k] = x
			}
		case unix.BPF_ALU:
			s := src()
			switch in.Code & 0xf0 { // BPF_OP
			case unix.BPF_ADD:
				a += s
			case unix.BPF_SUB:
				a -= s
			case unix.BPF_MUL:
				a *= s
			case unix.BPF_DIV:
				if s == 0 {
					return 0, nil // the kernel's cBPF returns 0 (kill) on division by zero
				}
				a /= s
			case unix.BPF_MOD:
				if s == 0 {
					return 0, nil
				}
				a %= s
			case unix.BPF_OR:
				a |= s
			case unix.BPF_AND:
				a &= s
			case unix.BPF_XOR:
				a ^= s
			case unix.BPF_LSH:
				a <<= s & 31
			case unix.BPF_RSH:
				a >>= s & 31
			case unix.BPF_NEG:
				a = -a
			default:
				return 0, fmt.Errorf("instruction %d: unsupported ALU op 0x%02x", pc, in.Code)
			}
		case unix.BPF_JMP:
			if in.Code&0xf0 == unix.BPF_JA {
				pc += int(k)
				continue
			}
			s := src()
			var cond bool
			switch in.Code & 0xf0 {
			case unix.BPF_JEQ:
				cond = a == s
			case unix.BPF_JGT:
				cond = a > s
			case unix.BPF_JGE:
				cond = a >= s
			case unix.BPF_JSET:
				cond = a&s != 0
			default:
				return 0, fmt.Errorf("instruction %d: unsupported jump 0x%02x", pc, in.Code)
			}
			if cond {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET:
			if in.Code&0x18 == unix.BPF_A {
				return a, nil
			}
			return k, nil
		case unix.BPF_MISC:
			if in.Code&0xf8 == unix.BPF_TAX {
				x = a
			} else {
				a = x
			}
		}
	}
	return 0, fmt.Errorf("program ends without a return")
}
