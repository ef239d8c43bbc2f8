package generator

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

// benchSpec is a realistic spec: the README's web server with a drop-in's
// worth of keys (description, command, environment, a mount, readiness,
// health, resources, restart, a dependency).
func benchSpec(i int) string {
	return fmt.Sprintf(`description = "bench web server %d"

[exec]
command = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "%d"]
environment = { APP_ENV = "prod", INSTANCE = "%d" }
user = "nobody"
stop_timeout = "10s"

[restart]
policy = "on-failure"
delay = "1s"

[resources]
memory = "128M"
cpus = 0.5
pids = 64

[[mount]]
type = "tmpfs"
target = "/srv"
size = "8M"

[readiness]
tcp = %d
start_timeout = "30s"

[health]
http = "http://127.0.0.1:%d/"
interval = "5s"

[unit]
after = ["network-online.target"]
`, i, 8000+i%1000, i, 8000+i%1000, 8000+i%1000)
}

// BenchmarkGenerate500 is a boot: 500 specs on tmpfs → 500 units and their
// .wants links in an empty normal-dir. Target: < 15 ms per run.
func BenchmarkGenerate500(b *testing.B) {
	base := "/dev/shm"
	if st, err := os.Stat(base); err != nil || !st.IsDir() {
		base = "" // os.MkdirTemp default; not tmpfs everywhere
	}
	root, err := os.MkdirTemp(base, "nucleus-bench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)
	specDir := filepath.Join(root, "specs")
	if err := os.Mkdir(specDir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 500; i++ {
		if err := os.WriteFile(filepath.Join(specDir, fmt.Sprintf("web%03d.toml", i)), []byte(benchSpec(i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg := Config{
		SpecDirs: []string{specDir},
		UnitDirs: DefaultUnitDirs, // the real shadow check, as at boot
		ExecPath: testExecPath,
		Out:      io.Discard,
		Log:      stderrLog(os.Stderr, false),
	}
	// As in Main: no garbage collection during a run.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(256 << 20))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg.NormalDir = filepath.Join(root, fmt.Sprintf("out%d", i))
		b.StartTimer()
		if failed := Run(cfg); failed != 0 {
			b.Fatalf("%d specs failed", failed)
		}
		b.StopTimer()
		if err := os.RemoveAll(cfg.NormalDir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
