package seccomp

import (
	"slices"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		wantNil bool   // unconfined
		wantErr string // substring; "" = success
	}{
		{name: "default", o: Options{Mode: ModeDefault}},
		{name: "empty mode is default", o: Options{}},
		{name: "host network", o: Options{Mode: ModeDefault, HostNetwork: true}},
		{name: "allow extra", o: Options{Mode: ModeDefault, Allow: []string{"syslog", "kcmp"}}},
		{name: "allow already allowed", o: Options{Mode: ModeDefault, Allow: []string{"read", "read"}}},
		{name: "unconfined", o: Options{Mode: ModeUnconfined}, wantNil: true},
		{name: "profile", o: Options{Mode: ModeProfile, ProfilePath: "testdata/profiles/runc.json"}},
		{name: "unknown name", o: Options{Mode: ModeDefault, Allow: []string{"frobnicate"}}, wantErr: `"frobnicate" is not a Linux x86_64 syscall`},
		{name: "i386-only name", o: Options{Mode: ModeDefault, Allow: []string{"socketcall"}}, wantErr: `"socketcall" is not a Linux x86_64 syscall`},
		{name: "refused name", o: Options{Mode: ModeDefault, Allow: []string{"ptrace"}}, wantErr: `"ptrace" is refused by nucleus's default profile (tracing)`},
		{name: "io_uring", o: Options{Mode: ModeDefault, Allow: []string{"io_uring_setup"}}, wantErr: "io_uring (bypasses seccomp)"},
		{name: "argument-filtered name", o: Options{Mode: ModeDefault, Allow: []string{"socket"}}, wantErr: "cannot widen it"},
		{name: "clone3", o: Options{Mode: ModeDefault, Allow: []string{"clone3"}}, wantErr: "returns ENOSYS"},
		{name: "several bad names", o: Options{Mode: ModeDefault, Allow: []string{"mount", "nope"}}, wantErr: `"mount" is refused`},
		{name: "allow with unconfined", o: Options{Mode: ModeUnconfined, Allow: []string{"syslog"}}, wantErr: "only extends the default profile"},
		{name: "allow with profile", o: Options{Mode: ModeProfile, ProfilePath: "testdata/profiles/runc.json", Allow: []string{"syslog"}}, wantErr: "testdata/profiles/runc.json"},
		{name: "profile without path", o: Options{Mode: ModeProfile}, wantErr: "without a profile path"},
		{name: "unknown mode", o: Options{Mode: "strict"}, wantErr: `unknown mode "strict"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Build(tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build(%+v) error %v, want one containing %q", tt.o, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build(%+v): %v", tt.o, err)
			}
			if tt.wantNil != (f == nil) {
				t.Fatalf("Build(%+v) = %v, want nil: %v", tt.o, f, tt.wantNil)
			}
			if f != nil && (f.Len() < 8 || f.Len() > maxInstructions) {
				t.Fatalf("Build(%+v): %d instructions", tt.o, f.Len())
			}
		})
	}
}

// TestHostNetworkSameFilter: the default filter does not depend on the
// network mode (see Options.HostNetwork for why).
func TestHostNetworkSameFilter(t *testing.T) {
	none, err := Build(Options{Mode: ModeDefault})
	if err != nil {
		t.Fatal(err)
	}
	host, err := Build(Options{Mode: ModeDefault, HostNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(none.prog, host.prog) || none.flags != host.flags {
		t.Fatal("the default filter differs between network modes")
	}
}

// TestDefaultLists: the allowlist is made of known, distinct x86_64
// syscalls and shares none with the refused list or the argument-filtered
// ones; every refused name is a real syscall (a typo would refuse nothing).
func TestDefaultLists(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range defaultAllow {
		if !Known(n) {
			t.Errorf("allowlist: %q is not an x86_64 syscall", n)
		}
		if seen[n] {
			t.Errorf("allowlist: %q twice", n)
		}
		seen[n] = true
		if _, ok := lookupReason(refused[:], n); ok {
			t.Errorf("allowlist: %q is also refused", n)
		}
		if _, ok := lookupReason(argFiltered[:], n); ok {
			t.Errorf("allowlist: %q is argument-filtered", n)
		}
	}
	listed := map[string]bool{}
	for _, r := range refused {
		if !Known(r.name) {
			t.Errorf("refused: %q is not an x86_64 syscall", r.name)
		}
		if listed[r.name] {
			t.Errorf("refused: %q twice", r.name)
		}
		listed[r.name] = true
	}
	for _, r := range argFiltered {
		n := r.name
		if listed[n] {
			t.Errorf("argument-filtered: %q twice, or also refused", n)
		}
		listed[n] = true
		if !Known(n) {
			t.Errorf("argument-filtered: %q is not an x86_64 syscall", n)
		}
	}
}

func TestNames(t *testing.T) {
	names := Names()
	if !slices.IsSorted(names) || len(names) < 300 {
		t.Fatalf("Names() has %d names, sorted: %v", len(names), slices.IsSorted(names))
	}
	for _, n := range names {
		if !Known(n) {
			t.Errorf("Names() has %q, which Known rejects", n)
		}
	}
	if !slices.Contains(names, "openat2") {
		t.Error("Names() lacks openat2")
	}
}

func TestKnownAndCheckAllow(t *testing.T) {
	tests := []struct {
		name  string
		known bool
		allow bool
	}{
		{"read", true, true},
		{"syslog", true, true},
		{"clone3", true, false},
		{"mknodat", true, false},
		{"_llseek", false, false},
		{"", false, false},
		{"READ", false, false},
	}
	for _, tt := range tests {
		if got := Known(tt.name); got != tt.known {
			t.Errorf("Known(%q) = %v, want %v", tt.name, got, tt.known)
		}
		if err := CheckAllow(tt.name); (err == nil) != tt.allow {
			t.Errorf("CheckAllow(%q) = %v, want allowed %v", tt.name, err, tt.allow)
		}
	}
}
