package sandbox_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// parseOutcomes reads "name<TAB>outcome" lines.
func parseOutcomes(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			m[k] = v
		}
	}
	return m
}

// hostListener is a TCP listener on the host's 127.0.0.1.
func hostListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func TestEscapeBattery(t *testing.T) {
	hostname, _ := os.Hostname()
	s := withProbe(t, newSpec(t), "escape")
	s.Exec.Environment["HOST_PID"] = strconv.Itoa(os.Getpid())
	s.Exec.Environment["HOST_PORT"] = hostListener(t)

	r := run(t, s)
	if r.status != 0 {
		t.Fatalf("probe exited %d\nstdout:\n%s\nstderr:\n%s", r.status, r.stdout, r.stderr)
	}
	got := parseOutcomes(r.stdout)
	t.Logf("outcomes:\n%s", r.stdout)
	t.Logf("logs: %v", r.logs)
	_, kcoreErr := os.Stat("/proc/kcore")
	_, sysrqErr := os.Stat("/proc/sysrq-trigger")
	for _, tc := range escapeWant(kcoreErr == nil, sysrqErr == nil) {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := got[tc.name]
			if !ok {
				t.Fatalf("attempt %s did not report", tc.name)
			}
			for _, w := range tc.want {
				if g == w {
					return
				}
			}
			t.Errorf("%s: got %q, want one of %q (%s)", tc.name, g, tc.want, tc.why)
		})
	}
	if h, _ := os.Hostname(); h != hostname {
		t.Errorf("host hostname changed from %q to %q", hostname, h)
	}
}

type escapeCase struct {
	name string
	want []string
	why  string
}

// escapeWant is the expected outcome of every escape attempt in the default
// sandbox. Where two errnos are listed, both mean "refused" and which one
// comes first depends on the kernel's order of checks (seccomp answers
// EPERM before the kernel would say EACCES).
func escapeWant(hasKcore, hasSysrq bool) []escapeCase {
	absentOr := func(present bool, want ...string) []string {
		if present {
			return want
		}
		return []string{"ENOENT"} // this kernel has no such file
	}
	return []escapeCase{
		{"mount", []string{"EPERM"}, "no CAP_SYS_ADMIN; seccomp"},
		{"umount", []string{"EPERM"}, "no CAP_SYS_ADMIN; seccomp"},
		{"unshare-user", []string{"EPERM"}, "seccomp refuses namespace flags: a user namespace needs no capability"},
		{"unshare-mount", []string{"EPERM"}, "seccomp / no CAP_SYS_ADMIN"},
		{"setns", []string{"EPERM"}, "no CAP_SYS_ADMIN; seccomp"},
		{"pivot_root", []string{"EPERM"}, "no CAP_SYS_ADMIN; seccomp"},
		{"chroot", []string{"EPERM"}, "no CAP_SYS_CHROOT"},
		{"ptrace-init", []string{"EPERM"}, "init is non-dumpable, no CAP_SYS_PTRACE; seccomp"},
		{"kexec_load", []string{"EPERM"}, "no CAP_SYS_BOOT; seccomp"},
		{"init_module", []string{"EPERM"}, "no CAP_SYS_MODULE; seccomp"},
		{"finit_module", []string{"EPERM"}, "no CAP_SYS_MODULE; seccomp"},
		{"bpf", []string{"EPERM"}, "seccomp; unprivileged bpf disabled"},
		{"keyctl", []string{"EPERM"}, "seccomp: keyrings are not namespaced"},
		{"perf_event_open", []string{"EPERM", "EACCES"}, "seccomp (EPERM) or perf_event_paranoid (EACCES)"},
		{"userfaultfd", []string{"EPERM"}, "seccomp; vm.unprivileged_userfaultfd"},
		{"raw-socket", []string{"EPERM"}, "no CAP_NET_RAW; seccomp"},
		{"packet-socket", []string{"EPERM", "EAFNOSUPPORT"}, "seccomp refuses AF_PACKET"},
		{"write-etc-new", []string{"EROFS"}, "host /etc is a read-only bind"},
		{"write-etc-passwd", []string{"EROFS"}, "host /etc is a read-only bind"},
		{"write-usr-new", []string{"EROFS"}, "host /usr is a read-only bind"},
		{"read-kcore", absentOr(hasKcore, "empty"), "masked by /dev/null"},
		{"read-kallsyms", []string{"empty"}, "masked by /dev/null"},
		{"write-sysrq-trigger", absentOr(hasSysrq, "EROFS"), "read-only bind of itself"},
		{"write-proc-sys-core_pattern", []string{"EROFS"}, "/proc/sys is a read-only bind (core_pattern runs a host program as root)"},
		{"create-in-sys", []string{"EROFS"}, "/sys is mounted read-only"},
		{"signal-host-pid", []string{"ESRCH"}, "pid namespace: the test process does not exist inside"},
		{"proc-host-pid", []string{"ENOENT"}, "fresh /proc of the pid namespace"},
		{"proc-pid-count", []string{"2"}, "only init and the probe are visible"},
		{"host-tcp", []string{"ECONNREFUSED"}, "network none: the container's loopback is not the host's"},
		{"proc1-exe-write", []string{"EACCES"}, "init is non-dumpable (CVE-2019-5736)"},
		{"proc1-exe-path", []string{"EACCES"}, "init is non-dumpable (CVE-2019-5736)"},
		{"mknod", []string{"EPERM"}, "no CAP_MKNOD"},
		{"sethostname", []string{"EPERM"}, "no CAP_SYS_ADMIN"},
		{"capset-sys-admin", []string{"EPERM"}, "not in the permitted or bounding set"},
		{"ambient-raise", []string{"EPERM"}, "not permitted/inheritable"},
		{"setuid-nobody-back-to-root", []string{"EPERM"}, "no CAP_SETUID"},
		{"memfd-create-exec", []string{"EACCES"}, "vm.memfd_noexec = 2 in the container's pid namespace"},
		{"exec-memfd", []string{"EACCES"}, "vm.memfd_noexec = 2: a memfd is created non-executable and sealed (Landlock does not cover memfds)"},
		{"no_new_privs", []string{"1"}, "always set"},
		{"caps", []string{"CapInh=0000000000000000 CapPrm=0000000000000000 CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000"}, "every capability dropped"},
	}
}

// runHelper is the test binary acting as a supervisor process on the host
// (for the test that kills it): it starts a long-running container, prints
// init's pid and waits.
func runHelper(mode string) int {
	s := &spec.Spec{
		Name: "sbhelper",
		Exec: spec.Exec{Command: []string{"/bin/busybox", "sh", "-c", "/bin/busybox sleep 1000 & /bin/busybox sleep 1000"}, Workdir: "/"},
		Isolation: spec.Isolation{Runtime: spec.RuntimeNative, ReadOnly: true, Namespaces: spec.DefaultNamespaces,
			UserNamespace: spec.UserNSHost, Seccomp: spec.SeccompDefault},
		Network: spec.Network{Mode: spec.NetworkNone},
	}
	if mode == "supervisor-userns" {
		s.Isolation.UserNamespace = spec.UserNSAuto
	}
	c, err := sandbox.Start(s, sandbox.Options{})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 125
	}
	os.Stdout.WriteString(strconv.Itoa(c.Pid()) + "\n")
	st, _ := c.Wait()
	return st
}

// TestHostBinaryUnreachable is CVE-2019-5736 through an interpreter: a
// workload that is a script with "#!/proc/self/exe" would make the exec
// stage's execve run the host's nucleus-exec binary as the workload (from
// where /proc/self/exe could be reopened). Landlock refuses to execute a
// file outside its execute rules, so the start fails with 126. (The test
// binary is deliberately not bound in here: a bind would put the same inode
// under an execute rule.) A script with a container interpreter is the
// control.
func TestHostBinaryUnreachable(t *testing.T) {
	cases := []struct {
		name, script string
		want         int
	}{
		{"interpreter /proc/self/exe", "#!/proc/self/exe\n", 126},
		{"control: container interpreter", "#!/bin/busybox true\n", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := hostDir(t, "script", tc.script)
			if err := os.Chmod(dir+"/script", 0o755); err != nil {
				t.Fatal(err)
			}
			s := newSpec(t, "/work/script")
			s.Mounts = []spec.Mount{{Type: spec.MountBind, Source: dir, Target: "/work", ReadOnly: true}}
			r := run(t, s)
			if landlockABI(r.logs) == 0 && tc.want == 126 {
				t.Skipf("kernel has no Landlock: nothing refuses the host binary's execution (logs %v)", r.logs)
			}
			if r.status != tc.want {
				t.Fatalf("status %d, want %d (stderr %q, logs %v)", r.status, tc.want, r.stderr, r.logs)
			}
		})
	}
}
