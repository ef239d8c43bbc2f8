package seccomp

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/golden"
)

// TestProfileGolden loads every profile under testdata/profiles and
// compares the loaded policy, rendered in evaluation order, with its
// .golden file (go test -update rewrites them).
func TestProfileGolden(t *testing.T) {
	profiles, err := filepath.Glob(filepath.Join("testdata", "profiles", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(profiles) == 0 {
		t.Fatal("no profiles under testdata/profiles")
	}
	for _, path := range profiles {
		t.Run(filepath.Base(path), func(t *testing.T) {
			p, err := loadProfile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := p.filter()
			if err != nil {
				t.Fatal(err)
			}
			got := p.String() + "instructions: " + strconv.Itoa(f.Len()) + "\n"
			golden.Check(t, strings.TrimSuffix(path, ".json")+".golden", []byte(got))
		})
	}
}

// TestDefaultPolicyGolden pins the default profile: any change to the
// allowlist or the argument filters shows up as a diff of
// testdata/default.golden to review.
func TestDefaultPolicyGolden(t *testing.T) {
	p, err := defaultPolicy(nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.filter()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "default.golden"), []byte(p.String()+"instructions: "+strconv.Itoa(f.Len())+"\n"))
}

// TestProfileErrors: profiles the loader cannot express are refused with
// an error that names the file and says what is wrong.
func TestProfileErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"syntax", "{\n\"defaultAction\": \"SCMP_ACT_ALLOW\",\n\"syscalls\": [\n}", "line 4"},
		{"docker-format", `{"defaultAction": "SCMP_ACT_ERRNO", "archMap": []}`, `unknown field "archMap"`},
		{"docker-includes", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {}}]}`, `unknown field "includes"`},
		{"no-default", `{"syscalls": []}`, "defaultAction is missing"},
		{"trace", `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_TRACE"}]}`, "needs a tracer"},
		{"notify-default", `{"defaultAction": "SCMP_ACT_NOTIFY"}`, "needs a tracer or a notification listener"},
		{"unknown-action", `{"defaultAction": "SCMP_ACT_MAYBE"}`, `unknown action "SCMP_ACT_MAYBE"`},
		{"unknown-syscall", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "frobnicate"], "action": "SCMP_ACT_ALLOW"}]}`, `syscalls[0]: unknown syscall "frobnicate"`},
		{"empty-names", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": [], "action": "SCMP_ACT_ALLOW"}]}`, "names is empty"},
		{"foreign-arch", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_AARCH64"]}`, "do not include SCMP_ARCH_X86_64"},
		{"bad-arch", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]}`, `unknown architecture "SCMP_ARCH_VAX"`},
		{"conflict", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"names": ["read"], "action": "SCMP_ACT_KILL"}]}`, "read is already allow by syscalls[0], now kill_thread"},
		{"masked-never", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]}]}`, "can never match"},
		{"index", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`, "index 6"},
		{"bad-op", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]}`, `unknown operator "SCMP_CMP_LIKE"`},
		{"valuetwo", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "valueTwo": 3, "op": "SCMP_CMP_EQ"}]}]}`, "valueTwo is only used by SCMP_CMP_MASKED_EQ"},
		{"listener", `{"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "/run/seccomp.sock"}`, "user notification is not supported"},
		{"errno-range", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}`, "larger than the kernel's MAX_ERRNO"},
		{"errnoret-allow", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}`, "errnoRet is only meaningful with SCMP_ACT_ERRNO"},
		{"flag", `{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}`, "is not supported"},
		{"trailing", `{"defaultAction": "SCMP_ACT_ERRNO"} {}`, "trailing data"},
		{"wrong-type", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}`, "line 1"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".json")
			if err := os.WriteFile(path, []byte(tt.json), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Build(Options{Mode: ModeProfile, ProfilePath: path})
			if err == nil {
				t.Fatalf("Build accepted %s", tt.json)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want one naming %s and saying %q", err, path, tt.want)
			}
		})
	}
	t.Run("missing-file", func(t *testing.T) {
		path := filepath.Join(dir, "absent.json")
		_, err := Build(Options{Mode: ModeProfile, ProfilePath: path})
		if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("error %v, want not-exist naming %s", err, path)
		}
	})
}

// TestProfileException: a conditional rule with the default action carves
// an exception out of an unconditional rule for the same syscall
// (testdata/profiles/exception.json: personality allowed, except with
// ADDR_NO_RANDOMIZE). The assembled program is run in a BPF interpreter.
func TestProfileException(t *testing.T) {
	p, err := loadProfile(filepath.Join("testdata", "profiles", "exception.json"))
	if err != nil {
		t.Fatal(err)
	}
	prog, err := p.instructions()
	if err != nil {
		t.Fatal(err)
	}
	nr, _ := syscallNumber("personality")
	for _, tt := range []struct {
		arg  uint64
		want uint32
	}{
		{0, retAllow},
		{0x8, retAllow},
		{0x40000, errnoRet(unix.EPERM)},
		{0x40008, errnoRet(unix.EPERM)},
	} {
		if got := runProgram(t, prog, seccompData(auditArchX86_64, nr, [6]uint64{tt.arg})); got != tt.want {
			t.Errorf("personality(%#x): %s, want %s", tt.arg, actionString(got), actionString(tt.want))
		}
	}
}
