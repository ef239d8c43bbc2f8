package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/golden"
	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

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
			golden.Check(t, filepath.Join("testdata", tc.name+".plan.json"), append(got, '\n'))
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

// TestPlanCodecRoundTrip: every field of the plan, set by reflection to a
// value of its own, survives encodePlan/decodePlan, so a field added to
// the plan without the codec fails here. Strings carry the format's
// separators; nil and empty slices stay distinct.
func TestPlanCodecRoundTrip(t *testing.T) {
	full := &plan{}
	n := 0
	fillValue(reflect.ValueOf(full).Elem(), &n)
	empty := &plan{Mounts: []mountStep{}, Exec: execPlan{Argv: []string{}, Caps: []int{}, Landlock: landlockPlan{TCPBind: []uint16{}}}}
	cases := []struct {
		name string
		p    *plan
	}{{"every field set", full}, {"zero", &plan{}}, {"empty slices", empty}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			enc := encodePlan(tc.p)
			if strings.IndexByte(enc, 0) >= 0 {
				t.Fatalf("encoding contains a NUL byte: %q", enc)
			}
			got, err := decodePlan(enc)
			if err != nil {
				t.Fatalf("decodePlan(%q): %v", enc, err)
			}
			if !reflect.DeepEqual(got, tc.p) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, tc.p)
			}
		})
	}
	// The golden plans too (what newPlan really produces).
	for _, name := range []string{"default", "mounts-caps-userns", "host-network-no-uts"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".plan.json"))
		if err != nil {
			t.Fatal(err)
		}
		var p plan
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		got, err := decodePlan(encodePlan(&p))
		if err != nil || !reflect.DeepEqual(got, &p) {
			t.Errorf("%s: round trip differs (err %v):\n got %+v\nwant %+v", name, err, got, &p)
		}
	}
}

// fillValue sets every field reachable from v to a distinct non-zero
// value (slices get two elements); *n counts values handed out.
func fillValue(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d:;-1;\n%d:", *n, *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-int64(*n) * 1000003)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(uint64(*n) * 4099 % (1 << (v.Type().Bits() - 1)))
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := 0; i < 2; i++ {
			fillValue(v.Index(i), n)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fillValue(v.Field(i), n)
		}
	default:
		panic("fillValue: unhandled kind " + v.Kind().String() + ": extend the test and the plan codec")
	}
}

func TestDecodePlanRefusesMalformed(t *testing.T) {
	good := encodePlan(&plan{Name: "web", Cloneflags: 7, Exec: execPlan{Argv: []string{"/bin/true"}}})
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"truncated", good[:len(good)-3]},
		{"trailing data", good + "x"},
		{"string longer than the input", "999:web"},
		{"negative string length", "-1:"},
		{"bad bool", strings.Replace(good, "7;0;", "7;2;", 1)},
		{"huge slice length", strings.Replace(good, "-1;", "99999999;", 1)},
		{"not a number", "3:web4:webxyz;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if p, err := decodePlan(tc.in); err == nil {
				t.Errorf("decodePlan(%q) = %+v, want an error", tc.in, p)
			}
		})
	}
}

// FuzzDecodePlan: any input is refused or decodes to a plan that encodes
// and decodes to itself; nothing panics.
func FuzzDecodePlan(f *testing.F) {
	f.Add(encodePlan(&plan{Name: "web", Exec: execPlan{Argv: []string{"/bin/true"}, Caps: []int{10}}}))
	f.Add("")
	f.Add("3:web")
	f.Fuzz(func(t *testing.T, in string) {
		p, err := decodePlan(in)
		if err != nil {
			return
		}
		again, err := decodePlan(encodePlan(p))
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("re-encoded plan differs (err %v): %+v vs %+v", err, again, p)
		}
	})
}

// TestMessageCodecRoundTrip: every field of a control message survives
// encodeMessage/decodeMessage (a field added to message but not to the
// codec fails here), including bytes a probe's output may hold.
func TestMessageCodecRoundTrip(t *testing.T) {
	full := message{}
	n := 0
	fillValue(reflect.ValueOf(&full).Elem(), &n)
	full.Out = []byte("\x00\xff;:12:\n")
	cases := []struct {
		name string
		m    message
	}{{"every field set", full}, {"zero", message{}}, {"started", message{T: "started", Pid: 7}},
		{"negative code", message{T: "result", ID: 3, Code: -1, Msg: "container exited"}}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeMessage(encodeMessage(tc.m))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, tc.m)
			}
		})
	}
	for _, bad := range []string{"", "5:start", "7:started0;7;0;0:-1;0;0:x"} {
		if m, err := decodeMessage([]byte(bad)); err == nil {
			t.Errorf("decodeMessage(%q) = %+v, want an error", bad, m)
		}
	}
}

// FuzzDecodeMessage: any datagram is refused or decodes to a message that
// encodes and decodes to itself; nothing panics.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeMessage(message{T: "result", ID: 1, Code: 2, Out: []byte("out")}))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := decodeMessage(in)
		if err != nil {
			return
		}
		again, err := decodeMessage(encodeMessage(m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded message differs (err %v): %+v vs %+v", err, again, m)
		}
	})
}
