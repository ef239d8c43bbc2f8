package unit

import (
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

const testExec = "/usr/libexec/nucleus/nucleus-exec"

// baseSpec is a minimal valid spec as spec.Load would return it.
func baseSpec() *spec.Spec {
	return &spec.Spec{
		Name:    "web",
		Sources: []string{"/etc/nucleus/web.toml"},
		Hash:    "sha256:0123abcd",
		Exec: spec.Exec{
			Command:    []string{"/bin/true"},
			Workdir:    "/",
			Hostname:   "web",
			StopSignal: syscall.SIGTERM,
		},
		Restart:   spec.Restart{Policy: "on-failure"},
		Resources: spec.Resources{Pids: 512},
		Isolation: spec.Isolation{Runtime: spec.RuntimeNative, ReadOnly: true, Namespaces: spec.DefaultNamespaces,
			UserNamespace: spec.UserNSHost, Seccomp: spec.SeccompDefault},
		Network: spec.Network{Mode: spec.NetworkNone},
		Unit:    spec.UnitDeps{WantedBy: []string{"multi-user.target"}},
	}
}

// decoded is a directive with its value decoded by the directive's own rules.
type decoded struct {
	Section, Key string
	Value        any // string, or []string for ExecStart/Command/Environment
}

// decodeUnit parses text with the systemd-rules reader and decodes every
// directive by the rules systemd (or, for [X-Nucleus], the documented
// ExecStart=/Environment= syntax) applies to it.
func decodeUnit(t testing.TB, text string) []decoded {
	t.Helper()
	ds, err := parseUnitFile(text)
	if err != nil {
		t.Fatalf("parse rendered unit: %v\n%s", err, text)
	}
	var out []decoded
	for _, d := range ds {
		var v any
		switch d.Key {
		case "ExecStart", "Command":
			v, err = parseExecValue(d.Value)
		case "Environment":
			v, err = parseEnvironmentValue(d.Value)
		default:
			v, err = expandSpecifiers(d.Value)
		}
		if err != nil {
			t.Fatalf("line %d %s=%q: %v\n%s", d.Line, d.Key, d.Value, err, text)
		}
		out = append(out, decoded{d.Section, d.Key, v})
	}
	return out
}

// minimalUnit is what Render makes of baseSpec with this description and
// command: every directive nucleus always writes, and nothing else.
func minimalUnit(desc string, command []string) []decoded {
	return []decoded{
		{"Unit", "Description", desc},
		{"Unit", "Documentation", "man:nucleus.toml(5)"},
		{"Unit", "SourcePath", "/etc/nucleus/web.toml"},
		{"Service", "Type", "notify"},
		{"Service", "NotifyAccess", "main"},
		{"Service", "ExecStart", []string{testExec, "run", "--hash=sha256:0123abcd", "/etc/nucleus/web.toml"}},
		{"Service", "Slice", "nucleus.slice"},
		{"Service", "SyslogIdentifier", "web"},
		{"Service", "KillMode", "mixed"},
		{"Service", "SuccessExitStatus", "143"},
		{"Service", "Restart", "on-failure"},
		{"Service", "TasksMax", "512"},
		{"X-Nucleus", "Command", command},
	}
}

func TestRenderDirectives(t *testing.T) {
	full := baseSpec()
	full.Description = `Web 100% "quoted" \ back`
	full.Sources = []string{"/etc/nucleus/web.toml", "/etc/nucleus/web.toml.d/10 fast.toml", "/run/nucleus/web.toml.d/20-$x.toml"}
	full.Exec.Command = []string{"/usr/bin/python3", "-c", "print('a b')\n", "$HOME", "%h", ";", ""}
	full.Exec.Environment = map[string]string{"B": "two words", "A": "x=y", "C": ""}
	full.Exec.StopTimeout = 10 * time.Second
	full.Restart = spec.Restart{Policy: "always", Delay: 1500 * time.Millisecond, Burst: 5, Interval: time.Minute, IntervalSet: true}
	full.Resources = spec.Resources{Memory: 512 << 20, MemoryHigh: 400 << 20, CPUs: 1.5, CPUWeight: 100, Pids: 64, IOWeight: 200, NOFile: 1024}
	full.Readiness = &spec.Readiness{Probe: spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Interval: 100 * time.Millisecond, Timeout: time.Second}, StartTimeout: 30 * time.Second}
	full.Health = &spec.Health{Probe: spec.Probe{Kind: spec.ProbeTCP, Port: 8080, Interval: 10 * time.Second, Timeout: 2 * time.Second}, Retries: 3}
	full.Credentials = []spec.Credential{{Name: "db-password", Source: "/etc/nucleus/secrets/db%pw", Target: "/run/secrets/db"}}
	full.Unit = spec.UnitDeps{After: []string{"db.service", "network-online.target"}, Requires: []string{"db.service"}, Wants: []string{"network-online.target"}, WantedBy: []string{"multi-user.target"}}

	zeroInterval := baseSpec()
	zeroInterval.Restart = spec.Restart{Policy: "no", IntervalSet: true}

	tests := []struct {
		name string
		spec *spec.Spec
		want []decoded
	}{
		{"minimal", baseSpec(), minimalUnit("nucleus container web", []string{"/bin/true"})},
		{"every directive", full, []decoded{
			{"Unit", "Description", `Web 100% "quoted" \ back`},
			{"Unit", "Documentation", "man:nucleus.toml(5)"},
			{"Unit", "SourcePath", "/etc/nucleus/web.toml"},
			{"Unit", "After", "db.service network-online.target"},
			{"Unit", "Requires", "db.service"},
			{"Unit", "Wants", "network-online.target"},
			{"Unit", "StartLimitIntervalSec", "60s"},
			{"Unit", "StartLimitBurst", "5"},
			{"Service", "Type", "notify"},
			{"Service", "NotifyAccess", "main"},
			{"Service", "ExecStart", []string{testExec, "run", "--hash=sha256:0123abcd", "/etc/nucleus/web.toml", "/etc/nucleus/web.toml.d/10 fast.toml", "/run/nucleus/web.toml.d/20-$x.toml"}},
			{"Service", "Slice", "nucleus.slice"},
			{"Service", "SyslogIdentifier", "web"},
			{"Service", "KillMode", "mixed"},
			{"Service", "SuccessExitStatus", "143"},
			{"Service", "Restart", "always"},
			{"Service", "RestartSec", "1500ms"},
			{"Service", "TimeoutStartSec", "30s"},
			{"Service", "TimeoutStopSec", "15s"},
			{"Service", "WatchdogSec", "48s"},
			{"Service", "MemoryMax", "536870912"},
			{"Service", "MemoryHigh", "419430400"},
			{"Service", "CPUQuota", "150%"},
			{"Service", "CPUWeight", "100"},
			{"Service", "TasksMax", "64"},
			{"Service", "IOWeight", "200"},
			{"Service", "LimitNOFILE", "1024"},
			{"Service", "LoadCredential", "db-password:/etc/nucleus/secrets/db%pw"},
			{"X-Nucleus", "Command", []string{"/usr/bin/python3", "-c", "print('a b')\n", "$HOME", "%h", ";", ""}},
			{"X-Nucleus", "Environment", []string{"A=x=y"}},
			{"X-Nucleus", "Environment", []string{"B=two words"}},
			{"X-Nucleus", "Environment", []string{"C="}},
		}},
		{"explicit zero start-limit interval", zeroInterval, []decoded{
			{"Unit", "Description", "nucleus container web"},
			{"Unit", "Documentation", "man:nucleus.toml(5)"},
			{"Unit", "SourcePath", "/etc/nucleus/web.toml"},
			{"Unit", "StartLimitIntervalSec", "0"},
			{"Service", "Type", "notify"},
			{"Service", "NotifyAccess", "main"},
			{"Service", "ExecStart", []string{testExec, "run", "--hash=sha256:0123abcd", "/etc/nucleus/web.toml"}},
			{"Service", "Slice", "nucleus.slice"},
			{"Service", "SyslogIdentifier", "web"},
			{"Service", "KillMode", "mixed"},
			{"Service", "SuccessExitStatus", "143"},
			{"Service", "Restart", "no"},
			{"Service", "TasksMax", "512"},
			{"X-Nucleus", "Command", []string{"/bin/true"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Render(tt.spec, Options{ExecPath: testExec})
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			got := decodeUnit(t, string(out))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded unit differs\n got: %q\nwant: %q\nunit:\n%s", got, tt.want, out)
			}
			if !strings.HasPrefix(string(out), "# Automatically generated by nucleus-generator from:\n#   /etc/nucleus/web.toml\n") {
				t.Errorf("header does not name the generator and the main source:\n%s", out)
			}
		})
	}
}

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*spec.Spec)
		exec    string
		wantKey string
		wantMsg string
	}{
		{"description newline", func(s *spec.Spec) { s.Description = "a\n[Service]\nExecStartPre=/bin/evil" }, "", "description", "control character"},
		{"description trailing backslash", func(s *spec.Spec) { s.Description = `ends in \` }, "", "description", "trailing backslash"},
		{"description leading blank", func(s *spec.Spec) { s.Description = " padded" }, "", "description", "blanks"},
		{"description invalid utf-8", func(s *spec.Spec) { s.Description = "bad \xff" }, "", "description", "UTF-8"},
		{"command NUL", func(s *spec.Spec) { s.Exec.Command = []string{"/bin/echo", "a\x00b"} }, "", "[exec] command", "NUL"},
		{"line longer than systemd reads", func(s *spec.Spec) { s.Exec.Command = []string{"/bin/echo", strings.Repeat("x", 1<<20)} }, "", "spec", "systemd reads at most"},
		{"command starting with an ExecStart prefix", func(s *spec.Spec) { s.Exec.Command = []string{"-rf"} }, "", "[exec] command", "first word"},
		{"environment NUL", func(s *spec.Spec) { s.Exec.Environment = map[string]string{"A": "\x00"} }, "", "[exec] environment", "NUL"},
		{"environment name with =", func(s *spec.Spec) { s.Exec.Environment = map[string]string{"A=B": "x"} }, "", "[exec] environment", "not a variable name"},
		{"source with newline", func(s *spec.Spec) { s.Sources = []string{"/etc/nucleus/x\ny/web.toml"} }, "", "spec", "control character"},
		{"relative source", func(s *spec.Spec) { s.Sources = []string{"web.toml"} }, "", "spec", "absolute"},
		{"bad dependency", func(s *spec.Spec) { s.Unit.After = []string{"db.service\nExecStartPre=/x"} }, "", "[unit] after", "not a valid unit name"},
		{"dependency without suffix", func(s *spec.Spec) { s.Unit.Requires = []string{"db"} }, "", "[unit] requires", "not a valid unit name"},
		{"credential name with colon", func(s *spec.Spec) { s.Credentials = []spec.Credential{{Name: "a:b", Source: "/x"}} }, "", "[[credential]] name", "not a valid credential name"},
		{"credential source trailing blank", func(s *spec.Spec) { s.Credentials = []spec.Credential{{Name: "a", Source: "/x "}} }, "", "[[credential]] source", "blanks"},
		{"credential source not clean", func(s *spec.Spec) { s.Credentials = []spec.Credential{{Name: "a", Source: "/x/../y"}} }, "", "[[credential]] source", "clean"},
		{"exec path with blank", func(s *spec.Spec) {}, "/opt/my nucleus/nucleus-exec", "nucleus-exec path", "absolute"},
		{"exec path relative", func(s *spec.Spec) {}, "nucleus-exec", "nucleus-exec path", "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.mutate(s)
			exe := tt.exec
			if exe == "" {
				exe = testExec
			}
			out, err := Render(s, Options{ExecPath: exe})
			if err == nil {
				t.Fatalf("Render accepted it:\n%s", out)
			}
			var ue *Error
			if !errors.As(err, &ue) {
				t.Fatalf("error %v is not a *unit.Error", err)
			}
			if ue.Key != tt.wantKey || !strings.Contains(ue.Msg, tt.wantMsg) {
				t.Errorf("error = %q (key %q), want key %q and message containing %q", err, ue.Key, tt.wantKey, tt.wantMsg)
			}
			if out != nil {
				t.Errorf("Render returned a unit along with the error")
			}
		})
	}
}

func TestQuoteWord(t *testing.T) {
	tests := []struct {
		in      string
		execArg bool
		want    string
	}{
		{"/etc/nucleus/web.toml", true, "/etc/nucleus/web.toml"},
		{"100%", false, "100%%"},
		{"$HOME", true, "$$HOME"},
		{"$HOME", false, "$HOME"},
		{"a b", true, `"a b"`},
		{"", true, `""`},
		{";", true, `";"`},
		{`say "hi"\`, true, `"say \"hi\"\\"`},
		{"line\nnext\ttab\rcr\x01\x7f", false, `"line\nnext\ttab\rcr\x01\x7f"`},
		{"é\xff", false, "\"é\\xff\""},
		{"'single'", false, `"'single'"`},
		{"#comment", false, `"#comment"`},
	}
	for _, tt := range tests {
		got, err := quoteWord(tt.in, tt.execArg)
		if err != nil || got != tt.want {
			t.Errorf("quoteWord(%q, %v) = %q, %v; want %q", tt.in, tt.execArg, got, err, tt.want)
		}
	}
}

// TestSystemdReader pins the test-only reader to systemd's documented
// behaviour (systemd.syntax(7), systemd.service(5) "Command lines"), so the
// round-trip tests built on it check against systemd, not against the
// renderer's own idea of the syntax.
func TestSystemdReader(t *testing.T) {
	unit := "# comment \\\n" + // a comment never continues
		"[Service]\n" +
		"ExecStart=/bin/echo \"one two\" 'three four' five\\x41 \\\n" +
		"  ; a comment inside a continuation is dropped\n" +
		"  six\n" +
		"Environment=\"A=1 2\" B=3\r\n" +
		"  Description =  padded value  \n" +
		"Key=odd\\\\\\\n" +
		"#skipped\n" +
		"rest\n" +
		"Even=two\\\\\n"
	ds, err := parseUnitFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	want := []directive{
		{"Service", "ExecStart", `/bin/echo "one two" 'three four' five\x41    six`, 5},
		{"Service", "Environment", `"A=1 2" B=3`, 6},
		{"Service", "Description", "padded value", 7},
		{"Service", "Key", `odd\\ rest`, 10},
		{"Service", "Even", `two\\`, 11},
	}
	if !reflect.DeepEqual(ds, want) {
		t.Fatalf("parseUnitFile:\n got %+v\nwant %+v", ds, want)
	}
	argv, err := parseExecValue(ds[0].Value)
	if err != nil || !reflect.DeepEqual(argv, []string{"/bin/echo", "one two", "three four", "fiveA", "six"}) {
		t.Errorf("parseExecValue = %q, %v", argv, err)
	}
	env, err := parseEnvironmentValue(ds[1].Value)
	if err != nil || !reflect.DeepEqual(env, []string{"A=1 2", "B=3"}) {
		t.Errorf("parseEnvironmentValue = %q, %v", env, err)
	}
	for _, bad := range []string{`"unbalanced`, `trailing\`, `bad\q`, `nul\x00`, `a ; b`, `%n`, `$HOME`, `${X}`} {
		if argv, err := parseExecValue(bad); err == nil {
			t.Errorf("parseExecValue(%q) = %q, want an error", bad, argv)
		}
	}
	if argv, err := parseExecValue(`/bin/x \; "%%" $$ \073`); err != nil || !reflect.DeepEqual(argv, []string{"/bin/x", ";", "%", "$", ";"}) {
		t.Errorf("parseExecValue escapes = %q, %v", argv, err)
	}
}

func TestValidUnitName(t *testing.T) {
	for name, want := range map[string]bool{
		"db.service": true, "multi-user.target": true, "getty@tty1.service": true, "foo@.service": true,
		`dev-disk-by\x2dlabel.device`: true, "a:b.mount": true,
		"": false, "db": false, ".service": false, "db.unknown": false, "@x.service": false,
		"a@b@c.service": false, "../etc.target": false, "a/b.target": false, "a b.service": false,
		strings.Repeat("a", 248) + ".service": false,
	} {
		if got := ValidUnitName(name); got != want {
			t.Errorf("ValidUnitName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestFormatTimespan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 90 * time.Second: "90s", 1500 * time.Millisecond: "1500ms",
		time.Nanosecond: "1us", 2500 * time.Microsecond: "2500us", time.Hour: "3600s",
	} {
		if got := formatTimespan(d); got != want {
			t.Errorf("formatTimespan(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFormatCPUQuota(t *testing.T) {
	for cpus, want := range map[float64]string{
		1.5: "150%", 2: "200%", 0.25: "25%", 0.333: "33.3%", 0.12345: "12.35%", 0.00001: "0.01%", 0.105: "10.5%",
	} {
		if got := formatCPUQuota(cpus); got != want {
			t.Errorf("formatCPUQuota(%v) = %q, want %q", cpus, got, want)
		}
	}
}

// TestHeaderComment checks that source paths in the header comment cannot
// break out of it, and read as written (comments get no specifiers).
func TestHeaderComment(t *testing.T) {
	s := baseSpec()
	s.Sources = []string{"/etc/nucleus/web.toml", "/etc/nucleus/web.toml.d/10 50%.toml", "/etc/nucleus/web.toml.d/x\n[Service]\nExecStartPre=/evil.toml"}
	out, err := Render(s, Options{ExecPath: testExec})
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "# Automatically generated by nucleus-generator from:\n" +
		"#   /etc/nucleus/web.toml\n" +
		"#   \"/etc/nucleus/web.toml.d/10 50%.toml\"\n" +
		"#   \"/etc/nucleus/web.toml.d/x\\n[Service]\\nExecStartPre=/evil.toml\"\n"
	if !strings.HasPrefix(string(out), wantHeader) {
		t.Errorf("header:\n%s\nwant prefix:\n%s", out, wantHeader)
	}
	for _, d := range decodeUnit(t, string(out)) {
		if d.Key == "ExecStartPre" {
			t.Errorf("a source path injected %v", d)
		}
	}
}
