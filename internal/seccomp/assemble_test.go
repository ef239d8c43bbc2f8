package seccomp

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
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
					for _, v := range []uint64{c.val, c.val + 1, c.val - 1, c.val | 1<<32, c.val | 0xffffffff00000000, uint64(uint32(c.val)), c.val &^ 1, c.val | 1} {
						vals[v] = true
					}
				}
			}
		}
	}
	out := make([]uint64, 0, len(vals))
	for v := range vals {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// Audit architectures besides x86_64 that the tests try (all killed).
var foreignArches = []uint32{
	0x40000003, // AUDIT_ARCH_I386 (int 0x80 on x86_64)
	0xc00000b7, // AUDIT_ARCH_AARCH64
	0,
	auditArchX86_64 ^ 0x80000000, // x86_64 without __AUDIT_ARCH_64BIT
}

// outOfRangeNumbers are syscall numbers past the table, the x32 range and
// its edges, and nr -1 (a skipped call).
var outOfRangeNumbers = []uint32{
	1000, 4095, 65535, x32SyscallBit - 1, x32SyscallBit, x32SyscallBit | 1, x32SyscallBit | 512,
	0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
}

// maxTableNumber is the largest x86_64 syscall number in the table.
func maxTableNumber() uint32 {
	var top uint32
	for _, sc := range x86_64Syscalls {
		top = max(top, sc.nr)
	}
	return top
}

// checkProgram runs the program assembled from p in a BPF interpreter and
// compares it with evaluate on: every number from 0 to 64 past the table's
// largest (gaps in the table included), for x86_64 and foreign
// architectures and with the x32 bit; the out-of-range numbers; and, for
// every syscall some rule compares arguments of, every combination of the
// interesting values of the compared arguments (or, when there are more
// than maxCombos, each argument's values in turn and maxCombos/4 random
// combinations of them),
// plus random vectors. It returns the program and the number of inputs.
func checkProgram(t *testing.T, p *policy, rng *rand.Rand, maxCombos int) ([]unix.SockFilter, int) {
	t.Helper()
	prog, err := p.instructions()
	if err != nil {
		t.Fatal(err)
	}
	vm := newVM(t, prog)
	inputs := 0
	check := func(auditArch, nr uint32, args [6]uint64) {
		t.Helper()
		inputs++
		got := runVM(t, vm, seccompData(auditArch, nr, args))
		if want := evaluate(p, auditArch, nr, args); got != want {
			t.Fatalf("%s: arch %#x nr %d args %#x: program says %s, policy says %s", p.source, auditArch, nr, args, actionString(got), actionString(want))
		}
	}
	randomArgs := func() [6]uint64 {
		var a [6]uint64
		for i := range a {
			switch rng.IntN(3) {
			case 0:
				a[i] = rng.Uint64()
			case 1:
				a[i] = rng.Uint64() & 0xff
			default:
				a[i] = uint64(rng.Uint32())
			}
		}
		return a
	}
	compared := map[uint32]*[6]bool{} // syscall → the arguments some rule compares
	for _, g := range p.groups {
		for _, r := range g.rules {
			nr, _ := syscallNumber(r.name)
			if compared[nr] == nil {
				compared[nr] = new([6]bool)
			}
			for _, set := range r.anyOf {
				for _, c := range set {
					compared[nr][c.arg] = true
				}
			}
		}
	}
	for nr := uint32(0); nr <= maxTableNumber()+64; nr++ {
		check(auditArchX86_64, nr, [6]uint64{})
		check(auditArchX86_64, nr, randomArgs())
		check(auditArchX86_64, nr|x32SyscallBit, [6]uint64{})
		for _, arch := range foreignArches {
			check(arch, nr, [6]uint64{})
		}
		if compared[nr] == nil {
			continue
		}
		// Arguments no rule compares stay 0 here (the random vectors
		// vary them).
		var vals [6][]uint64
		combos := 1
		for i := range vals {
			vals[i] = []uint64{0}
			if compared[nr][i] {
				vals[i] = interestingValues(p, nr, uint32(i))
			}
			combos *= len(vals[i])
		}
		if combos <= maxCombos {
			var args [6]uint64
			var each func(i int)
			each = func(i int) {
				if i == len(args) {
					check(auditArchX86_64, nr, args)
					return
				}
				for _, v := range vals[i] {
					args[i] = v
					each(i + 1)
				}
			}
			each(0)
		} else {
			for i := range vals {
				for _, v := range vals[i] {
					var args [6]uint64
					args[i] = v
					check(auditArchX86_64, nr, args)
				}
			}
			for range maxCombos / 4 {
				var args [6]uint64
				for i := range args {
					args[i] = vals[i][rng.IntN(len(vals[i]))]
				}
				check(auditArchX86_64, nr, args)
			}
		}
		for range 200 {
			check(auditArchX86_64, nr, randomArgs())
		}
	}
	for _, nr := range outOfRangeNumbers {
		check(auditArchX86_64, nr, [6]uint64{})
		check(auditArchX86_64, nr, randomArgs())
		for _, arch := range foreignArches {
			check(arch, nr, [6]uint64{})
		}
	}
	return prog, inputs
}

// TestProgramMatchesPolicy checks (checkProgram) the default profile, the
// default profile with seccomp_allow additions (some filling the gaps
// between allowed numbers, so that runs merge), and every profile under
// testdata/profiles.
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
		"default+gaps": func() (*policy, error) {
			return defaultPolicy([]string{"syslog", "vhangup", "sysfs", "ustat", "uselib", "kcmp", "modify_ldt", "tuxcall", "security", "read"})
		},
	}
	profiles, _ := filepath.Glob(filepath.Join("testdata", "profiles", "*.json"))
	if len(profiles) == 0 {
		t.Fatal("no profiles under testdata/profiles")
	}
	for _, path := range profiles {
		policies[path] = func() (*policy, error) { return loadProfile(path) }
	}
	for name, mk := range policies {
		t.Run(name, func(t *testing.T) {
			p, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			prog, runs := checkProgram(t, p, rand.New(rand.NewPCG(1, 2)), 20000)
			t.Logf("%d inputs, %d instructions", runs, len(prog))
		})
	}
}

// randomPolicy makes a policy of random groups: random actions, names and
// argument rules with every comparison, on every argument, with values
// that have and lack upper 32 bits.
func randomPolicy(rng *rand.Rand, i int) *policy {
	actions := []uint32{retAllow, retAllow, errnoRet(unix.EPERM), errnoRet(unix.ENOSYS), retKillThread, retKillProcess, retTrap, retLog}
	action := func() uint32 { return actions[rng.IntN(len(actions))] }
	values := []uint64{0, 1, 2, 0xff, 0x100, 0x80000000, 0xffffffff, 1 << 32, 1<<32 | 5, ^uint64(0), 0xffffffff00000000}
	value := func() uint64 {
		if rng.IntN(4) == 0 {
			return rng.Uint64() >> rng.IntN(64)
		}
		return values[rng.IntN(len(values))]
	}
	name := func() string { return x86_64Syscalls[rng.IntN(len(x86_64Syscalls))].name }
	p := &policy{source: fmt.Sprintf("random policy %d", i), defaultAction: action()}
	for range 1 + rng.IntN(6) {
		g := group{action: action()}
		for range rng.IntN(4) {
			r := argRule{name: name()}
			for range 1 + rng.IntN(4) {
				var set []cond
				for range rng.IntN(4) {
					set = append(set, cond{arg: uint32(rng.IntN(6)), op: op(rng.IntN(int(opNoneBits) + 1)), val: value()})
				}
				r.anyOf = append(r.anyOf, set)
			}
			g.rules = append(g.rules, r)
		}
		for range rng.IntN(200) {
			g.names = append(g.names, name())
		}
		p.groups = append(p.groups, g)
	}
	return p
}

// TestRandomPoliciesMatch checks (checkProgram) random policies, and
// policies built to stretch the layout: a run per syscall number with
// alternating actions (a search tree of hundreds of runs), a distinct
// errno per syscall (hundreds of shared rets), long argument blocks, and
// every comparison with every kind of value. "an errno each" and "long
// argument blocks" must contain a BPF_JA, or the trampolines went untested.
func TestRandomPoliciesMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range testPolicies(rng) {
		t.Run(p.source, func(t *testing.T) {
			prog, inputs := checkProgram(t, p, rng, 2000)
			stretching := p.source == "an errno each" || p.source == "long argument blocks"
			if stretching && !slices.ContainsFunc(prog, func(in unix.SockFilter) bool { return in.Code == jaK }) {
				t.Errorf("%d instructions and no BPF_JA: the policy no longer stretches the layout", len(prog))
			}
			if !strings.HasPrefix(p.source, "random") {
				t.Logf("%d inputs, %d instructions", inputs, len(prog))
			}
		})
	}
}

// testPolicies are the random and stretching policies of
// TestRandomPoliciesMatch.
func testPolicies(rng *rand.Rand) []*policy {
	var ps []*policy
	for i := range 40 {
		ps = append(ps, randomPolicy(rng, i))
	}
	alternating := &policy{source: "alternating", defaultAction: errnoRet(unix.EPERM)}
	alternating.groups = append(alternating.groups, group{action: retAllow})
	errnos := &policy{source: "an errno each", defaultAction: retAllow}
	for _, sc := range x86_64Syscalls {
		if sc.nr%2 == 0 {
			alternating.groups[0].names = append(alternating.groups[0].names, sc.name)
		}
		errnos.groups = append(errnos.groups, group{action: errnoRet(unix.Errno(1 + sc.nr)), names: []string{sc.name}})
	}
	// Two long blocks (the second beyond a jump's reach from the tree);
	// runs of 30 sets share their first condition, whose failure skips
	// the whole run (farther than a jump reaches).
	longBlock := &policy{source: "long argument blocks", defaultAction: errnoRet(unix.EPERM)}
	var sets [][]cond
	for v := range uint64(80) {
		sets = append(sets, []cond{{arg: 0, op: opEqual, val: v / 30 << 8}, {arg: 1, op: opGreater, val: v}, {arg: 2, op: opNotEqual, val: v}})
	}
	longBlock.groups = []group{
		{action: retAllow, rules: []argRule{{name: "read", anyOf: sets}, {name: "write", anyOf: sets[1:]}}},
		{action: retAllow, names: []string{"close", "futex", "mmap", "exit_group"}},
		{action: errnoRet(unix.ENOSYS), rules: []argRule{{name: "ioctl", anyOf: sets[:2]}, {name: "clone", anyOf: sets[5:7]}}},
	}
	// Every comparison against values with and without upper and lower
	// halves, each alone on its own syscall and argument, so that none
	// is hidden behind another check.
	each := &policy{source: "each comparison", defaultAction: errnoRet(unix.EPERM)}
	g := group{action: retAllow}
	values := []uint64{0, 1, 0x5, 0xff, 0x80000000, 0xffffffff, 1 << 32, 1<<32 | 1, 1<<32 | 5, 0xffffffff00000000, 0xffffffff00000001, 0x8000000000000000, ^uint64(0)}
	i := 0
	for o := opEqual; o <= opNoneBits; o++ {
		for _, v := range values {
			g.rules = append(g.rules, argRule{name: x86_64Syscalls[i].name, anyOf: [][]cond{{{arg: uint32(i % 6), op: o, val: v}}}})
			i++
		}
	}
	each.groups = []group{g}
	return append(ps, alternating, errnos, longBlock, each)
}

// TestKernelAcceptsPrograms hands every program the tests assemble
// (default, seccomp_allow additions, profiles, random and stretching
// policies, BPF_JA and unreachable checks included) to the kernel's
// classic BPF checker and JIT, attaching it to a socket (SO_ATTACH_FILTER
// runs the same checks and conversion as seccomp without filtering this
// process); and checks what seccomp_check_filter adds: only 32-bit
// absolute loads, aligned and inside struct seccomp_data, and only the
// instructions the assembler means to use.
func TestKernelAcceptsPrograms(t *testing.T) {
	ps := testPolicies(rand.New(rand.NewPCG(3, 4)))
	for _, mk := range []func() (*policy, error){
		func() (*policy, error) { return defaultPolicy(nil) },
		func() (*policy, error) { return defaultPolicy([]string{"syslog", "kcmp"}) },
	} {
		p, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	profiles, _ := filepath.Glob(filepath.Join("testdata", "profiles", "*.json"))
	for _, path := range profiles {
		p, err := loadProfile(path)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, p := range ps {
		prog, err := p.instructions()
		if err != nil {
			t.Fatalf("%s: %v", p.source, err)
		}
		for i, in := range prog {
			switch in.Code {
			case ldAbsW:
				if in.K%4 != 0 || in.K >= 64 {
					t.Fatalf("%s: instruction %d loads offset %d, outside struct seccomp_data", p.source, i, in.K)
				}
			case jeqK, jgtK, jgeK, jsetK, jaK, retK:
			default:
				t.Fatalf("%s: instruction %d has opcode %#x", p.source, i, in.Code)
			}
		}
		fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
			t.Errorf("%s: the kernel refuses the program (%d instructions): %v", p.source, len(prog), err)
		}
	}
}

// constVerdict is the kernel's seccomp_is_const_allow (kernel/seccomp.c):
// it runs prog knowing only arch and nr, and reports the ret it reaches,
// or false where the path loads anything else or uses an instruction the
// emulator does not know. The kernel skips the filter for the numbers
// whose constant verdict is SECCOMP_RET_ALLOW.
func constVerdict(prog []unix.SockFilter, arch, nr uint32) (uint32, bool) {
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case ldAbsW:
			switch in.K {
			case offNr:
				acc = nr
			case offArch:
				acc = arch
			default:
				return 0, false
			}
		case retK:
			return in.K, true
		case jaK:
			pc += int(in.K)
		case jeqK, jgeK, jgtK, jsetK:
			var holds bool
			switch in.Code {
			case jeqK:
				holds = acc == in.K
			case jgeK:
				holds = acc >= in.K
			case jgtK:
				holds = acc > in.K
			case jsetK:
				holds = acc&in.K != 0
			}
			if holds {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		default:
			return 0, false
		}
	}
	return 0, false
}

// TestVerdictsCacheable: for every syscall number no rule compares
// arguments of, the path through the program reads no argument, so the
// kernel can cache its verdict (and skip the filter for it when allowed);
// and that verdict is the policy's.
func TestVerdictsCacheable(t *testing.T) {
	policies := map[string]func() (*policy, error){
		"default":       func() (*policy, error) { return defaultPolicy(nil) },
		"default+extra": func() (*policy, error) { return defaultPolicy([]string{"syslog", "kcmp"}) },
		"runc.json":     func() (*policy, error) { return loadProfile(filepath.Join("testdata", "profiles", "runc.json")) },
	}
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
			compared := map[uint32]bool{}
			for _, g := range p.groups {
				for _, r := range g.rules {
					nr, _ := syscallNumber(r.name)
					compared[nr] = true
				}
			}
			cached := 0
			for nr := uint32(0); nr <= maxTableNumber()+64; nr++ {
				if compared[nr] {
					continue
				}
				got, ok := constVerdict(prog, auditArchX86_64, nr)
				if !ok {
					t.Errorf("nr %d: the kernel cannot cache its verdict", nr)
					continue
				}
				if want := evaluate(p, auditArchX86_64, nr, [6]uint64{}); got != want {
					t.Errorf("nr %d: constant verdict %s, policy says %s", nr, actionString(got), actionString(want))
				}
				if got == retAllow {
					cached++
				}
			}
			t.Logf("%d numbers allowed without running the filter", cached)
		})
	}
}

// TestDefaultRulesMeaning pins what the default profile's argument rules
// mean, independently of how default.go states them: each is written here
// as plainly as the documentation says it (the socket types as the
// explicit list of type|flags values they once were), and evaluate must
// agree with it on every combination of the bits that matter, with and
// without garbage in the upper 32 bits.
func TestDefaultRulesMeaning(t *testing.T) {
	p, err := defaultPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	allow, eperm := retAllow, errnoRet(unix.EPERM)
	nr := func(name string) uint32 { n, _ := syscallNumber(name); return n }

	// Values built from bits that the rules test or that sit next to them.
	var bitValues []uint64
	bits := []uint{0, 1, 2, 3, 11, 19, 31, 32, 63}
	for m := range 1 << len(bits) {
		var v uint64
		for i, b := range bits {
			if m&(1<<i) != 0 {
				v |= 1 << b
			}
		}
		bitValues = append(bitValues, v)
	}

	socketWant := func(family, typ, proto uint64) uint32 {
		if proto == ipprotoMPTCP {
			return errnoRet(unix.EPROTONOSUPPORT)
		}
		switch family {
		case unix.AF_UNIX:
			return allow
		case unix.AF_NETLINK:
			if proto == unix.NETLINK_ROUTE {
				return allow
			}
		case unix.AF_INET, unix.AF_INET6:
			for _, base := range []uint64{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
				for _, fl := range []uint64{0, unix.SOCK_NONBLOCK, unix.SOCK_CLOEXEC, unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC} {
					if typ == base|fl && proto <= 255 {
						return allow
					}
				}
			}
		}
		return eperm
	}
	families := []uint64{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6, unix.AF_NETLINK, unix.AF_PACKET, unix.AF_VSOCK, 1<<32 | unix.AF_INET}
	protos := []uint64{0, unix.IPPROTO_TCP, unix.NETLINK_ROUTE, unix.NETLINK_AUDIT, 255, 256, ipprotoMPTCP, 1 << 32}
	for _, family := range families {
		for _, typ := range bitValues {
			for _, proto := range protos {
				args := [6]uint64{family, typ, proto}
				if got, want := evaluate(p, auditArchX86_64, nr("socket"), args), socketWant(family, typ, proto); got != want {
					t.Fatalf("socket(%#x, %#x, %#x): policy says %s, want %s", family, typ, proto, actionString(got), actionString(want))
				}
			}
		}
	}

	for _, cmd := range append(bitValues, unix.TIOCSTI, unix.TIOCLINUX, 1<<32|unix.TIOCSTI, 0xffffffff00000000|unix.TIOCLINUX, unix.TCGETS, unix.TIOCINQ) {
		want := allow
		if low := uint32(cmd); low == unix.TIOCSTI || low == unix.TIOCLINUX {
			want = eperm
		}
		if got := evaluate(p, auditArchX86_64, nr("ioctl"), [6]uint64{3, cmd}); got != want {
			t.Fatalf("ioctl(3, %#x): policy says %s, want %s", cmd, actionString(got), actionString(want))
		}
	}

	for _, flags := range append(bitValues, unix.CLONE_NEWUSER, unix.CLONE_NEWNET|unix.CLONE_SIGHAND, unix.CLONE_VM|unix.CLONE_VFORK|uint64(unix.SIGCHLD)) {
		want := allow
		if flags&namespaceFlags != 0 {
			want = eperm
		}
		if got := evaluate(p, auditArchX86_64, nr("clone"), [6]uint64{flags}); got != want {
			t.Fatalf("clone(%#x): policy says %s, want %s", flags, actionString(got), actionString(want))
		}
	}

	for _, pers := range append(bitValues, personalities...) {
		want := eperm
		if slices.Contains(personalities, pers) {
			want = allow
		}
		if got := evaluate(p, auditArchX86_64, nr("personality"), [6]uint64{pers}); got != want {
			t.Fatalf("personality(%#x): policy says %s, want %s", pers, actionString(got), actionString(want))
		}
	}
	if got := evaluate(p, auditArchX86_64, nr("clone3"), [6]uint64{}); got != errnoRet(unix.ENOSYS) {
		t.Fatalf("clone3: policy says %s, want errno(ENOSYS)", actionString(got))
	}
}
