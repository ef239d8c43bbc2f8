package sandbox

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

var update = flag.Bool("update", false, "rewrite testdata/*.plan.json golden files")

func baseSpec() *spec.Spec {
	return &spec.Spec{
		Name: "web",
		Exec: spec.Exec{Command: []string{"/usr/bin/python3", "-m", "http.server"}, Workdir: "/", StopSignal: syscall.SIGTERM, Hostname: "web",
			Environment: map[string]string{"APP_ENV": "prod"}},
		Resources: spec.Resources{Pids: 512},
		Isolation: spec.Isolation{Runtime: spec.RuntimeNative, ReadOnly: true, Namespaces: spec.DefaultNamespaces,
			UserNamespace: spec.UserNSHost, Seccomp: spec.SeccompDefault},
		Network: spec.Network{Mode: spec.NetworkNone},
	}
}

// TestPlanGolden pins what the supervisor computes from a spec: namespaces,
// mount order, environment, capabilities, rlimits and the Landlock rules.
// Host-dependent parts (the host view's entries, which follow the host's
// /lib* layout) are cleared before comparing.
func TestPlanGolden(t *testing.T) {
	data := t.TempDir()
	cases := []struct {
		name   string
		mutate func(*spec.Spec)
	}{
		{"default", func(*spec.Spec) {}},
		{"mounts-caps-userns", func(s *spec.Spec) {
			s.Exec.User = "nobody"
			s.Isolation.Capabilities = []string{"CAP_NET_BIND_SERVICE"}
			s.Isolation.UserNamespace = spec.UserNSAuto
			s.Resources.NOFile = 1024
			s.Mounts = []spec.Mount{
				{Type: spec.MountBind, Source: data, Target: "/data"},
				{Type: spec.MountBind, Source: data, Target: "/config", ReadOnly: true},
				{Type: spec.MountTmpfs, Target: "/cache", Size: 64 << 20},
			}
			s.Landlock = spec.Landlock{Read: []string{"/srv"}, TCPBind: []uint16{80}}
		}},
		{"host-network-no-uts", func(s *spec.Spec) {
			s.Network.Mode = spec.NetworkHost
			s.Isolation.Namespaces = []spec.Namespace{spec.NSPid, spec.NSMount}
			s.Isolation.Seccomp = spec.SeccompUnconfined
			s.Isolation.ReadOnly = false
		}},
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			tc.mutate(s)
			p, err := newPlan(s, Options{})
			if err != nil {
				t.Fatal(err)
			}
			p.HostView = nil
			for i := range p.Mounts {
				if p.Mounts[i].Source == data {
					p.Mounts[i].Source = "DATA"
				}
			}
			for i, kv := range p.Exec.Env {
				if p.Hostname == "" && len(kv) > 9 && kv[:9] == "HOSTNAME=" {
					p.Exec.Env[i] = "HOSTNAME=(host)" // no UTS namespace
				}
			}
			p.Exec.Landlock.Read = withoutHostView(p.Exec.Landlock.Read)
			p.Exec.Landlock.Execute = withoutHostView(p.Exec.Landlock.Execute)
			got, err := json.MarshalIndent(p, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.name+".plan.json")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != string(got)+"\n" {
				t.Errorf("plan differs from %s:\n%s", golden, got)
			}
		})
	}
}

func withoutHostView(paths []string) []string {
	var out []string
	for _, p := range paths {
		host := false
		for _, h := range workload.HostViewDirs {
			if p == h {
				host = true
			}
		}
		if !host {
			out = append(out, p)
		}
	}
	return out
}

func TestPlanRefuses(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*spec.Spec)
		want   string
	}{
		{"unknown capability", func(s *spec.Spec) { s.Isolation.Capabilities = []string{"CAP_NOPE"} }, `sandbox: capabilities: unknown capability "CAP_NOPE"`},
		{"gvisor", func(s *spec.Spec) { s.Isolation.Runtime = spec.RuntimeGVisor }, `sandbox: runtime "gvisor" is not the native sandbox`},
		{"rootfs is a file", func(s *spec.Spec) { s.Isolation.Rootfs = "/etc/passwd" }, "sandbox: rootfs /etc/passwd is not a directory"},
		{"credential missing", func(s *spec.Spec) {
			s.Credentials = []spec.Credential{{Name: "pw", Source: "/nonexistent/pw", Target: "/run/secrets/pw"}}
		}, "sandbox: credential pw: stat /nonexistent/pw: no such file or directory"},
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := baseSpec()
			tc.mutate(s)
			_, err := newPlan(s, Options{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
