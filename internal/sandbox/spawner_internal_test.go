package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/seccomp"
)

// TestSpawnerSyscallCheck: a filter under which the spawner thread could
// not park, get memory or fork is refused when it is built, naming the
// call; one that merely makes a call the runtime can do without fail
// (errno) is accepted, but not one that kills or traps on it.
func TestSpawnerSyscallCheck(t *testing.T) {
	profile := func(rules string) seccompPlan {
		path := filepath.Join(t.TempDir(), "profile.json")
		p := `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [` + rules + `]}`
		if err := os.WriteFile(path, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		return seccompPlan{Mode: seccomp.ModeProfile, ProfilePath: path}
	}
	tests := []struct {
		name string
		plan seccompPlan
		want string // "" = accepted; else a substring of the error
	}{
		{"default", seccompPlan{Mode: seccomp.ModeDefault}, ""},
		{"default with extra", seccompPlan{Mode: seccomp.ModeDefault, Allow: []string{"vhangup"}}, ""},
		{"unconfined", seccompPlan{Mode: seccomp.ModeUnconfined}, ""},
		{"allow all", profile(``), ""},
		{"futex errno", profile(`{"names": ["futex"], "action": "SCMP_ACT_ERRNO"}`),
			"answers futex with errno(EPERM)"},
		{"private futex wait only", profile(`{"names": ["futex"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 128, "op": "SCMP_CMP_EQ"}]}`),
			"allow futex in the profile"},
		{"mmap kill", profile(`{"names": ["mmap"], "action": "SCMP_ACT_KILL_PROCESS"}`), "answers mmap with kill_process"},
		{"clone with CLONE_PIDFD", profile(`{"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 4096, "valueTwo": 4096, "op": "SCMP_CMP_MASKED_EQ"}]}`),
			"answers clone with errno(EPERM)"},
		{"sched_yield errno", profile(`{"names": ["sched_yield"], "action": "SCMP_ACT_ERRNO"}`), ""},
		{"sched_yield kill", profile(`{"names": ["sched_yield"], "action": "SCMP_ACT_KILL"}`), "answers sched_yield with kill_thread"},
		{"tgkill trap", profile(`{"names": ["tgkill"], "action": "SCMP_ACT_TRAP"}`), "answers tgkill with trap"},
		{"workload-only calls", profile(`{"names": ["mkdir", "mkdirat", "socket"], "action": "SCMP_ACT_KILL"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildSeccomp(tt.plan)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q lacks %q", err, tt.want)
			}
		})
	}
}
