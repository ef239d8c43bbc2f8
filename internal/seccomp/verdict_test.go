package seccomp

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestVerdictMatchesInterpreter runs Verdict and golang.org/x/net/bpf's
// interpreter on the same programs (the default filter, one with extra
// names, and an OCI profile with argument rules) for every x86_64 syscall
// and a spread of argument values: both must return the same action.
func TestVerdictMatchesInterpreter(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "p.json")
	const p = `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [
  {"names": ["futex"], "action": "SCMP_ACT_KILL_THREAD", "args": [{"index": 1, "value": 128, "op": "SCMP_CMP_EQ"}]},
  {"names": ["read", "write", "mmap"], "action": "SCMP_ACT_ALLOW"},
  {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}`
	if err := os.WriteFile(profile, []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	filters := map[string]Options{
		"default":       {Mode: ModeDefault},
		"default+extra": {Mode: ModeDefault, Allow: []string{"vhangup"}},
		"profile":       {Mode: ModeProfile, ProfilePath: profile},
	}
	argValues := []uint64{0, 1, 8, 128, 129, unix.CLONE_NEWUSER, unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD), ^uint64(0), 1 << 40}
	for name, o := range filters {
		t.Run(name, func(t *testing.T) {
			f, err := Build(o)
			if err != nil {
				t.Fatal(err)
			}
			vm := newVM(t, f.prog)
			for _, sc := range x86_64Syscalls {
				for _, v := range argValues {
					args := [6]uint64{v, v, v, v, v, v}
					runs, action, err := f.Verdict(sc.name, args)
					if err != nil {
						t.Fatalf("%s: %v", sc.name, err)
					}
					want, err := vm.Run(referenceData(sc.nr, args))
					if err != nil {
						t.Fatal(err)
					}
					if wantAction := actionString(uint32(want)); action != wantAction {
						t.Fatalf("%s(%#x): Verdict %s, interpreter %s", sc.name, v, action, wantAction)
					}
					wantRuns := uint32(want)&unix.SECCOMP_RET_ACTION_FULL == retAllow || uint32(want)&unix.SECCOMP_RET_ACTION_FULL == retLog
					if runs != wantRuns {
						t.Fatalf("%s(%#x): runs = %v for %s", sc.name, v, runs, action)
					}
				}
			}
		})
	}
}

// TestVerdict pins a few verdicts a caller relies on, and the errors.
func TestVerdict(t *testing.T) {
	def, err := Build(Options{Mode: ModeDefault})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f      *Filter
		name   string
		args   [6]uint64
		runs   bool
		action string
	}{
		{def, "futex", [6]uint64{0, 128}, true, "allow"},
		{def, "keyctl", [6]uint64{}, false, "errno(EPERM)"},
		{def, "clone", [6]uint64{unix.CLONE_NEWUSER}, false, "errno(EPERM)"},
		{def, "clone3", [6]uint64{}, false, "errno(ENOSYS)"},
		{nil, "keyctl", [6]uint64{}, true, "allow"}, // nil: unconfined
	}
	for _, tt := range tests {
		runs, action, err := tt.f.Verdict(tt.name, tt.args)
		if err != nil || runs != tt.runs || action != tt.action {
			t.Errorf("Verdict(%s, %#x) = %v %q %v, want %v %q", tt.name, tt.args[0], runs, action, err, tt.runs, tt.action)
		}
	}
	if _, _, err := def.Verdict("no_such_call", [6]uint64{}); err == nil {
		t.Error("Verdict of an unknown name succeeded")
	}
}

// referenceData is struct seccomp_data for x/net/bpf, which loads words
// big-endian: each 32-bit word is stored big-endian where the kernel's
// little-endian layout puts it, so the program sees the kernel's values.
func referenceData(nr uint32, args [6]uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], nr)
	binary.BigEndian.PutUint32(b[offArch:], auditArchX86_64)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}
