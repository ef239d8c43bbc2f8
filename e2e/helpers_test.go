//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/e2e/harness"
)

// Bounds for waits. They only cap how long a broken behaviour takes to
// fail; nothing asserts on how long anything took.
const (
	shortWait = 20 * time.Second
	longWait  = 60 * time.Second
)

// env is one booted instance with nucleus installed.
type env struct {
	t  *testing.T
	in *harness.Instance
}

// setup boots an instance, runs the prep shell commands in it (e.g.
// creating mount sources), writes the specs (name → TOML) to /etc/nucleus,
// installs nucleus and runs daemon-reload.
func setup(t *testing.T, opts harness.Options, specs map[string]string, prep ...string) *env {
	t.Helper()
	in := harness.Boot(t, opts)
	e := &env{t: t, in: in}
	for _, script := range prep {
		e.sh(script)
	}
	for name, body := range specs {
		if err := in.WriteSpec(name, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.InstallNucleus(bins); err != nil {
		t.Fatal(err)
	}
	// Every spec a test writes is meant to be valid: say why when the
	// generator refused one, rather than failing later on a missing unit.
	for name := range specs {
		if p := e.show(name+".service", "LoadState"); p["LoadState"] != "loaded" {
			out, err := in.Exec(harness.GeneratorPath, "--dry-run")
			t.Fatalf("no unit for spec %s (%s); nucleus-generator --dry-run: %v\n%s", name, p, err, out)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			// What systemd saw, for whoever reads the failure.
			out, _ := in.Exec("sh", "-c", `for u in /run/systemd/generator/*.service /run/systemd/transient/*.service; do
	[ -e "$u" ] && systemctl status --no-pager -n 30 "${u##*/}"; done`)
			t.Logf("instance state at failure:\n%s", out)
		}
	})
	return e
}

// with returns e for a subtest: failures are reported (and FailNow called)
// on t.
func (e *env) with(t *testing.T) *env { return &env{t: t, in: e.in} }

// sh runs a shell command inside and fails the test when it fails.
func (e *env) sh(script string) string {
	e.t.Helper()
	out, err := e.in.Exec("sh", "-c", script)
	if err != nil {
		e.t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return out
}

// systemctl runs systemctl inside; it returns the error instead of failing,
// since some tests expect failures.
func (e *env) systemctl(args ...string) (string, error) {
	return e.in.Exec(append([]string{"systemctl"}, args...)...)
}

func (e *env) show(unit string, props ...string) harness.Props {
	e.t.Helper()
	p, err := e.in.Show(unit, props...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// waitFor waits for cond on the unit's state and fails the test on timeout.
func (e *env) waitFor(unit string, what string, cond func(harness.Props) bool, timeout time.Duration) harness.Props {
	e.t.Helper()
	p, err := e.in.WaitFor(unit, cond, timeout)
	if err != nil {
		e.t.Fatalf("waiting for %s: %v\njournal:\n%s", what, err, e.journalText(unit))
	}
	return p
}

// waitJournal waits until the unit's journal has a message containing substr.
func (e *env) waitJournal(unit, substr string) harness.JournalEntry {
	e.t.Helper()
	ent, err := e.in.WaitJournal(substr, shortWait, "-u", unit)
	if err != nil {
		e.t.Fatal(err)
	}
	return ent
}

func (e *env) journalText(unit string) string {
	es, err := e.in.Journal(unit)
	if err != nil {
		return err.Error()
	}
	return strings.Join(harness.Messages(es), "\n")
}

// workloadOutput is what the unit's processes wrote to stdout/stderr (not
// systemd's own messages about the unit).
func (e *env) workloadOutput(unit string) []string {
	e.t.Helper()
	es, err := e.in.Journal(unit)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ent := range es {
		if ent.Fields["_TRANSPORT"] == "stdout" {
			out = append(out, ent.Message)
		}
	}
	return out
}

// waitOutputCount waits until the unit's processes have written at least
// n lines containing substr.
func (e *env) waitOutputCount(unit, substr string, n int) {
	e.t.Helper()
	e.eventually(shortWait, 100*time.Millisecond, func() (bool, string) {
		count := 0
		for _, l := range e.workloadOutput(unit) {
			if strings.Contains(l, substr) {
				count++
			}
		}
		return count >= n, fmt.Sprintf("%s: %d lines with %q, want >= %d:\n%s", unit, count, substr, n, e.journalText(unit))
	})
}

// waitNoProcesses waits until no process in the instance has marker in its
// command line (the harness reads host /proc, so processes in the
// container's own pid namespace count too).
func (e *env) waitNoProcesses(marker string) {
	e.t.Helper()
	e.eventually(shortWait, 50*time.Millisecond, func() (bool, string) {
		ps, err := e.in.ProcessesMatching(marker)
		if err != nil {
			e.t.Fatal(err)
		}
		return len(ps) == 0, fmt.Sprintf("processes left behind: %+v", ps)
	})
}

// waitUnitEmpty waits until no process is left in the unit's cgroup.
func (e *env) waitUnitEmpty(unit string) {
	e.t.Helper()
	e.eventually(shortWait, 50*time.Millisecond, func() (bool, string) {
		ps, err := e.in.Processes()
		if err != nil {
			e.t.Fatal(err)
		}
		var left []harness.Process
		for _, p := range ps {
			if strings.HasPrefix(p.Cgroup+"/", "/nucleus.slice/"+unit+"/") {
				left = append(left, p)
			}
		}
		return len(left) == 0, fmt.Sprintf("processes left in %s: %+v", unit, left)
	})
}

// waitProcesses waits until some process has marker in its command line.
func (e *env) waitProcesses(marker string) []harness.Process {
	e.t.Helper()
	var ps []harness.Process
	e.eventually(shortWait, 50*time.Millisecond, func() (bool, string) {
		var err error
		if ps, err = e.in.ProcessesMatching(marker); err != nil {
			e.t.Fatal(err)
		}
		return len(ps) > 0, fmt.Sprintf("no process with %q appeared", marker)
	})
	return ps
}

// waitLines waits until the file inside has at least n lines.
func (e *env) waitLines(path string, n int, timeout time.Duration) {
	e.t.Helper()
	e.eventually(timeout, 100*time.Millisecond, func() (bool, string) {
		out, _ := e.in.Exec("cat", path)
		return strings.Count(out, "\n") >= n, fmt.Sprintf("%s has fewer than %d lines after %s: %q", path, n, timeout, out)
	})
}

// eventually calls check every interval until it reports done; once timeout
// has passed, it fails the test with check's description of the state.
func (e *env) eventually(timeout, interval time.Duration, check func() (done bool, state string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, state := check()
		if done {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal(state)
		}
		time.Sleep(interval)
	}
}

func active(p harness.Props) bool { return p["ActiveState"] == "active" }

func contains(lines []string, substr string) bool {
	for _, l := range lines {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// python returns a TOML command array running a python3 script; marker is
// passed as argv[1] so that the workload's processes can be found by it.
func python(script, marker string) string {
	return fmt.Sprintf("command = [\"/usr/bin/python3\", \"-u\", \"-c\", '''\n%s''', %q]", script, marker)
}
