// Package harness boots the machine's real systemd as PID 1 of fresh
// pid/mount/uts/ipc/net/cgroup namespaces on a throw-away overlay of the
// host's /, for end-to-end tests (and the README demo) on machines whose own
// PID 1 is not systemd.
//
// It owns the instance's whole life: a private cgroup in every hierarchy it
// hands over, the namespaces and root file system (inside.sh, embedded),
// waiting for boot, running commands inside (nsenter), reading unit state
// and the journal through systemd's own tools, and a stop that signals only
// processes it verified are its own and then removes its cgroups and run
// directory.
//
// It must not be imported by non-test code of the product, and it must not
// touch the host's /etc, /run, /usr or /var: every write goes to the
// instance's overlay. The instance runs as real root: it prevents accidents,
// not escapes.
package harness

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

//go:embed inside.sh
var insideScript []byte

// CgroupMode says which cgroup hierarchies the instance's systemd gets.
type CgroupMode string

const (
	// Unified hands over only cgroup2. On hosts whose cgroup2 has no
	// memory/pids controllers (these machines), systemd silently ignores
	// MemoryMax= and TasksMax=.
	Unified CgroupMode = "unified"
	// Hybrid also hands over every v1 hierarchy the harness is in
	// (memory, pids, ...), so MemoryMax=/TasksMax= are enforced.
	Hybrid CgroupMode = "hybrid"
)

// Options configure Boot/Start. The zero value is a unified-mode instance.
type Options struct {
	Cgroup CgroupMode // "" = Unified
	// StateDir holds run directories; "" = $TMPDIR/nucleus-e2e.
	StateDir string
	// BootTimeout bounds the wait for `systemctl is-system-running`;
	// 0 = 30s. Boot normally takes well under a second.
	BootTimeout time.Duration
	// StopTimeout bounds the clean shutdown before SIGKILL; 0 = 30s.
	StopTimeout time.Duration
	// Kmsg passes the host's /dev/kmsg in, so that programs which log to the
	// kernel log (generators) can be read back with `journalctl -b` inside.
	// Lines written there also land in the host's kernel log.
	Kmsg bool
	// ExecTimeout bounds each Exec; 0 = DefaultExecTimeout.
	ExecTimeout time.Duration

	// dieWithParent kills the instance when the calling process dies
	// (crash, test timeout) instead of leaving it running: Boot sets it.
	// Its cgroups and run dir stay behind for `sdharness stop all`.
	dieWithParent bool
}

func (o Options) withDefaults() Options {
	if o.Cgroup == "" {
		o.Cgroup = Unified
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir()
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 30 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 30 * time.Second
	}
	return o
}

// DefaultStateDir is where run directories live unless Options.StateDir says
// otherwise.
func DefaultStateDir() string { return filepath.Join(os.TempDir(), "nucleus-e2e") }

// state is what a run directory records about its instance, so that a
// separate process (the CLI) can find and stop it safely.
type state struct {
	Mode         CgroupMode `json:"mode"`
	UnsharePID   int        `json:"unshare_pid"`
	UnshareStart uint64     `json:"unshare_start"` // /proc/PID/stat starttime
	PID          int        `json:"pid"`           // host PID of the instance's PID 1
	PIDStart     uint64     `json:"pid_start"`
	Cgroups      []string   `json:"cgroups"`        // host paths of the private cgroups
	Unified      string     `json:"unified_cgroup"` // the cgroup2 one, path relative to the cgroup2 mount
	StopTimeout  string     `json:"stop_timeout"`
}

// Instance is one running systemd. Its methods are safe to call from one
// goroutine at a time per method; Stop is idempotent.
type Instance struct {
	RunDir string
	st     state
	done   chan struct{} // closed when our unshare child is reaped (in-process only)
	stop   time.Duration
	// execTimeout bounds one Exec (0 = DefaultExecTimeout).
	execTimeout time.Duration
	// stopped is set once Stop has finished.
	stopped bool
}

// PID is the host PID of the instance's PID 1 (systemd).
func (in *Instance) PID() int { return in.st.PID }

// Mode is the instance's cgroup mode.
func (in *Instance) Mode() CgroupMode { return in.st.Mode }

// Boot starts an instance for a test: it fails the test (with the console
// log) when systemd does not boot, and registers a cleanup that stops it.
// Should the test process die without cleaning up, the instance dies with
// it.
func Boot(t testing.TB, opts Options) *Instance {
	t.Helper()
	opts.dieWithParent = true
	in, err := Start(opts)
	if err != nil {
		t.Fatalf("harness: boot: %v", err)
	}
	t.Cleanup(func() {
		if err := in.Stop(); err != nil {
			t.Errorf("harness: stop: %v", err)
		}
	})
	return in
}

// Start boots an instance and waits until systemd reports the boot finished
// (running or degraded). The caller must Stop it. The instance survives the
// calling process (its session is its own); only Stop ends it.
func Start(opts Options) (*Instance, error) {
	opts = opts.withDefaults()
	if opts.Cgroup != Unified && opts.Cgroup != Hybrid {
		return nil, fmt.Errorf("unknown cgroup mode %q (want unified or hybrid)", opts.Cgroup)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	run, err := os.MkdirTemp(opts.StateDir, "run.")
	if err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	if run, err = filepath.EvalSymlinks(run); err != nil { // as Attach will see it
		return nil, err
	}
	in := &Instance{RunDir: run, stop: opts.StopTimeout, execTimeout: opts.ExecTimeout}
	in.st.Mode = opts.Cgroup
	in.st.StopTimeout = opts.StopTimeout.String()
	fail := func(err error) (*Instance, error) {
		if serr := in.Stop(); serr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, serr)
		}
		return nil, err
	}

	hs, err := selfHierarchies(opts.Cgroup)
	if err != nil {
		return fail(err)
	}
	var specs []string
	for _, h := range hs {
		d := filepath.Join(h.hostDir, "nucleus-e2e-"+strings.TrimPrefix(filepath.Base(run), "run."))
		if err := os.Mkdir(d, 0o755); err != nil {
			return fail(fmt.Errorf("private cgroup: %w", err))
		}
		in.st.Cgroups = append(in.st.Cgroups, d)
		if h.ctl == "" {
			in.st.Unified = strings.TrimPrefix(d, h.mount)
		}
		if strings.Contains(","+h.ctl+",", ",cpuset,") {
			// A new cpuset group starts empty; it cannot take processes until
			// it has CPUs and memory nodes.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
				if err == nil {
					err = os.WriteFile(filepath.Join(d, f), b, 0o644)
				}
				if err != nil {
					return fail(fmt.Errorf("cpuset: %w", err))
				}
			}
		}
		specs = append(specs, h.ctl+":"+h.dirName)
	}
	if err := os.WriteFile(filepath.Join(run, "cgroups"), []byte(strings.Join(in.st.Cgroups, "\n")+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(run, "inside.sh"), insideScript, 0o700); err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(run, "console.log"), nil, 0o600); err != nil {
		return fail(err)
	}
	logf, err := os.Create(filepath.Join(run, "unshare.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()

	// Enter the private cgroups first, then unshare: the cgroup namespace's
	// root is the cgroup the process is in when it unshares. --kill-child
	// makes unshare take PID 1 down with it; the run dir on the command line
	// lets a later Stop recognise the process as ours.
	cmd := exec.Command("/bin/sh", "-c",
		`while read -r d; do echo $$ > "$d/cgroup.procs" || exit 125; done < "$1/cgroups"
exec unshare --fork --kill-child --pid --mount --uts --ipc --net --cgroup /bin/bash "$1/inside.sh" "$1"`,
		"nucleus-e2e", run)
	kmsg := ""
	if opts.Kmsg {
		kmsg = "1"
	}
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"NUCLEUS_E2E_MODE=" + string(opts.Cgroup),
		"NUCLEUS_E2E_HIERARCHIES=" + strings.Join(specs, " "),
		"NUCLEUS_E2E_KMSG=" + kmsg,
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in.done = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		defer close(in.done)
		if opts.dieWithParent {
			// The parent-death signal fires when the thread that forked
			// exits, so that thread stays locked to this goroutine, which
			// lives until unshare is reaped.
			runtime.LockOSThread()
			cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		}
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
	}()
	if err := <-started; err != nil {
		in.done = nil
		return fail(fmt.Errorf("start unshare: %w", err))
	}
	in.st.UnsharePID = cmd.Process.Pid
	if in.st.UnshareStart, err = startTime(in.st.UnsharePID); err != nil {
		return fail(fmt.Errorf("unshare vanished: %w: %s", err, in.logs()))
	}

	// PID 1 of the new namespaces is unshare's only child, once it has
	// exec'd systemd.
	deadline := time.Now().Add(opts.BootTimeout)
	for in.st.PID == 0 {
		if pid := onlyChild(in.st.UnsharePID); pid > 0 && comm(pid) == "systemd" {
			st, err := startTime(pid)
			if err == nil {
				in.st.PID, in.st.PIDStart = pid, st
				break
			}
		}
		select {
		case <-in.done:
			return fail(fmt.Errorf("the namespace setup failed before systemd ran: %s", in.logs()))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("systemd did not start within %s: %s", opts.BootTimeout, in.logs()))
		}
	}
	if err := in.saveState(opts.StateDir); err != nil {
		return fail(err)
	}

	var last string
	for {
		out, _ := in.Exec("systemctl", "is-system-running")
		last = strings.TrimSpace(out)
		if last == "running" || last == "degraded" {
			return in, nil
		}
		if !in.ours() {
			return fail(fmt.Errorf("systemd died while booting (last state %q): %s", last, in.logs()))
		}
		if time.Now().After(deadline) {
			failed, _ := in.Exec("systemctl", "--failed", "--no-legend")
			return fail(fmt.Errorf("boot did not finish within %s (state %q; failed units: %s): %s",
				opts.BootTimeout, last, strings.TrimSpace(failed), in.logs()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *Instance) saveState(stateDir string) error {
	b, err := json.MarshalIndent(in.st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(in.RunDir, "state.json"), b, 0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	link := filepath.Join(stateDir, "run-"+strconv.Itoa(in.st.PID))
	_ = os.Remove(link) // a stale link of a recycled PID
	if err := os.Symlink(in.RunDir, link); err != nil {
		return fmt.Errorf("state link: %w", err)
	}
	return nil
}

// Attach finds the instance whose PID 1 has host PID pid (started by Start,
// possibly in another process) in stateDir ("" = DefaultStateDir).
func Attach(stateDir string, pid int) (*Instance, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir()
	}
	run, err := filepath.EvalSymlinks(filepath.Join(stateDir, "run-"+strconv.Itoa(pid)))
	if err != nil {
		return nil, fmt.Errorf("no instance with PID %d in %s: %w", pid, stateDir, err)
	}
	b, err := os.ReadFile(filepath.Join(run, "state.json"))
	if err != nil {
		return nil, fmt.Errorf("instance %d: %w", pid, err)
	}
	in := &Instance{RunDir: run}
	if err := json.Unmarshal(b, &in.st); err != nil {
		return nil, fmt.Errorf("instance %d: state: %w", pid, err)
	}
	if in.stop, err = time.ParseDuration(in.st.StopTimeout); err != nil {
		in.stop = 30 * time.Second
	}
	return in, nil
}

// List returns the PIDs of the instances recorded in stateDir ("" =
// DefaultStateDir), whether or not they still run.
func List(stateDir string) ([]int, error) {
	if stateDir == "" {
		stateDir = DefaultStateDir()
	}
	links, err := filepath.Glob(filepath.Join(stateDir, "run-*"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, l := range links {
		if pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(l), "run-")); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// logs is the tail of the setup log and of systemd's console, for errors.
func (in *Instance) logs() string {
	var b strings.Builder
	for _, f := range []string{"unshare.log", "console.log"} {
		data, err := os.ReadFile(filepath.Join(in.RunDir, f))
		if err != nil {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "\n--- %s ---\n%s", f, bytes.TrimSpace(data))
	}
	return b.String()
}

// Console returns what systemd (and anything else) wrote to the instance's
// /dev/console so far.
func (in *Instance) Console() string {
	b, _ := os.ReadFile(filepath.Join(in.RunDir, "console.log"))
	return string(b)
}

// unshareAlive reports whether our unshare process still runs: the PID
// exists, is not a zombie, started when ours did (never a recycled PID) ...
func (in *Instance) unshareAlive() bool {
	if in.st.UnsharePID == 0 {
		return false
	}
	st, err := startTime(in.st.UnsharePID)
	if err != nil || st != in.st.UnshareStart {
		return false
	}
	// ... and is ours: its last argument is our run dir (as sh, and after
	// it exec'd unshare).
	cmd, err := os.ReadFile("/proc/" + strconv.Itoa(in.st.UnsharePID) + "/cmdline")
	return err == nil && bytes.HasSuffix(cmd, []byte("\x00"+in.RunDir+"\x00"))
}

// ours reports whether the recorded PID 1 is still our systemd: a child of
// our unshare, with the start time we recorded.
func (in *Instance) ours() bool {
	if in.st.PID == 0 || !in.unshareAlive() {
		return false
	}
	st, err := startTime(in.st.PID)
	return err == nil && st == in.st.PIDStart && ppid(in.st.PID) == in.st.UnsharePID
}

// Alive reports whether the instance's systemd still runs.
func (in *Instance) Alive() bool { return in.ours() }

// waitGone waits up to d for our unshare to exit.
func (in *Instance) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for in.unshareAlive() {
		if time.Now().After(deadline) {
			return false
		}
		if in.done != nil {
			select {
			case <-in.done:
			case <-time.After(20 * time.Millisecond):
			}
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return true
}

// sigRTMin3 is SIGRTMIN+3 as glibc numbers it (SIGRTMIN = 34): systemd's
// "halt" request, what systemd-nspawn sends to stop a container.
const sigRTMin3 = syscall.Signal(37)

// Stop shuts the instance down: SIGRTMIN+3 to its systemd, SIGKILL if it is
// still up after the stop timeout, then removes its cgroups and run
// directory. It signals only processes it verified are its own.
func (in *Instance) Stop() error {
	if in.stopped {
		return nil
	}
	var errs []error
	if in.ours() {
		_ = syscall.Kill(in.st.PID, sigRTMin3)
	} else if in.st.PID == 0 && in.unshareAlive() {
		// Boot failed before systemd ran: nothing to shut down cleanly.
		// unshare's --kill-child takes its child with it.
		_ = syscall.Kill(in.st.UnsharePID, syscall.SIGKILL)
	}
	if !in.waitGone(in.stop) {
		errs = append(errs, fmt.Errorf("no clean shutdown within %s, killed: %s", in.stop, in.logs()))
		if in.ours() {
			_ = syscall.Kill(in.st.PID, syscall.SIGKILL)
		}
		if !in.waitGone(10 * time.Second) {
			if in.unshareAlive() {
				_ = syscall.Kill(in.st.UnsharePID, syscall.SIGKILL)
			}
			if !in.waitGone(5 * time.Second) {
				errs = append(errs, errors.New("instance still alive after SIGKILL"))
			}
		}
	}
	// systemd leaves empty groups behind; the kernel may need a moment after
	// the last process is gone before a group can be removed.
	for _, cg := range in.st.Cgroups {
		if err := removeCgroupTree(cg, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if in.st.PID != 0 {
		link := filepath.Join(filepath.Dir(in.RunDir), "run-"+strconv.Itoa(in.st.PID))
		if t, err := os.Readlink(link); err == nil && t == in.RunDir {
			_ = os.Remove(link)
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(in.RunDir); err != nil {
			errs = append(errs, fmt.Errorf("remove run dir: %w", err))
		}
	}
	in.stopped = true
	return errors.Join(errs...)
}

func removeCgroupTree(root string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		var last error
		for i := len(dirs) - 1; i >= 0; i-- { // children before parents
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) {
				last = err
			}
		}
		if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("could not remove cgroup %s: %v", root, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hierarchy is one cgroup hierarchy the harness process is in.
type hierarchy struct {
	ctl     string // as in /proc/self/cgroup: "" for cgroup2, "memory", "name=systemd"
	dirName string // its directory under the instance's /sys/fs/cgroup in hybrid mode
	mount   string // host mount point
	hostDir string // host path of the cgroup we are in now
}

// selfHierarchies lists the hierarchies to hand over: cgroup2 always, every
// v1 hierarchy too in hybrid mode.
func selfHierarchies(mode CgroupMode) ([]hierarchy, error) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var hs []hierarchy
	for _, line := range strings.Split(strings.TrimSpace(string(cg)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		ctl, path := f[1], f[2]
		if ctl != "" && mode != Hybrid {
			continue
		}
		mount, root, ok := findCgroupMount(string(mi), ctl)
		if !ok {
			return nil, fmt.Errorf("cgroup hierarchy %q is not mounted", ctl)
		}
		rel := strings.TrimPrefix(path, root)
		dir := "unified"
		if ctl != "" {
			dir = strings.TrimPrefix(ctl, "name=")
		}
		hs = append(hs, hierarchy{ctl: ctl, dirName: dir, mount: mount, hostDir: filepath.Join(mount, rel)})
	}
	for _, h := range hs {
		if h.ctl == "" {
			return hs, nil
		}
	}
	return nil, errors.New("not in a cgroup2 hierarchy: systemd 252 needs one")
}

// findCgroupMount returns the mount point and root of the hierarchy ctl
// ("" = cgroup2) from mountinfo text.
func findCgroupMount(mountinfo, ctl string) (mount, root string, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(mountinfo))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 || len(fields) < 5 {
			continue
		}
		fstype, opts := fields[sep+1], fields[sep+3]
		match := false
		if ctl == "" {
			match = fstype == "cgroup2"
		} else if fstype == "cgroup" {
			match = true
			have := map[string]bool{}
			for _, o := range strings.Split(opts, ",") {
				have[o] = true
			}
			for _, c := range strings.Split(ctl, ",") {
				if !have[c] {
					match = false
				}
			}
		}
		if match {
			return unescapeMountinfo(fields[4]), unescapeMountinfo(fields[3]), true
		}
	}
	return "", "", false
}

func unescapeMountinfo(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("bad stat")
	}
	return strings.Fields(string(b[i+1:])), nil
}

// startTime is the process's start time (clock ticks since boot); it fails
// for a missing process or a zombie.
func startTime(pid int) (uint64, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("process %d is gone", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func ppid(pid int) int {
	f, err := procStat(pid)
	if err != nil || len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// onlyChild returns the single child of pid, or 0.
func onlyChild(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}
