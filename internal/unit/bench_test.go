package unit

import (
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// BenchmarkRender renders one typical spec (description, environment, user,
// a tmpfs mount, readiness and health probes, limits, ordering): the
// per-spec share of nucleus-generator's run that is unit syntax. make bench
// reports it next to spec Load and the generator's 500-spec run.
func BenchmarkRender(b *testing.B) {
	s := baseSpec()
	s.Description = "bench web server 7"
	s.Exec.Command = []string{"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "8007"}
	s.Exec.Environment = map[string]string{"APP_ENV": "prod", "INSTANCE": "7"}
	s.Exec.User = "nobody"
	s.Exec.StopTimeout = 10 * time.Second
	s.Resources.Pids = 64
	s.Mounts = []spec.Mount{{Type: spec.MountTmpfs, Target: "/srv", Size: 8 << 20}}
	s.Readiness = &spec.Readiness{Probe: spec.Probe{Kind: spec.ProbeTCP, Port: 8007, Interval: 100 * time.Millisecond, Timeout: time.Second}, StartTimeout: 30 * time.Second}
	s.Health = &spec.Health{Probe: spec.Probe{Kind: spec.ProbeHTTP, URL: "http://127.0.0.1:8007/", Interval: 5 * time.Second, Timeout: 2 * time.Second}, Retries: 3}
	s.Unit.After = []string{"network-online.target"}
	if _, err := Render(s, Options{ExecPath: testExec}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Render(s, Options{ExecPath: testExec}); err != nil {
			b.Fatal(err)
		}
	}
}
