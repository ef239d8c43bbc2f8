package seccomp

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

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
// Layout:
//
//	preamble     kill foreign architectures and x32; A = nr
//	search tree  jge splits over the syscall numbers, balanced; each leaf is
//	             a run of consecutive numbers with one unconditional verdict
//	             (a shared ret after its subtree), or one syscall whose
//	             verdict depends on its arguments (a jump to its block)
//	arg blocks   per argument-checked syscall: its checks in policy order
//	             (a failing check falls to the next), then its final verdict
//
// A linear list (one jeq per syscall) was the first layout. It cost about
// 0.6 ms per install: the kernel converts and JIT-compiles every
// instruction, and fills its verdict cache by emulating the program once
// per syscall number, walking the list each time. The tree has about one
// instruction per run of numbers, and every path through it is about
// log2(runs) jumps long. The kernel (5.11+) caches the verdict of every
// syscall whose path reads no argument, so unconditionally allowed calls
// cost one bitmap lookup at run time either way; the calls the filter
// actually runs for (argument-checked and refused ones) now take about ten
// instructions to reach their block instead of up to a thousand.
//
// Classic BPF conditional jumps reach at most 255 instructions ahead. The
// assembler works with labels and, where a target ends up farther, routes
// the branch through a BPF_JA (32-bit offset) placed right after the jump;
// the layout keeps that rare (shared rets follow each subtree of at most
// poolSpan runs).

// Classic BPF opcodes used by the assembler.
const (
	ldAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	jeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	jgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	jgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	jsetK  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	jaK    = unix.BPF_JMP | unix.BPF_JA
	retK   = unix.BPF_RET | unix.BPF_K
)

// maxJump is the farthest a classic BPF conditional jump reaches (jt and jf
// are 8-bit offsets).
const maxJump = 255

// poolSpan is the largest number of runs a search subtree covers before its
// verdicts get their own shared ret instructions: about one jump per run
// plus a few rets stays within maxJump of every jump in the subtree.
const poolSpan = 128

// label names an instruction position before it is known; next is the
// instruction after the jump.
type label int32

const next label = -1

// asmInsn is one instruction; for conditional jumps, jt and jf are labels.
type asmInsn struct {
	sf     unix.SockFilter
	jt, jf label
}

// assembler collects instructions and labels and links them into a program.
type assembler struct {
	ins    []asmInsn
	labels []int // label → index in ins; -1 while unbound
	// inA is the offset of the seccomp_data word the accumulator holds at
	// the next instruction, or -1: known only when that instruction can be
	// reached by falling through (no label bound there yet, no ret before
	// it), so that a load of the same word can be left out.
	inA int
}

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// bind places l at the next instruction emitted. Jumps arrive there from
// elsewhere, so what the accumulator holds is no longer known.
func (a *assembler) bind(l label) {
	a.labels[l] = len(a.ins)
	a.inA = -1
}

// load loads the seccomp_data word at off into the accumulator, unless it
// is known to be there already.
func (a *assembler) load(off uint32) {
	if a.inA == int(off) {
		return
	}
	a.ins = append(a.ins, asmInsn{sf: unix.SockFilter{Code: ldAbsW, K: off}})
	a.inA = int(off)
}

func (a *assembler) ret(v uint32) {
	a.ins = append(a.ins, asmInsn{sf: unix.SockFilter{Code: retK, K: v}})
	a.inA = -1 // nothing falls through a ret
}

// jump appends a conditional jump: to jt when A <op> k holds, else to jf.
func (a *assembler) jump(code uint16, k uint32, jt, jf label) {
	a.ins = append(a.ins, asmInsn{sf: unix.SockFilter{Code: code, K: k}, jt: jt, jf: jf})
}

// link resolves the labels. A branch whose target is more than maxJump
// instructions ahead goes through a BPF_JA placed right after its jump
// (jt's first); since that moves later instructions, linking repeats until
// no further branch needs one.
func (a *assembler) link() ([]unix.SockFilter, error) {
	n := len(a.ins)
	target := func(i int, l label) (int, error) {
		t := i + 1
		if l != next {
			t = a.labels[l]
		}
		if t <= i || t >= n {
			return 0, fmt.Errorf("internal error: instruction %d jumps to %d of %d", i, t, n)
		}
		return t, nil
	}
	isJump := func(in asmInsn) bool { return in.sf.Code&0x07 == unix.BPF_JMP }
	viaJA := make([][2]bool, n) // [i][0]: jt goes through a JA, [i][1]: jf does
	pos := make([]int, n+1)
	for {
		for i := range n {
			extra := 0
			for _, far := range viaJA[i] {
				if far {
					extra++
				}
			}
			pos[i+1] = pos[i] + 1 + extra
		}
		changed := false
		for i, in := range a.ins {
			if !isJump(in) {
				continue
			}
			for b, l := range [2]label{in.jt, in.jf} {
				t, err := target(i, l)
				if err != nil {
					return nil, err
				}
				if !viaJA[i][b] && pos[t]-(pos[i]+1) > maxJump {
					viaJA[i][b] = true
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	prog := make([]unix.SockFilter, 0, pos[n])
	for i, in := range a.ins {
		if !isJump(in) {
			prog = append(prog, in.sf)
			continue
		}
		sf := in.sf
		var trampolines []unix.SockFilter
		for b, l := range [2]label{in.jt, in.jf} {
			t, _ := target(i, l)
			off := pos[t] - (pos[i] + 1)
			if viaJA[i][b] {
				ja := pos[i] + 1 + len(trampolines)
				trampolines = append(trampolines, unix.SockFilter{Code: jaK, K: uint32(pos[t] - (ja + 1))})
				off = ja - (pos[i] + 1)
			}
			if b == 0 {
				sf.Jt = uint8(off)
			} else {
				sf.Jf = uint8(off)
			}
		}
		prog = append(prog, sf)
		prog = append(prog, trampolines...)
	}
	return prog, nil
}

// check is one condition set of an argument-checked syscall and the action
// taken when all its conditions hold.
type check struct {
	set    []cond
	action uint32
}

// verdict is what the policy decides for one syscall number: the first of
// checks whose conditions hold, else final.
type verdict struct {
	checks    []check
	final     uint32
	decided   bool // final came from a rule, not the default action
	mentioned bool // some rule or name of the policy is this syscall
}

// verdicts reads p per syscall number: groups in order, and within a group
// its rules then its names, as evaluation order says; everything after an
// unconditional match is unreachable and dropped. The result is indexed by
// syscall number, up to the largest p mentions; every number past the end,
// and every entry not mentioned, takes the default action.
func (p *policy) verdicts() ([]verdict, error) {
	var vs []verdict
	get := func(name string) (*verdict, error) {
		nr, ok := syscallNumber(name)
		if !ok {
			return nil, fmt.Errorf("unknown syscall %q", name)
		}
		if int(nr) >= len(vs) {
			// One allocation for the usual case: the table's largest
			// number is below 512.
			vs = slices.Grow(vs, max(int(nr)+1, 512)-len(vs))[:nr+1]
		}
		v := &vs[nr]
		if !v.mentioned {
			*v = verdict{final: p.defaultAction, mentioned: true}
		}
		return v, nil
	}
	for _, g := range p.groups {
		for _, r := range g.rules {
			v, err := get(r.name)
			if err != nil {
				return nil, err
			}
			for _, set := range r.anyOf {
				if v.decided {
					break
				}
				for _, c := range set {
					if c.arg > 5 {
						return nil, fmt.Errorf("%s: argument %d: syscalls have arguments 0 to 5", r.name, c.arg)
					}
					if c.op > opNoneBits {
						return nil, fmt.Errorf("%s: unknown comparison %d", r.name, c.op)
					}
				}
				if len(set) == 0 { // no condition: always holds
					v.final, v.decided = g.action, true
					break
				}
				v.checks = append(v.checks, check{set: set, action: g.action})
			}
		}
		for _, n := range g.names {
			v, err := get(n)
			if err != nil {
				return nil, err
			}
			if !v.decided {
				v.final, v.decided = g.action, true
			}
		}
	}
	// A last check with the final action decides nothing: whether it
	// holds or not, the result is the same.
	for i := range vs {
		v := &vs[i]
		for len(v.checks) > 0 && v.checks[len(v.checks)-1].action == v.final {
			v.checks = v.checks[:len(v.checks)-1]
		}
	}
	return vs, nil
}

// run is a leaf of the search tree: the syscall numbers from lo up to the
// next run's lo, with one unconditional action, or a single
// argument-checked syscall (checked != nil).
type run struct {
	lo      uint32
	action  uint32
	checked *verdict
	block   label // checked: the label of its argument block
}

// runs splits the 32-bit syscall number space into runs, merging
// neighbouring numbers with the same unconditional action (unknown
// numbers take the default action, like any other number the policy does
// not mention).
func runs(vs []verdict, defaultAction uint32) []run {
	rs := make([]run, 0, 128)
	for nr := 0; nr <= len(vs); nr++ { // len(vs): the first number past them
		r := run{lo: uint32(nr), action: defaultAction}
		if nr < len(vs) && vs[nr].mentioned {
			if v := &vs[nr]; len(v.checks) > 0 {
				r.checked = v
			} else {
				r.action = v.final
			}
		}
		if r.checked == nil && len(rs) > 0 {
			if last := rs[len(rs)-1]; last.checked == nil && last.action == r.action {
				continue
			}
		}
		rs = append(rs, r)
	}
	return rs
}

// retPool is a set of shared ret instructions, one per action, emitted
// after the subtree that jumps to them.
type retPool struct {
	labels map[uint32]label
	order  []uint32
}

func (a *assembler) poolLabel(pool *retPool, action uint32) label {
	l, ok := pool.labels[action]
	if !ok {
		l = a.newLabel()
		pool.labels[action] = l
		pool.order = append(pool.order, action)
	}
	return l
}

func (a *assembler) flushPool(pool *retPool) {
	for _, action := range pool.order {
		a.bind(pool.labels[action])
		a.ret(action)
	}
}

// leafLabel is where a branch to run r goes.
func (a *assembler) leafLabel(r run, pool *retPool) label {
	if r.checked != nil {
		return r.block
	}
	return a.poolLabel(pool, r.action)
}

// searchTree emits the binary search over rs (at least two runs), with A
// holding the syscall number. Jumps to unconditional leaves go to pool,
// which a subtree small enough opens for itself and emits after its code.
func (a *assembler) searchTree(rs []run, pool *retPool) {
	if pool == nil && len(rs) <= poolSpan {
		pool = &retPool{labels: map[uint32]label{}}
		defer a.flushPool(pool)
	}
	mid := len(rs) / 2
	left, right := rs[:mid], rs[mid:]
	var jf, jt label = next, 0
	if len(left) == 1 {
		jf = a.leafLabel(left[0], pool)
	}
	if len(right) == 1 {
		jt = a.leafLabel(right[0], pool)
	} else {
		jt = a.newLabel()
	}
	a.jump(jgeK, right[0].lo, jt, jf)
	if len(left) > 1 {
		a.searchTree(left, pool)
	}
	if len(right) > 1 {
		a.bind(jt)
		a.searchTree(right, pool)
	}
}

// argBlock emits v's checks, each failing to the next, then v's final
// action.
//
// Neighbouring checks often start with the same conditions (the default
// socket rule: a dozen sets "arg0 == AF_INET && arg1 == TYPE && ..."). A
// condition that fails in one check fails in every following check that
// shares it, so the failure jumps past all of them; and a check is entered
// after the conditions it shares with the one before (they held there), so
// those are not emitted again.
func (a *assembler) argBlock(v *verdict) {
	n := len(v.checks)
	// shared[k]: how many leading conditions check k shares with check k+1.
	shared := make([]int, n)
	for k := 0; k+1 < n; k++ {
		x, y := v.checks[k].set, v.checks[k+1].set
		for shared[k] < min(len(x), len(y)) && x[shared[k]] == y[shared[k]] {
			shared[k]++
		}
	}
	// entry[k]: check k's first condition not shared with check k-1;
	// entry[n]: the final verdict.
	entry := make([]label, n+1)
	for k := range entry {
		entry[k] = a.newLabel()
	}
	// failTo is where condition j of check k goes when it fails: past
	// every following check that has the same conditions up to j.
	failTo := func(k, j int) label {
		m := k
		for m+1 < n && j < shared[m] {
			m++
		}
		return entry[m+1]
	}
	for k, c := range v.checks {
		a.bind(entry[k])
		first := 0
		if k > 0 {
			first = shared[k-1]
		}
		for j := first; j < len(c.set); j++ {
			a.condition(c.set[j], failTo(k, j))
		}
		a.ret(c.action)
	}
	a.bind(entry[n])
	a.ret(v.final)
}

// blockSize estimates an argument block's length, to emit short blocks
// first (nearer the search tree, so that fewer branches to them need a
// BPF_JA).
func blockSize(v *verdict) int {
	size := 1
	for _, c := range v.checks {
		size += 1 + 4*len(c.set)
	}
	return size
}

// condition emits one 64-bit comparison as two 32-bit ones (high word,
// then low word); it continues after itself when c holds and jumps to fail
// otherwise. Bit tests leave out a half whose mask is zero (it decides
// nothing).
func (a *assembler) condition(c cond, fail label) {
	hiOff, loOff := offArgs+8*c.arg+4, offArgs+8*c.arg
	vlo, vhi := uint32(c.val), uint32(c.val>>32)
	switch c.op {
	case opEqual: // hi == vhi && lo == vlo
		a.load(hiOff)
		a.jump(jeqK, vhi, next, fail)
		a.load(loOff)
		a.jump(jeqK, vlo, next, fail)
	case opNotEqual: // hi != vhi || lo != vlo
		pass := a.newLabel()
		a.load(hiOff)
		a.jump(jeqK, vhi, next, pass)
		a.load(loOff)
		a.jump(jeqK, vlo, fail, next)
		a.bind(pass)
	case opGreater, opGreaterEqual: // hi > vhi || (hi == vhi && lo >(=) vlo)
		loTest := uint16(jgtK)
		if c.op == opGreaterEqual {
			loTest = jgeK
		}
		pass := a.newLabel()
		a.load(hiOff)
		a.jump(jgtK, vhi, pass, next)
		a.jump(jeqK, vhi, next, fail)
		a.load(loOff)
		a.jump(loTest, vlo, next, fail)
		a.bind(pass)
	case opLess, opLessEqual: // hi < vhi || (hi == vhi && lo <(=) vlo)
		loFail := uint16(jgeK) // lo >= vlo fails "<"
		if c.op == opLessEqual {
			loFail = jgtK
		}
		pass := a.newLabel()
		a.load(hiOff)
		a.jump(jgeK, vhi, next, pass)
		a.jump(jeqK, vhi, next, fail)
		a.load(loOff)
		a.jump(loFail, vlo, fail, next)
		a.bind(pass)
	case opAnyBits: // hi & vhi != 0 || lo & vlo != 0
		switch {
		case vhi == 0 && vlo == 0: // never holds
			a.jump(jeqK, 0, fail, fail)
		case vhi == 0:
			a.load(loOff)
			a.jump(jsetK, vlo, next, fail)
		case vlo == 0:
			a.load(hiOff)
			a.jump(jsetK, vhi, next, fail)
		default:
			pass := a.newLabel()
			a.load(hiOff)
			a.jump(jsetK, vhi, pass, next)
			a.load(loOff)
			a.jump(jsetK, vlo, next, fail)
			a.bind(pass)
		}
	case opNoneBits: // hi & vhi == 0 && lo & vlo == 0
		if vhi != 0 {
			a.load(hiOff)
			a.jump(jsetK, vhi, fail, next)
		}
		if vlo != 0 {
			a.load(loOff)
			a.jump(jsetK, vlo, fail, next)
		}
	}
}

// instructions assembles p. It writes the program directly as
// sock_filter structs: going through golang.org/x/net/bpf's Instruction
// interface cost more than the rest of the assembly.
func (p *policy) instructions() ([]unix.SockFilter, error) {
	vs, err := p.verdicts()
	if err != nil {
		return nil, fmt.Errorf("assemble %s: %w", p.source, err)
	}
	a := &assembler{ins: make([]asmInsn, 0, 512), labels: make([]int, 0, 256), inA: -1}

	// Foreign architectures (i386 via int 0x80, anything else) die: their
	// syscall numbers mean different calls, so no rule applies.
	native, search := a.newLabel(), a.newLabel()
	a.load(offArch)
	a.jump(jeqK, auditArchX86_64, native, next)
	a.ret(retKillProcess)
	a.bind(native)
	// x32 shares the arch value; its numbers carry __X32_SYSCALL_BIT.
	// nr == -1 is not x32: ptrace and seccomp use it to skip a call, and
	// it gets the default action like any other unknown number.
	a.load(offNr)
	a.jump(jgeK, x32SyscallBit, next, search)
	a.jump(jeqK, 0xffffffff, search, next)
	a.ret(retKillProcess)
	a.bind(search)

	rs := runs(vs, p.defaultAction)
	var checked []*run
	for i := range rs {
		if rs[i].checked != nil {
			rs[i].block = a.newLabel()
			checked = append(checked, &rs[i])
		}
	}
	slices.SortStableFunc(checked, func(x, y *run) int { return blockSize(x.checked) - blockSize(y.checked) })
	if len(rs) == 1 { // every number has the default action
		a.ret(p.defaultAction)
	} else {
		a.searchTree(rs, nil)
	}
	for _, r := range checked {
		a.bind(r.block)
		a.argBlock(r.checked)
	}
	prog, err := a.link()
	if err != nil {
		return nil, fmt.Errorf("assemble %s: %w", p.source, err)
	}
	if len(prog) > maxInstructions {
		return nil, fmt.Errorf("assemble %s: %d BPF instructions, the kernel allows %d", p.source, len(prog), maxInstructions)
	}
	return prog, nil
}
