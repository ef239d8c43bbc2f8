package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// maxErrno is the largest errno a SECCOMP_RET_ERRNO may carry (MAX_ERRNO).
const maxErrno = 4095

// isOCIArch reports whether a is an architecture name runtime-spec defines
// (a switch rather than a map: no package initialisation).
func isOCIArch(a specs.Arch) bool {
	switch a {
	case specs.ArchX86, specs.ArchX86_64, specs.ArchX32, specs.ArchARM,
		specs.ArchAARCH64, specs.ArchMIPS, specs.ArchMIPS64, specs.ArchMIPS64N32,
		specs.ArchMIPSEL, specs.ArchMIPSEL64, specs.ArchMIPSEL64N32, specs.ArchPPC,
		specs.ArchPPC64, specs.ArchPPC64LE, specs.ArchS390, specs.ArchS390X,
		specs.ArchPARISC, specs.ArchPARISC64, specs.ArchRISCV64,
		specs.ArchLOONGARCH64, specs.ArchM68K, specs.ArchSH, specs.ArchSHEB:
		return true
	}
	return false
}

// loadProfile reads the OCI-format (runtime-spec LinuxSeccomp) JSON profile
// at path. Every error names the file.
func loadProfile(path string) (*policy, error) {
	if path == "" {
		return nil, errors.New("seccomp: profile mode without a profile path")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	p, err := parseProfile(data)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", path, err)
	}
	p.source = path
	return p, nil
}

// parseProfile decodes and converts one profile. Unknown JSON fields are
// errors: Docker's own profile format (archMap, includes, excludes) carries
// conditions this loader cannot evaluate, and a misspelt key would
// otherwise be a rule silently ignored.
func parseProfile(data []byte) (*policy, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s specs.LinuxSeccomp
	if err := dec.Decode(&s); err != nil {
		return nil, jsonError(data, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return convertProfile(&s)
}

// jsonError adds the line to a decoding error and a hint for Docker's
// profile format.
func jsonError(data []byte, dec *json.Decoder, err error) error {
	offset := dec.InputOffset()
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line := 1 + bytes.Count(data[:offset], []byte("\n"))
	msg := fmt.Sprintf("line %d: %v", line, err)
	if strings.Contains(err.Error(), "unknown field") {
		msg += " (nucleus reads runtime-spec LinuxSeccomp profiles: defaultAction, defaultErrnoRet, architectures, flags, syscalls; Docker's archMap/includes/excludes format must be converted first)"
	}
	return errors.New(msg)
}

func convertProfile(s *specs.LinuxSeccomp) (*policy, error) {
	p := &policy{}
	var err error
	if s.DefaultAction == "" {
		return nil, errors.New("defaultAction is missing")
	}
	if p.defaultAction, err = ociAction(s.DefaultAction, s.DefaultErrnoRet); err != nil {
		return nil, fmt.Errorf("defaultAction: %w", err)
	}
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return nil, errors.New("listenerPath/listenerMetadata: seccomp user notification is not supported")
	}

	if len(s.Architectures) > 0 {
		native := false
		for _, a := range s.Architectures {
			switch {
			case a == specs.ArchX86_64:
				native = true
			case isOCIArch(a):
				p.otherArches = append(p.otherArches, strings.ToLower(strings.TrimPrefix(string(a), "SCMP_ARCH_")))
			default:
				return nil, fmt.Errorf("architectures: unknown architecture %q", a)
			}
		}
		if !native {
			return nil, fmt.Errorf("architectures %v do not include SCMP_ARCH_X86_64, the only architecture nucleus filters (others are killed)", s.Architectures)
		}
	}

	for _, f := range s.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			p.flags |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			p.flags |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		default:
			return nil, fmt.Errorf("flags: %q is not supported (only SECCOMP_FILTER_FLAG_LOG and SECCOMP_FILTER_FLAG_SPEC_ALLOW)", f)
		}
		p.flagNames = append(p.flagNames, string(f))
	}

	// Rules with argument conditions go first, one group per entry in file
	// order, so that a specific rule wins over a catch-all rule for the
	// same syscall; unconditional rules follow, one group per action.
	type uncond struct {
		action uint32
		entry  int
	}
	unconditional := make(map[string]uncond, len(x86_64Syscalls))
	var uncondOrder []uint32
	uncondNames := map[uint32][]string{}
	var condGroups []group
	skipped := map[string]bool{}

	for i, sc := range s.Syscalls {
		where := fmt.Sprintf("syscalls[%d]", i)
		if len(sc.Names) == 0 {
			return nil, fmt.Errorf("%s: names is empty", where)
		}
		action, err := ociAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", where, strings.Join(sc.Names, ","), err)
		}
		var names []string
		seen := make(map[string]bool, len(sc.Names))
		for _, n := range sc.Names {
			switch {
			case seen[n]:
				continue
			case Known(n):
				names = append(names, n)
			case knownElsewhere(n):
				if !skipped[n] {
					skipped[n] = true
					p.skipped = append(p.skipped, n)
				}
			default:
				return nil, fmt.Errorf("%s: unknown syscall %q (not in the Linux 6.15 tables for x86_64, i386, x32, arm or aarch64)", where, n)
			}
			seen[n] = true
		}
		if len(sc.Args) == 0 {
			if action == p.defaultAction {
				continue // a no-op rule; runc skips it too
			}
			for _, n := range names {
				if prev, ok := unconditional[n]; ok {
					if prev.action != action {
						return nil, fmt.Errorf("%s: %s is already %s by syscalls[%d], now %s", where, n, actionString(prev.action), prev.entry, actionString(action))
					}
					continue
				}
				unconditional[n] = uncond{action, i}
				if _, ok := uncondNames[action]; !ok {
					uncondOrder = append(uncondOrder, action)
				}
				uncondNames[action] = append(uncondNames[action], n)
			}
			continue
		}
		sets, err := ociConditions(sc.Args)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", where, strings.Join(sc.Names, ","), err)
		}
		if len(names) == 0 {
			continue
		}
		// A conditional rule with the default action is kept (runc drops
		// it, because libseccomp refuses it): evaluated before the
		// unconditional rules, it carves an exception out of a rule that
		// allows the same syscall, which is what the profile says.
		g := group{action: action}
		for _, n := range names {
			g.rules = append(g.rules, argRule{name: n, anyOf: sets})
		}
		condGroups = append(condGroups, g)
	}

	// A conditional rule whose syscall is also unconditionally given the
	// same action adds nothing.
	for _, g := range condGroups {
		var rules []argRule
		for _, r := range g.rules {
			if u, ok := unconditional[r.name]; ok && u.action == g.action {
				continue
			}
			rules = append(rules, r)
		}
		if len(rules) > 0 {
			p.groups = append(p.groups, group{action: g.action, rules: rules})
		}
	}
	for _, a := range uncondOrder {
		p.groups = append(p.groups, group{action: a, names: uncondNames[a]})
	}
	return p, nil
}

// knownElsewhere reports whether name is a syscall of i386, x32, arm or
// aarch64 but not x86_64 (Docker-derived OCI profiles list such names next
// to x86_64 ones). Those names are skipped, as runc does; a name in no
// table is an error, because silently dropping a rule could widen the
// filter.
func knownElsewhere(name string) bool {
	i := sort.SearchStrings(foreignSyscalls[:], name)
	return i < len(foreignSyscalls) && foreignSyscalls[i] == name
}

// ociAction maps an OCI action (and errnoRet) to a SECCOMP_RET_* value.
func ociAction(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	if errnoRet != nil && a != specs.ActErrno {
		return 0, fmt.Errorf("errnoRet is only meaningful with SCMP_ACT_ERRNO, not %s", a)
	}
	switch a {
	case specs.ActAllow:
		return retAllow, nil
	case specs.ActErrno:
		e := uint(unix.EPERM)
		if errnoRet != nil {
			e = *errnoRet
		}
		if e > maxErrno {
			return 0, fmt.Errorf("errno %d is larger than the kernel's MAX_ERRNO %d", e, maxErrno)
		}
		return retErrno | uint32(e), nil
	case specs.ActKill, specs.ActKillThread: // libseccomp's SCMP_ACT_KILL is KILL_THREAD
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActTrace, specs.ActNotify:
		return 0, fmt.Errorf("action %s needs a tracer or a notification listener, which nucleus does not run", a)
	case "":
		return 0, errors.New("action is missing")
	}
	return 0, fmt.Errorf("unknown action %q", a)
}

// ociConditions converts an entry's argument comparisons into condition
// sets (any set matching matches the entry). As in runc, the comparisons
// are ANDed, except when two of them name the same argument: then each is
// its own alternative (libseccomp's old behaviour, which profiles such as
// Docker's rely on for "arg0 == A or arg0 == B").
func ociConditions(args []specs.LinuxSeccompArg) ([][]cond, error) {
	repeated := false
	seen := map[uint]bool{}
	for _, a := range args {
		if seen[a.Index] {
			repeated = true
		}
		seen[a.Index] = true
	}
	var sets [][]cond
	var all []cond
	for j, a := range args {
		conds, err := ociCondition(a)
		if err != nil {
			return nil, fmt.Errorf("args[%d]: %w", j, err)
		}
		if repeated {
			sets = append(sets, conds)
		} else {
			all = append(all, conds...)
		}
	}
	if !repeated {
		sets = [][]cond{all}
	}
	return sets, nil
}

// ociCondition converts one comparison; SCMP_CMP_MASKED_EQ becomes a
// conjunction of bit tests.
func ociCondition(a specs.LinuxSeccompArg) ([]cond, error) {
	if a.Index > 5 {
		return nil, fmt.Errorf("index %d: syscalls have arguments 0 to 5", a.Index)
	}
	idx := uint32(a.Index)
	simple := map[specs.LinuxSeccompOperator]op{
		specs.OpEqualTo: opEqual, specs.OpNotEqual: opNotEqual,
		specs.OpLessThan: opLess, specs.OpLessEqual: opLessEqual,
		specs.OpGreaterThan: opGreater, specs.OpGreaterEqual: opGreaterEqual,
	}
	if o, ok := simple[a.Op]; ok {
		if a.ValueTwo != 0 {
			return nil, fmt.Errorf("valueTwo is only used by SCMP_CMP_MASKED_EQ, not %s", a.Op)
		}
		return []cond{{arg: idx, op: o, val: a.Value}}, nil
	}
	if a.Op != specs.OpMaskedEqual {
		return nil, fmt.Errorf("unknown operator %q", a.Op)
	}
	// (arg & mask) == want: every bit of want set, no other bit of mask.
	mask, want := a.Value, a.ValueTwo
	if want&^mask != 0 {
		return nil, fmt.Errorf("SCMP_CMP_MASKED_EQ can never match: valueTwo %#x has bits outside the mask %#x", want, mask)
	}
	var conds []cond
	for w := want; w != 0; w &= w - 1 {
		bit := uint64(1) << bits.TrailingZeros64(w)
		conds = append(conds, cond{arg: idx, op: opAnyBits, val: bit})
	}
	if rest := mask &^ want; rest != 0 {
		conds = append(conds, cond{arg: idx, op: opNoneBits, val: rest})
	}
	if len(conds) == 0 {
		// A zero mask matches everything: (arg & 0) == 0.
		conds = append(conds, cond{arg: idx, op: opNoneBits, val: 0})
	}
	return conds, nil
}
