package seccomp

import "testing"

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
