package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestOneSpawnerThread: the workload and concurrent exec probes are all
// forked by one thread of init (the spawner), which carries the workload's
// identity, no_new_privs and seccomp filter; every other thread of init
// keeps root's ids and no filter, and later probes still come from the
// same thread.
func TestOneSpawnerThread(t *testing.T) {
	s := newSpec(t, "/bin/busybox", "sleep", "1000")
	s.Exec.User = "nobody"
	c, _, _, _ := start(t, s, sandbox.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	codes := make(chan int, 2)
	for range 2 {
		go func() {
			code, _, _ := c.Exec(ctx, []string{"/bin/busybox", "sleep", "1000"})
			codes <- code
		}()
	}
	var forkedBy map[string]string
	for i := 0; i < 500; i++ {
		if forkedBy = forkingThreads(c.Pid()); len(forkedBy) == 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(forkedBy) != 3 {
		t.Fatalf("init's children by forking thread: %v, want the workload and two probes", forkedBy)
	}
	var spawner string
	for _, tid := range forkedBy {
		if spawner != "" && tid != spawner {
			t.Fatalf("children forked by different threads (child: thread): %v", forkedBy)
		}
		spawner = tid
	}
	checkThreads := func() {
		t.Helper()
		for _, tid := range taskIDs(c.Pid()) {
			st := threadStatus(t, c.Pid(), tid)
			want := map[string]string{"Uid": "0 0 0 0", "Gid": "0 0 0 0", "NoNewPrivs": "0", "Seccomp": "0"}
			if tid == spawner {
				want = map[string]string{"Uid": "65534 65534 65534 65534", "Gid": "65534 65534 65534 65534", "NoNewPrivs": "1", "Seccomp": "2"}
			}
			for k, v := range want {
				if st[k] != v {
					t.Errorf("thread %s (spawner %s): %s %q, want %q", tid, spawner, k, st[k], v)
				}
			}
		}
	}
	checkThreads()
	cancel()
	for range 2 {
		if code := <-codes; code != 128+9 {
			t.Errorf("cancelled probe status %d, want 137", code)
		}
	}
	for i := 0; i < 20; i++ {
		if code, out, err := c.Exec(context.Background(), []string{"/bin/busybox", "id", "-u"}); err != nil || code != 0 || string(out) != "65534\n" {
			t.Fatalf("probe %d: %d %q %v, want 0 \"65534\\n\"", i, code, out, err)
		}
	}
	checkThreads()
	if got := forkingThreads(c.Pid()); len(got) != 1 || got[firstKey(got)] != spawner {
		t.Errorf("after the probes init's children by forking thread are %v, want the workload by %s", got, spawner)
	}
}

// TestSpawnerFilterRefused: a custom profile under which init's spawner
// thread could not park (futex refused) fails Start with a message naming
// the call, instead of a container whose probes hang.
func TestSpawnerFilterRefused(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "profile.json")
	const p = `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
  "syscalls": [{"names": ["futex"], "action": "SCMP_ACT_ERRNO"}]}`
	if err := os.WriteFile(profile, []byte(p), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newSpec(t, "/bin/true")
	s.Isolation.Seccomp = spec.SeccompProfile
	s.Isolation.SeccompProfile = profile
	c, err := sandbox.Start(s, sandbox.Options{})
	if err == nil {
		c.Kill()
		c.Wait()
		t.Fatal("Start succeeded under a profile that refuses futex")
	}
	if !strings.Contains(err.Error(), "answers futex with errno(EPERM)") || !strings.Contains(err.Error(), "allow futex in the profile") {
		t.Fatalf("error %q does not say that futex must be allowed", err)
	}
}

// forkingThreads maps each child of pid to the thread of pid that forked
// it (/proc/PID/task/TID/children lists a thread's own children).
func forkingThreads(pid int) map[string]string {
	out := map[string]string{}
	for _, tid := range taskIDs(pid) {
		b, _ := os.ReadFile("/proc/" + itoa(pid) + "/task/" + tid + "/children")
		for _, child := range strings.Fields(string(b)) {
			out[child] = tid
		}
	}
	return out
}

// threadStatus reads the fields of /proc/PID/task/TID/status, with runs of
// whitespace in values collapsed to one space.
func threadStatus(t *testing.T, pid int, tid string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/task/" + tid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	st := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			st[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return st
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

// BenchmarkExecProbe is what one exec probe of /bin/true costs through
// Container.Exec: wall time per op, and (load-independent) the CPU time
// init and the probes it reaped spent per op, from /proc/PID/stat.
func BenchmarkExecProbe(b *testing.B) {
	s := newSpec(b, "/bin/busybox", "sleep", "1000")
	c, _, _, _ := start(b, s, sandbox.Options{})
	ctx := context.Background()
	if code, _, err := c.Exec(ctx, []string{"/bin/true"}); err != nil || code != 0 {
		b.Fatalf("warm-up probe: %d %v", code, err)
	}
	before := cpuTicks(b, c.Pid())
	for b.Loop() {
		if code, _, err := c.Exec(ctx, []string{"/bin/true"}); err != nil || code != 0 {
			b.Fatalf("probe: %d %v", code, err)
		}
	}
	ticks := cpuTicks(b, c.Pid()) - before
	b.ReportMetric(float64(ticks)*1000/clockTicksPerSecond/float64(b.N), "init-cpu-ms/op")
}

// clockTicksPerSecond is USER_HZ, the unit of /proc/PID/stat's times (100
// on every Linux architecture Go supports).
const clockTicksPerSecond = 100

// cpuTicks is utime+stime+cutime+cstime of pid.
func cpuTicks(b *testing.B, pid int) int {
	b.Helper()
	st, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	i := strings.LastIndexByte(string(st), ')')
	fields := strings.Fields(string(st)[i+1:])
	total := 0
	for _, f := range fields[11:15] {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("stat field %q: %v", f, err)
		}
		total += n
	}
	return total
}
