package sandbox

import (
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// TestManPageListsSpawnerSyscalls: nucleus.toml(5) tells the writer of a
// custom seccomp profile which calls the spawner thread needs. The page's
// two lists (must allow; must not kill or trap on) are exactly
// spawnerSyscalls, split by mustRun.
func TestManPageListsSpawnerSyscalls(t *testing.T) {
	page, err := os.ReadFile("../../man/nucleus.toml.5")
	if err != nil {
		t.Fatal(err)
	}
	text := string(page)
	start := strings.Index(text, "so the profile must allow")
	split := strings.Index(text, "and must not kill or trap on")
	end := strings.Index(text, "(an errno is fine)")
	if start < 0 || split < start || end < split {
		t.Fatal("nucleus.toml(5) no longer has the seccomp profile's lists of the spawner thread's calls")
	}
	names := func(s string) map[string]bool {
		set := map[string]bool{}
		for _, line := range strings.Split(s, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && (f[0] == ".B" || f[0] == ".BR") {
				set[f[1]] = true
			}
		}
		return set
	}
	mustAllow, mayFail := names(text[start:split]), names(text[split:end])
	want := map[bool]map[string]bool{true: {}, false: {}}
	for _, c := range spawnerSyscalls {
		want[c.mustRun][c.name] = true
	}
	if !reflect.DeepEqual(mustAllow, want[true]) {
		t.Errorf("the page says the profile must allow %v; spawnerSyscalls has %v", keys(mustAllow), keys(want[true]))
	}
	if !reflect.DeepEqual(mayFail, want[false]) {
		t.Errorf("the page says the profile must not kill or trap on %v; spawnerSyscalls has %v", keys(mayFail), keys(want[false]))
	}
}

func keys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}
