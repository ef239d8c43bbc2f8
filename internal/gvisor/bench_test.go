package gvisor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/probe"
	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/spec"
)

// BenchmarkProbes measures one probe attempt of each kind against a running
// gvisor container with network = "none": tcp and http go through the
// relay (one runsc exec each), exec through runsc exec.
//
//	go test -run '^$' -bench Probes -benchtime 20x ./internal/gvisor/
func BenchmarkProbes(b *testing.B) {
	if _, err := exec.LookPath("runsc"); err != nil {
		b.Fatal("runsc is not installed (apt-get install runsc)")
	}
	b.Setenv("RUNTIME_DIRECTORY", b.TempDir())
	path := filepath.Join(b.TempDir(), "gvbench.toml")
	body := "[exec]\n" + httpServer + "\n[isolation]\nruntime = \"gvisor\"\n[readiness]\ntcp = 8080\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	s, err := spec.LoadFiles([]string{path})
	if err != nil {
		b.Fatal(err)
	}
	c, err := Start(s, sandbox.Options{Stdin: devNull(), Stdout: devNull(), Stderr: devNull()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Kill(); _, _ = c.Wait() }()
	ctx := context.Background()
	tcp := spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Timeout: 30 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for probe.Check(ctx, c, tcp) != nil {
		if time.Now().After(deadline) {
			b.Fatal("the workload never listened")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, p := range []struct {
		name string
		p    spec.Probe
	}{
		{"tcp", tcp},
		{"http", spec.Probe{Kind: spec.ProbeHTTP, URL: "http://127.0.0.1:8080/hostname", Timeout: 30 * time.Second}},
		{"exec", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/true"}, Timeout: 30 * time.Second}},
	} {
		b.Run(p.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := probe.Check(ctx, c, p.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
