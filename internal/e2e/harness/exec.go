package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ExecError is a command inside the instance that failed to run or exited
// non-zero.
type ExecError struct {
	Args     []string
	ExitCode int // -1 when it did not run to an exit status
	Stdout   string
	Stderr   string
	Err      error
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("in instance: %q", e.Args)
	if e.ExitCode >= 0 {
		msg += fmt.Sprintf(" exited %d", e.ExitCode)
	} else {
		msg += fmt.Sprintf(": %v", e.Err)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *ExecError) Unwrap() error { return e.Err }

// ExitCode returns the exit status of a command that ran inside the
// instance and failed, or -1.
func ExitCode(err error) int {
	var ee *ExecError
	if errors.As(err, &ee) {
		return ee.ExitCode
	}
	return -1
}

// Exec runs args inside the instance (all of its namespaces, a clean
// environment) and returns its stdout; a non-zero exit is an *ExecError
// carrying stderr.
func (in *Instance) Exec(args ...string) (string, error) {
	return in.ExecInput(nil, args...)
}

// DefaultExecTimeout bounds one Exec unless Options.ExecTimeout says
// otherwise: a command that hangs (say, a start job that never finishes)
// fails its test instead of stalling the suite.
const DefaultExecTimeout = 3 * time.Minute

// ExecInput is Exec with stdin.
func (in *Instance) ExecInput(stdin []byte, args ...string) (string, error) {
	// nsenter -t PID on a PID that is no longer ours would run the command
	// in some other process's namespaces, i.e. possibly on the host.
	if !in.ours() {
		return "", &ExecError{Args: args, ExitCode: -1, Err: errors.New("the instance is not running")}
	}
	timeout := in.execTimeout
	if timeout == 0 {
		timeout = DefaultExecTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", append(in.NsenterArgs(), args...)...)
	// nsenter forks to enter the pid namespace: on timeout, kill its whole
	// process group, not just nsenter.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err != nil {
		ee := &ExecError{Args: args, ExitCode: -1, Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
		var xe *exec.ExitError
		if ctx.Err() != nil {
			ee.Err = fmt.Errorf("killed after %s: %w", timeout, ctx.Err())
		} else if errors.As(err, &xe) && xe.Exited() {
			ee.ExitCode = xe.ExitCode()
		}
		return stdout.String(), ee
	}
	return stdout.String(), nil
}

// NsenterArgs are the arguments of nsenter(1) that run a command (appended
// after them) inside the instance with a clean environment. The caller must
// have checked Alive just before: nsenter trusts the PID.
func (in *Instance) NsenterArgs() []string {
	return []string{"-t", strconv.Itoa(in.st.PID), "-a",
		"env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0", "SYSTEMD_LOG_COLOR=0"}
}

// WriteFile writes data to instPath inside the instance (root-owned, mode,
// parent directories created), atomically: a running program at that path
// keeps its old copy.
func (in *Instance) WriteFile(instPath string, data []byte, mode os.FileMode) error {
	if !filepath.IsAbs(instPath) {
		return fmt.Errorf("write %s: not an absolute path", instPath)
	}
	_, err := in.ExecInput(data, "/bin/sh", "-c",
		`set -e; umask 022; mkdir -p -- "$(dirname -- "$1")"; cat > "$1.e2e-tmp"; chmod "$2" "$1.e2e-tmp"; mv -f -- "$1.e2e-tmp" "$1"`,
		"write", instPath, strconv.FormatUint(uint64(mode.Perm()), 8))
	if err != nil {
		return fmt.Errorf("write %s: %w", instPath, err)
	}
	return nil
}

// CopyIn copies the host file hostPath to instPath inside the instance.
func (in *Instance) CopyIn(hostPath, instPath string, mode os.FileMode) error {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return fmt.Errorf("copy in: %w", err)
	}
	return in.WriteFile(instPath, data, mode)
}

// Props are unit properties as `systemctl show` prints them.
type Props map[string]string

// Int returns the property as an integer, or -1 when it is not one.
func (p Props) Int(key string) int {
	n, err := strconv.Atoi(p[key])
	if err != nil {
		return -1
	}
	return n
}

// String renders the properties for failure messages, sorted by name.
func (p Props) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%q", k, p[k])
	}
	return b.String()
}

// StateProps are the properties Show reads when none are named: enough to
// tell what a service is doing and why.
var StateProps = []string{"LoadState", "ActiveState", "SubState", "Result", "NRestarts",
	"StatusText", "MainPID", "ExecMainCode", "ExecMainStatus"}

// Show returns `systemctl show -p PROPS UNIT` (StateProps when none given).
func (in *Instance) Show(unit string, props ...string) (Props, error) {
	if len(props) == 0 {
		props = StateProps
	}
	out, err := in.Exec("systemctl", "show", "-p", strings.Join(props, ","), "--", unit)
	if err != nil {
		return nil, fmt.Errorf("show %s: %w", unit, err)
	}
	p := Props{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			p[k] = v
		}
	}
	return p, nil
}

// WaitFor polls the unit's StateProps (plus extra) until cond holds or
// timeout passes; the error says what the unit looked like last.
func (in *Instance) WaitFor(unit string, cond func(Props) bool, timeout time.Duration, extra ...string) (Props, error) {
	props := append(append([]string{}, StateProps...), extra...)
	deadline := time.Now().Add(timeout)
	for {
		p, err := in.Show(unit, props...)
		if err == nil && cond(p) {
			return p, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return p, fmt.Errorf("%s: condition not met within %s: %w", unit, timeout, err)
			}
			return p, fmt.Errorf("%s: condition not met within %s; last: %s", unit, timeout, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// JournalEntry is one record of `journalctl -o json`.
type JournalEntry struct {
	Message  string
	Priority int               // -1 when absent
	PID      int               // _PID, 0 when absent
	Fields   map[string]string // every field; binary values decoded as bytes
}

// Journal returns the unit's journal (`journalctl -u UNIT -o json`): its
// processes' output and systemd's messages about it.
func (in *Instance) Journal(unit string) ([]JournalEntry, error) {
	return in.JournalArgs("-u", unit)
}

// JournalArgs runs `journalctl -o json --no-pager ARGS...` and decodes it.
func (in *Instance) JournalArgs(args ...string) ([]JournalEntry, error) {
	out, err := in.Exec(append([]string{"journalctl", "-o", "json", "--no-pager"}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var entries []JournalEntry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			return nil, fmt.Errorf("journal: decode %q: %w", sc.Text(), err)
		}
		e := JournalEntry{Priority: -1, Fields: map[string]string{}}
		for k, v := range raw {
			e.Fields[k] = journalValue(v)
		}
		e.Message = e.Fields["MESSAGE"]
		if n, err := strconv.Atoi(e.Fields["PRIORITY"]); err == nil {
			e.Priority = n
		}
		e.PID, _ = strconv.Atoi(e.Fields["_PID"])
		entries = append(entries, e)
	}
	return entries, sc.Err()
}

// journalValue decodes a journal JSON value: a string, an array of byte
// values (non-UTF-8 data), or null.
func journalValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var bs []byte
	var nums []int
	if json.Unmarshal(v, &nums) == nil {
		for _, n := range nums {
			bs = append(bs, byte(n))
		}
		return string(bs)
	}
	var many []json.RawMessage // a field repeated in one entry: keep the first
	if json.Unmarshal(v, &many) == nil && len(many) > 0 {
		return journalValue(many[0])
	}
	return ""
}

// Messages returns the MESSAGE of every entry.
func Messages(entries []JournalEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Message
	}
	return out
}

// WaitJournal polls `journalctl -o json ARGS` until some message contains
// substr, and returns that entry.
func (in *Instance) WaitJournal(substr string, timeout time.Duration, args ...string) (JournalEntry, error) {
	deadline := time.Now().Add(timeout)
	for {
		es, err := in.JournalArgs(args...)
		if err == nil {
			for _, e := range es {
				if strings.Contains(e.Message, substr) {
					return e, nil
				}
			}
		}
		if time.Now().After(deadline) {
			msgs := Messages(es)
			if len(msgs) > 40 {
				msgs = msgs[len(msgs)-40:]
			}
			return JournalEntry{}, fmt.Errorf("no journal message (%q) containing %q within %s (err %v); last messages:\n  %s",
				args, substr, timeout, err, strings.Join(msgs, "\n  "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Process is a process running in the instance, as the host sees it.
type Process struct {
	PID     int    // host PID
	Cmdline string // argv joined with spaces
	Cgroup  string // cgroup2 path as the instance sees it, e.g. /nucleus.slice/web.service
}

// Processes lists every process in the instance's cgroup tree, read from the
// host's /proc (so it also sees processes in nested pid namespaces, and
// never the commands Exec runs, which stay in the caller's cgroup).
func (in *Instance) Processes() ([]Process, error) {
	if in.st.Unified == "" {
		return nil, errors.New("processes: the instance has no cgroup2 group")
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	root := strings.TrimSuffix(in.st.Unified, "/")
	var ps []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			continue
		}
		var path string
		for _, line := range strings.Split(string(cg), "\n") {
			if p, ok := strings.CutPrefix(line, "0::"); ok {
				path = p
			}
		}
		if path != root && !strings.HasPrefix(path, root+"/") {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cmd) == 0 { // exited meanwhile, or a kernel thread
			continue
		}
		rel := strings.TrimPrefix(path, root)
		if rel == "" {
			rel = "/"
		}
		ps = append(ps, Process{PID: pid, Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")), Cgroup: rel})
	}
	return ps, nil
}

// ProcessesMatching returns the instance's processes whose command line
// contains substr.
func (in *Instance) ProcessesMatching(substr string) ([]Process, error) {
	ps, err := in.Processes()
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, p := range ps {
		if strings.Contains(p.Cmdline, substr) {
			out = append(out, p)
		}
	}
	return out, nil
}
