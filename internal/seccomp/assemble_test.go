package seccomp

import (
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// evaluate is the meaning of a policy, written as plainly as possible: the
// first group with a rule or name matching the call decides, else the
// default. The assembled program must agree with it on every input.
func evaluate(p *policy, auditArch, nr uint32, args [6]uint64) uint32 {
	if auditArch != auditArchX86_64 || (nr >= x32SyscallBit && nr != 0xffffffff) {
		return retKillProcess
	}
	holds := func(c cond) bool {
		a := args[c.arg]
		switch c.op {
		case opEqual:
			return a == c.val
		case opNotEqual:
			return a != c.val
		case opGreater:
			return a > c.val
		case opGreaterEqual:
			return a >= c.val
		case opLess:
			return a < c.val
		case opLessEqual:
			return a <= c.val
		case opAnyBits:
			return a&c.val != 0
		case opNoneBits:
			return a&c.val == 0
		}
		panic("unknown op")
	}
	for _, g := range p.groups {
		for _, r := range g.rules {
			if n, _ := syscallNumber(r.name); n != nr {
				continue
			}
			for _, set := range r.anyOf {
				all := true
				for _, c := range set {
					all = all && holds(c)
				}
				if all {
					return g.action
				}
			}
		}
		for _, name := range g.names {
			if n, _ := syscallNumber(name); n == nr {
				return g.action
			}
		}
	}
	return p.defaultAction
}

// seccompData lays out struct seccomp_data for golang.org/x/net/bpf's
// interpreter, which loads words big-endian: each 32-bit word is stored
// big-endian at the offset the kernel's little-endian layout gives it, so
// the program sees the same values it would in the kernel.
func seccompData(auditArch, nr uint32, args [6]uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], nr)
	binary.BigEndian.PutUint32(b[offArch:], auditArch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

// newVM loads a program into golang.org/x/net/bpf's interpreter.
func newVM(t *testing.T, prog []unix.SockFilter) *bpf.VM {
	t.Helper()
	raw := make([]bpf.RawInstruction, len(prog))
	for i, in := range prog {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program contains an instruction golang.org/x/net/bpf does not know")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// runProgram runs prog once on in.
func runProgram(t *testing.T, prog []unix.SockFilter, in []byte) uint32 {
	t.Helper()
	return runVM(t, newVM(t, prog), in)
}

func runVM(t *testing.T, vm *bpf.VM, in []byte) uint32 {
	t.Helper()
	v, err := vm.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v)
}

// interestingValues are the argument values worth trying against a rule
// set: each compared value, its neighbours, and copies with garbage in the
// upper 32 bits (which the kernel drops for int arguments).
func interestingValues(p *policy, nr uint32, arg uint32) []uint64 {
	vals := map[uint64]bool{0: true, ^uint64(0): true}
	for _, g := range p.groups {
		for _, r := range g.rules {
			if n, _ := syscallNumber(r.name); n != nr {
				continue
			}
			for _, set := range r.anyOf {
				for _, c := range set {
					if c.arg != arg {
						continue
					}
					for _, v := range []uint64{c.val, c.val + 1, c.val - 1, c.val | 1<<32, c.val | 0xffffffff00000000, uint64(uint32(c.val))} {
						vals[v] = true
					}
				}
			}
		}
	}
	var out []uint64
	for v := range vals {
		out = append(out, v)
	}
	return out
}

// TestProgramMatchesPolicy runs the assembled program in a BPF
// interpreter and compares it with evaluate: every x86_64 syscall with
// plain arguments; for argument-filtered syscalls, every combination of the
// interesting values of the first three arguments, plus random vectors;
// foreign architectures, x32 numbers and nr -1.
//
// (github.com/elastic/go-seccomp-bpf was meant to assemble these programs.
// This test, run against it, found that it does not reload the syscall
// number after a group that compared arguments, so a later group for the
// same syscall tests an argument instead; and its long-jump fixup fails
// on a program the size of the default profile.)
func TestProgramMatchesPolicy(t *testing.T) {
	policies := map[string]func() (*policy, error){
		"default":       func() (*policy, error) { return defaultPolicy(nil) },
		"default+extra": func() (*policy, error) { return defaultPolicy([]string{"syslog", "kcmp"}) },
	}
	profiles, _ := filepath.Glob(filepath.Join("testdata", "profiles", "*.json"))
	for _, path := range profiles {
		policies[path] = func() (*policy, error) { return loadProfile(path) }
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, mk := range policies {
		t.Run(name, func(t *testing.T) {
			p, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			prog, err := p.instructions()
			if err != nil {
				t.Fatal(err)
			}
			vm := newVM(t, prog)
			runs := 0
			check := func(auditArch, nr uint32, args [6]uint64) {
				t.Helper()
				runs++
				got := runVM(t, vm, seccompData(auditArch, nr, args))
				if want := evaluate(p, auditArch, nr, args); got != want {
					t.Fatalf("arch %#x nr %d args %#x: program says %s, policy says %s", auditArch, nr, args, actionString(got), actionString(want))
				}
			}
			for _, sc := range x86_64Syscalls {
				nr := sc.nr
				check(auditArchX86_64, nr, [6]uint64{})
				check(0x40000003, nr, [6]uint64{})                    // AUDIT_ARCH_I386
				check(auditArchX86_64, nr|x32SyscallBit, [6]uint64{}) // x32
				a0, a1, a2 := interestingValues(p, nr, 0), interestingValues(p, nr, 1), interestingValues(p, nr, 2)
				if len(a0)+len(a1)+len(a2) == 6 {
					continue // no rule compares this syscall's arguments
				}
				for _, v0 := range a0 {
					for _, v1 := range a1 {
						for _, v2 := range a2 {
							check(auditArchX86_64, nr, [6]uint64{v0, v1, v2})
						}
					}
				}
				for range 200 {
					check(auditArchX86_64, nr, [6]uint64{rng.Uint64(), rng.Uint64() & 0xff, rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()})
				}
			}
			check(auditArchX86_64, 0xffffffff, [6]uint64{})
			check(auditArchX86_64, 1000, [6]uint64{}) // beyond the table
			t.Logf("%d inputs, %d instructions", runs, len(prog))
		})
	}
}
