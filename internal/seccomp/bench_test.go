package seccomp

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkBuildDefault is what a container start pays for its filter:
// the default profile assembled from scratch (the per-process cache is
// bypassed, since nucleus-exec builds it once per start).
func BenchmarkBuildDefault(b *testing.B) {
	for b.Loop() {
		p, err := defaultPolicy(nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.filter(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildDefaultAllow adds seccomp_allow names.
func BenchmarkBuildDefaultAllow(b *testing.B) {
	for b.Loop() {
		if _, err := Build(Options{Mode: ModeDefault, Allow: []string{"syslog", "kcmp", "read"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildProfile loads and assembles a Docker-sized OCI profile.
func BenchmarkBuildProfile(b *testing.B) {
	for b.Loop() {
		if _, err := Build(Options{Mode: ModeProfile, ProfilePath: "testdata/profiles/runc.json"}); err != nil {
			b.Fatal(err)
		}
	}
}

// The kernel-side benchmarks run in a child process (this test binary
// re-executed with benchEnv set to a JSON benchJob), so that no filter is
// ever installed on a thread of the benchmarking process. The child prints
// the nanoseconds the measured part took, in total; the parent reports
// them per operation as ns/op (replacing the child's start-up time, which
// is not what is measured).
const benchEnv = "NUCLEUS_SECCOMP_BENCH_CHILD"

type benchJob struct {
	Kind   string // "install" or "syscall"
	Filter string // "default", "unconfined" or "profile:PATH"
	Call   string // for "syscall": a key of benchCalls
	N      int
}

func (j benchJob) options() Options {
	switch {
	case j.Filter == "unconfined":
		return Options{Mode: ModeUnconfined}
	case strings.HasPrefix(j.Filter, "profile:"):
		return Options{Mode: ModeProfile, ProfilePath: strings.TrimPrefix(j.Filter, "profile:")}
	}
	return Options{Mode: ModeDefault}
}

// benchCalls are the syscalls whose cost under a filter is measured, one of
// each kind of path through the program: getppid is unconditionally
// allowed (the kernel caches its verdict and skips the filter), ioctl and
// personality are allowed after argument checks (the filter runs on every
// call), ptrace is refused (the filter runs and returns EPERM).
var benchCalls = map[string]func(pipeFD int, n *int32) (uintptr, uintptr, uintptr){
	"getppid": func(int, *int32) (uintptr, uintptr, uintptr) { return unix.SYS_GETPPID, 0, 0 },
	"ioctl-fionread": func(fd int, n *int32) (uintptr, uintptr, uintptr) {
		return unix.SYS_IOCTL, uintptr(fd), unix.TIOCINQ
	},
	"personality-query": func(int, *int32) (uintptr, uintptr, uintptr) { return unix.SYS_PERSONALITY, 0xffffffff, 0 },
	"ptrace-refused":    func(int, *int32) (uintptr, uintptr, uintptr) { return unix.SYS_PTRACE, unix.PTRACE_PEEKDATA, 0 },
}

// runBenchChild is the child's side of a kernel-side benchmark.
func runBenchChild(spec string) int {
	var j benchJob
	if err := json.Unmarshal([]byte(spec), &j); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := Build(j.options())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var elapsed time.Duration
	switch j.Kind {
	case "install":
		if f == nil {
			fmt.Fprintln(os.Stderr, "install benchmark without a filter")
			return 2
		}
		// Each install on a fresh thread that dies with its goroutine
		// (Install leaves it locked), so filters never stack.
		type result struct {
			d   time.Duration
			err error
		}
		results := make(chan result)
		for range j.N {
			go func() {
				start := time.Now()
				err := f.Install()
				results <- result{time.Since(start), err}
			}()
			r := <-results
			if r.err != nil {
				fmt.Fprintln(os.Stderr, r.err)
				return 2
			}
			elapsed += r.d
		}
	case "syscall":
		call, ok := benchCalls[j.Call]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown call %q\n", j.Call)
			return 2
		}
		var pipe [2]int
		if err := unix.Pipe(pipe[:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		var n int32
		runtime.LockOSThread()
		if f != nil {
			if err := f.Install(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
		nr, a0, a1 := call(pipe[0], &n)
		a2 := uintptr(unsafe.Pointer(&n))
		start := time.Now()
		for range j.N {
			unix.RawSyscall(nr, a0, a1, a2)
		}
		elapsed = time.Since(start)
		runtime.KeepAlive(&n)
	default:
		fmt.Fprintf(os.Stderr, "unknown benchmark kind %q\n", j.Kind)
		return 2
	}
	fmt.Println(elapsed.Nanoseconds())
	return 0
}

// runBench runs job in a child with N = b.N and reports its time per op.
func runBench(b *testing.B, job benchJob) {
	b.Helper()
	job.N = b.N
	spec, err := json.Marshal(job)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), benchEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("benchmark child %s: %v", spec, err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		b.Fatalf("benchmark child %s: output %q: %v", spec, out, err)
	}
	b.ReportMetric(float64(ns)/float64(b.N), "ns/op")
}

// BenchmarkInstall is seccomp(SECCOMP_SET_MODE_FILTER) with no_new_privs,
// on a fresh thread each time: the kernel checks the program, converts it
// to eBPF, JIT-compiles it, and emulates it once per syscall number to
// fill its verdict cache. Each of those is proportional to the program's
// length (the last one to the length of the path to each verdict).
// denylist.json, a few instructions long, shows the part that does not
// depend on the program (allocations, the JIT's executable memory).
func BenchmarkInstall(b *testing.B) {
	for _, filter := range []string{"default", "profile:testdata/profiles/runc.json", "profile:testdata/profiles/denylist.json"} {
		b.Run(strings.TrimPrefix(filter, "profile:testdata/profiles/"), func(b *testing.B) {
			runBench(b, benchJob{Kind: "install", Filter: filter})
		})
	}
}

// BenchmarkSyscall is the cost of one syscall of the workload, unconfined
// and under the default filter (see benchCalls for what each call shows).
func BenchmarkSyscall(b *testing.B) {
	for _, call := range []string{"getppid", "ioctl-fionread", "personality-query", "ptrace-refused"} {
		for _, filter := range []string{"unconfined", "default"} {
			b.Run(call+"/"+filter, func(b *testing.B) {
				runBench(b, benchJob{Kind: "syscall", Filter: filter, Call: call})
			})
		}
	}
}
