package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/e2e/harness"
)

// The .deb is built (and linted) once for all tests of the package.
var (
	debOnce sync.Once
	debPath string
	debLog  string
	debErr  error
)

// buildDeb runs `packaging/build-deb.sh` (what `make deb` runs) without its
// lintian step, which TestDebLintianClean runs instead (lintian takes a
// while on the static binaries: run it once).
func buildDeb(t *testing.T) string {
	t.Helper()
	debOnce.Do(func() {
		out, err := os.MkdirTemp("", "nucleus-deb-test.")
		if err != nil {
			debErr = err
			return
		}
		cmd := exec.Command("./packaging/build-deb.sh")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "OUT="+out, "LINTIAN=0")
		var stdout strings.Builder
		cmd.Stdout = &stdout
		stderr, err := os.CreateTemp(out, "log")
		if err != nil {
			debErr = err
			return
		}
		defer stderr.Close()
		cmd.Stderr = stderr
		debErr = cmd.Run()
		log, _ := os.ReadFile(stderr.Name())
		debLog = string(log)
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		debPath = lines[len(lines)-1]
	})
	if debErr != nil {
		t.Fatalf("packaging/build-deb.sh: %v\n%s", debErr, debLog)
	}
	return debPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if debPath != "" {
		os.RemoveAll(filepath.Dir(debPath))
	}
	os.Exit(code)
}

func dpkgDeb(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", args...).Output()
	if err != nil {
		t.Fatalf("dpkg-deb %v: %v", args, err)
	}
	return string(out)
}

// TestDebLintianClean runs lintian as `make deb` does: no error and no
// warning may be left (overrides carry their reasons).
func TestDebLintianClean(t *testing.T) {
	deb := buildDeb(t)
	out, err := exec.Command("lintian", "--fail-on", "error,warning", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("lintian %s: %v\n%s", deb, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E:") || strings.HasPrefix(line, "W:") {
			t.Errorf("lintian: %s", line)
		}
	}
	// The overrides file is installed, so lintian did read the package.
	if !strings.Contains(dpkgDeb(t, "-c", deb), "./usr/share/lintian/overrides/nucleus") {
		t.Error("the package has no lintian overrides file")
	}
}

func TestDebMetadata(t *testing.T) {
	deb := buildDeb(t)
	fields := map[string]string{
		"Package":    "nucleus",
		"Depends":    "systemd",
		"Recommends": "runsc",
		"Section":    "admin",
		"Priority":   "optional",
	}
	for field, want := range fields {
		if got := strings.TrimSpace(dpkgDeb(t, "-f", deb, field)); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	if desc := dpkgDeb(t, "-f", deb, "Description"); strings.Count(desc, "\n") < 5 {
		t.Errorf("Description has no real long description:\n%s", desc)
	}
	if v := strings.TrimSpace(dpkgDeb(t, "-f", deb, "Version")); !strings.HasSuffix(v, "-1") {
		t.Errorf("Version %q is not a non-native version X-1 (changelog.Debian.gz needs one)", v)
	}

	ctrl := t.TempDir()
	dpkgDeb(t, "-e", deb, ctrl)
	for _, script := range []string{"postinst", "postrm"} {
		body, err := os.ReadFile(filepath.Join(ctrl, script))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), "[ -d /run/systemd/system ]") || !strings.Contains(string(body), "systemctl daemon-reload") {
			t.Errorf("%s does not run daemon-reload only when systemd is PID 1:\n%s", script, body)
		}
	}
	if _, err := os.Stat(filepath.Join(ctrl, "md5sums")); err != nil {
		t.Error("no md5sums:", err)
	}

	contents := dpkgDeb(t, "-c", deb)
	for _, want := range []string{
		"./usr/lib/systemd/system-generators/nucleus-generator",
		"./usr/libexec/nucleus/nucleus-exec",
		"./usr/lib/systemd/system/nucleus.slice",
		"./usr/share/man/man5/nucleus.toml.5.gz",
		"./usr/share/man/man8/nucleus-generator.8.gz",
		"./usr/share/man/man8/nucleus-exec.8.gz",
		"./usr/share/doc/nucleus/copyright",
		"./usr/share/doc/nucleus/changelog.Debian.gz",
		"./usr/share/doc/nucleus/examples/web.toml",
		"drwxr-xr-x root/root         0 ", // ownership: --root-owner-group
	} {
		if !strings.Contains(contents, want) {
			t.Errorf("the package lacks %s", want)
		}
	}
	if strings.Contains(contents, "install-manifest") {
		t.Error("the package ships make install's manifest; dpkg keeps its own")
	}
	if !regexpMatch(contents, `(?m)^drwxr-xr-x root/root .* \./etc/nucleus/$`) {
		t.Errorf("no root-owned 0755 /etc/nucleus in:\n%s", contents)
	}
}

// TestDebInstallsIntoSystemd installs the .deb with dpkg -i into a
// throw-away systemd, starts the example spec it ships, and removes it
// again: the maintainer scripts' daemon-reload must make the unit appear
// and disappear.
func TestDebInstallsIntoSystemd(t *testing.T) {
	deb := buildDeb(t)
	in := harness.Boot(t, harness.Options{})
	if err := in.CopyIn(deb, "/tmp/nucleus.deb", 0o644); err != nil {
		t.Fatal(err)
	}
	mustExec := func(args ...string) string {
		t.Helper()
		out, err := in.Exec(args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mustExec("dpkg", "-i", "/tmp/nucleus.deb")
	// The spec goes in after the package, from the example it ships, and
	// postinst's daemon-reload has made the generator known already.
	mustExec("cp", "/usr/share/doc/nucleus/examples/web.toml", "/etc/nucleus/web.toml")
	mustExec("systemctl", "daemon-reload")
	if _, err := in.Exec("systemctl", "start", "web.service"); err != nil {
		journal, _ := in.Exec("journalctl", "--no-pager", "-u", "web.service")
		t.Fatalf("systemctl start web: %v\n%s", err, journal)
	}
	p, err := in.Show("web.service")
	if err != nil {
		t.Fatal(err)
	}
	if p["ActiveState"] != "active" || p["SubState"] != "running" {
		t.Errorf("web.service after start: %s", p)
	}
	cg, err := in.Show("web.service", "Slice", "FragmentPath")
	if err != nil {
		t.Fatal(err)
	}
	if cg["Slice"] != "nucleus.slice" || cg["FragmentPath"] != "/run/systemd/generator/web.service" {
		t.Errorf("web.service: %s; want Slice=nucleus.slice from the generator", cg)
	}
	mustExec("systemctl", "stop", "web.service")

	// dpkg -r: files gone, and postrm's daemon-reload drops the unit. The
	// operator's spec stays (and so /etc/nucleus with it).
	mustExec("dpkg", "-r", "nucleus")
	for _, gone := range []string{"/usr/lib/systemd/system-generators/nucleus-generator", "/usr/libexec/nucleus/nucleus-exec", "/usr/lib/systemd/system/nucleus.slice"} {
		if _, err := in.Exec("test", "!", "-e", gone); err != nil {
			t.Errorf("%s is still there after dpkg -r", gone)
		}
	}
	if _, err := in.Exec("test", "-f", "/etc/nucleus/web.toml"); err != nil {
		t.Error("dpkg -r removed the operator's spec /etc/nucleus/web.toml")
	}
	if _, err := in.WaitFor("web.service", func(p harness.Props) bool { return p["LoadState"] == "not-found" }, 10*time.Second); err != nil {
		t.Errorf("after dpkg -r (postrm daemon-reload) web.service should be gone: %v", err)
	}
}

func regexpMatch(s, re string) bool { return regexp.MustCompile(re).MatchString(s) }
