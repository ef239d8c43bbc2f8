package gvisor

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nucleus-containers/nucleus/internal/golden"
	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// testRootfs is a tiny container root: passwd, group, an executable, a
// non-executable file and a directory under /usr/bin, /bin -> usr/bin.
func testRootfs(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata/rootfs")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBuildConfigGolden: each spec in testdata/specs becomes the OCI config
// in testdata/golden (go test -run TestBuildConfigGolden -update rewrites
// them). Host facts are fixed, and users resolve in testdata/rootfs.
func TestBuildConfigGolden(t *testing.T) {
	specFiles, err := filepath.Glob("testdata/specs/*.toml")
	if err != nil || len(specFiles) == 0 {
		t.Fatalf("no specs in testdata/specs: %v", err)
	}
	hostView := []workload.HostEntry{{Path: "/usr"}, {Path: "/bin", Symlink: "usr/bin"}, {Path: "/lib", Symlink: "usr/lib"}, {Path: "/etc"}}
	for _, path := range specFiles {
		name := strings.TrimSuffix(filepath.Base(path), ".toml")
		t.Run(name, func(t *testing.T) {
			s, err := spec.LoadFiles([]string{path})
			if err != nil {
				t.Fatal(err)
			}
			v := &view{rootfs: testRootfs(t)}
			id, err := v.resolveIdentity(s.Exec.User, s.Exec.SupplementaryGroups)
			if err != nil {
				t.Fatal(err)
			}
			f := hostFacts{
				BundleRoot: "/STATE/bundle/root",
				HostView:   hostView,
				CredCopies: "/STATE/credentials",
				StartFIFO:  "/STATE/bundle/started",
				Shell:      "/bin/sh",
				Identity:   id,
			}
			if s.Readiness != nil && s.Readiness.Kind == spec.ProbeNotify {
				f.Notify = "/RELAY/notify"
			}
			if s.Network.Mode != spec.NetworkHost && needsDial(s) {
				f.Relay = "/usr/libexec/nucleus/nucleus-exec"
			}
			cfg, err := buildConfig(s, f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(cfg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden.Check(t, filepath.Join("testdata/golden", name+".json"), got)
		})
	}
}

func TestLookCommand(t *testing.T) {
	root := testRootfs(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "mounted"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	withRootfs := &view{rootfs: root, binds: []spec.Mount{{Type: spec.MountBind, Source: hostDir, Target: "/opt/bin"}}}
	hostView := &view{hostView: []workload.HostEntry{{Path: "/usr"}, {Path: "/bin", Symlink: "usr/bin"}}}
	cases := []struct {
		name string
		v    *view
		cmd  string
		path string
		want int
	}{
		{"absolute executable", withRootfs, "/usr/bin/tool", "", 0},
		{"through the rootfs's own symlink", withRootfs, "/bin/tool", "", 0},
		{"PATH search", withRootfs, "tool", "/nowhere:/usr/bin", 0},
		{"in a bind mount", withRootfs, "mounted", "/usr/bin:/opt/bin", 0},
		{"not executable", withRootfs, "/usr/bin/data", "", exitNotExecutable},
		{"a directory", withRootfs, "/usr/bin/adir", "", exitNotExecutable},
		{"missing", withRootfs, "/usr/bin/missing", "", exitNotFound},
		{"missing in PATH", withRootfs, "missing", workload.DefaultPath, exitNotFound},
		{"relative PATH entries ignored", withRootfs, "tool", "usr/bin", exitNotFound},
		{"symlink escaping the rootfs stays inside", withRootfs, "/../../../../usr/bin/tool", "", 0},
		{"host view", hostView, "/usr/bin/sh", "", 0},
		{"host view PATH", hostView, "sh", workload.DefaultPath, 0},
		{"outside the host view", hostView, "/opt/tool", "", exitNotFound},
	}
	for _, tc := range cases {
		code, err := tc.v.lookCommand(tc.cmd, tc.path)
		if code != tc.want {
			t.Errorf("%s: lookCommand(%q, %q) = %d (%v), want %d", tc.name, tc.cmd, tc.path, code, err, tc.want)
		}
		if code != 0 && err == nil {
			t.Errorf("%s: status %d without a reason", tc.name, code)
		}
	}
}

// TestGlobalFlags: the runsc flags for each network mode, notify, and the
// environment knobs.
func TestGlobalFlags(t *testing.T) {
	cases := []struct {
		mode     spec.NetworkMode
		notify   bool
		platform string
		extra    string
		want     string
	}{
		{spec.NetworkNone, false, "", "", "--root=/R --ignore-cgroups --network=none"},
		{spec.NetworkHost, false, "", "", "--root=/R --ignore-cgroups --network=host"},
		{spec.NetworkNone, true, "ptrace", "", "--root=/R --ignore-cgroups --network=none --host-uds=open --platform=ptrace"},
		{spec.NetworkNone, false, "", " --debug  --debug-log=/tmp/x/ ", "--root=/R --ignore-cgroups --network=none --debug --debug-log=/tmp/x/"},
	}
	for _, tc := range cases {
		t.Setenv(EnvPlatform, tc.platform)
		t.Setenv(EnvFlags, tc.extra)
		if got := strings.Join(globalFlags("/R", tc.mode, tc.notify), " "); got != tc.want {
			t.Errorf("globalFlags(%s, notify %v, platform %q, extra %q) = %q, want %q", tc.mode, tc.notify, tc.platform, tc.extra, got, tc.want)
		}
	}
}

func TestStateDir(t *testing.T) {
	t.Setenv("RUNTIME_DIRECTORY", "/run/web:/run/other")
	if got := stateDir("web"); got != "/run/web/gvisor" {
		t.Errorf("stateDir with RUNTIME_DIRECTORY = %q", got)
	}
	t.Setenv("RUNTIME_DIRECTORY", "")
	if got := stateDir("web"); got != "/run/nucleus-gvisor/web" {
		t.Errorf("stateDir without RUNTIME_DIRECTORY = %q", got)
	}
}

// TestStartedBeforeExit: the start line written just before runsc exits
// is found whether or not the reader goroutine got to it (a race that made
// a /bin/true start fail about once in a hundred under load).
func TestStartedBeforeExit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		write      bool
		readerSeen bool // the reader goroutine consumed the line
		want       bool
	}{
		{"reader saw the line", true, true, true},
		{"line still in the FIFO", true, false, true},
		{"no line", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "started")
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if tc.write {
				if err := os.WriteFile(path, []byte("started\n"), 0); err != nil {
					t.Fatal(err)
				}
			}
			hook := make(chan error, 1)
			if tc.readerSeen {
				_, err := readLine(f, 64)
				hook <- err
			} else {
				// The reader had not run yet: it starts after the
				// deadline is set, and fails without reading.
				go func() {
					time.Sleep(10 * time.Millisecond)
					_, err := readLine(f, 64)
					hook <- err
				}()
			}
			if got := startedBeforeExit(f, hook); got != tc.want {
				t.Errorf("startedBeforeExit = %v, want %v", got, tc.want)
			}
		})
	}
}
