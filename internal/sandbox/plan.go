package sandbox

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"syscall"

	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// userNSBase and userNSSize define the host id range for user_namespace =
// "auto": container ids 0..userNSSize-1 map to hostBase+0.., where hostBase
// is derived from the spec name so that two containers rarely share a range
// and a restarted container gets the same one (its files keep their owner).
const (
	userNSBase  = 0x100000 // above every id a distribution allocates
	userNSSize  = 65536
	userNSSlots = 16384 // hostBase stays below 2^31
)

// plan is everything the sandbox stages need, computed once by the
// supervisor from the spec and passed to init as JSON. Stages never look at
// the spec themselves.
type plan struct {
	Name        string
	Hostname    string // "" = no UTS namespace: never touch the host's hostname
	Cloneflags  uintptr
	NewNet      bool // own network namespace: bring loopback up
	PidNS       bool
	UserNS      bool
	HostUIDBase int // first host uid/gid of the user namespace range

	Rootfs   string               // host path of a directory rootfs; "" = tmpfs root + host view
	ReadOnly bool                 // root (tmpfs or rootfs bind) read-only
	HostView []workload.HostEntry // rootfs = "": the host dirs to show (workload.HostView), read-only, nosuid, nodev
	Mounts   []mountStep
	// Credentials are copied (not bound) into the container; see
	// mountCredentials.
	Credentials []credentialStep `json:",omitempty"`
	Notify      string           // host path of the notify socket; "" = none

	Exec execPlan
}

// mountStep is one [[mount]] or credential in the order it is applied.
type mountStep struct {
	Type     spec.MountType
	Source   string // host path (bind)
	Target   string // inside the container
	ReadOnly bool
	Size     int64
	IsFile   bool // bind of a file: the target is created as an empty file
}

// credentialStep is one [[credential]]. The supervisor opens Source (as
// host root, before any namespace) and passes the open file to init as
// descriptor FD; init copies the content into a private tmpfs owned by the
// workload's user, so a non-root workload can read a root-owned 0400 file
// that systemd manages, without nucleus ever changing that file.
type credentialStep struct {
	Name   string
	Source string // host path, for messages
	Target string // inside the container
	FD     int    // descriptor number in init; set by Start
}

// execPlan is what init applies to the workload (and each probe). Identity fields are
// filled in by init after pivot_root (names resolve in the container's
// /etc/passwd and /etc/group).
type execPlan struct {
	Argv    []string
	Env     []string // the environment without HOME/USER, which init adds
	Workdir string

	User    string
	Groups  []string
	UID     uint32
	GID     uint32
	SupGIDs []uint32

	Caps   []int  // kept capabilities; everything else is dropped
	NOFile uint64 // 0 = inherit
	NProc  uint64 // 0 = inherit

	Seccomp  seccompPlan
	Landlock landlockPlan
}

// seccompPlan mirrors seccomp.Options (ProfilePath is a host path: init
// builds the filter before pivot_root).
type seccompPlan struct {
	Mode        string
	ProfilePath string
	Allow       []string
	HostNetwork bool
}

// landlockPlan mirrors landlock.Rules (paths inside the container).
type landlockPlan struct {
	Read, Write, Execute []string
	TCPBind, TCPConnect  []uint16
}

// setupError is a failure to build the sandbox: nucleus-exec exits 125.
type setupError struct{ msg string }

func (e *setupError) Error() string { return e.msg }

func setupErrorf(format string, args ...any) error {
	return &setupError{msg: fmt.Sprintf(format, args...)}
}

// newPlan turns a validated spec into a plan, checking what can be checked
// on the host (sources exist, rootfs is a directory).
func newPlan(s *spec.Spec, opts Options) (*plan, error) {
	if s.Isolation.Runtime != "" && s.Isolation.Runtime != spec.RuntimeNative {
		return nil, setupErrorf("sandbox: runtime %q is not the native sandbox", s.Isolation.Runtime)
	}
	if len(s.Exec.Command) == 0 {
		return nil, setupErrorf("sandbox: exec.command is empty")
	}
	iso := s.Isolation
	p := &plan{Name: s.Name, ReadOnly: iso.ReadOnly}

	// Namespaces. The mount namespace is not optional: every filesystem
	// guarantee (fresh root, ro host view, masked /proc) lives in it.
	if !iso.HasNamespace(spec.NSMount) {
		return nil, setupErrorf("sandbox: namespace \"mount\" is required by the native runtime (it carries the whole filesystem layout)")
	}
	p.Cloneflags = syscall.CLONE_NEWNS
	if iso.HasNamespace(spec.NSPid) {
		p.Cloneflags |= syscall.CLONE_NEWPID
		p.PidNS = true
	}
	if iso.HasNamespace(spec.NSIPC) {
		p.Cloneflags |= syscall.CLONE_NEWIPC
	}
	if iso.HasNamespace(spec.NSUTS) {
		p.Cloneflags |= syscall.CLONE_NEWUTS
		p.Hostname = s.Exec.Hostname // spec defaults it to NAME when "uts" is set
	}
	if iso.HasNamespace(spec.NSCgroup) {
		p.Cloneflags |= syscall.CLONE_NEWCGROUP
	}
	hostNet := s.Network.Mode == spec.NetworkHost
	if !hostNet {
		p.Cloneflags |= syscall.CLONE_NEWNET
		p.NewNet = true
	}
	if iso.UserNamespace == spec.UserNSAuto {
		p.Cloneflags |= syscall.CLONE_NEWUSER
		p.UserNS = true
		h := fnv.New32a()
		h.Write([]byte(s.Name))
		p.HostUIDBase = userNSBase + int(h.Sum32()%userNSSlots)*userNSSize
	}

	// Root filesystem.
	if iso.Rootfs != "" {
		fi, err := os.Stat(iso.Rootfs)
		if err != nil {
			return nil, setupErrorf("sandbox: rootfs: %v", err)
		}
		if !fi.IsDir() {
			return nil, setupErrorf("sandbox: rootfs %s is not a directory", iso.Rootfs)
		}
		p.Rootfs = filepath.Clean(iso.Rootfs)
	} else {
		hv, err := workload.HostView()
		if err != nil {
			return nil, setupErrorf("sandbox: %v", err)
		}
		p.HostView = hv
	}

	// [[mount]] entries then credentials, in spec order.
	for _, m := range s.Mounts {
		st := mountStep{Type: m.Type, Source: m.Source, Target: filepath.Clean(m.Target), ReadOnly: m.ReadOnly, Size: m.Size}
		if m.Type == spec.MountBind {
			fi, err := os.Stat(m.Source)
			if err != nil {
				return nil, setupErrorf("sandbox: mount %s: source: %v", m.Target, err)
			}
			st.IsFile = !fi.IsDir()
		} else if m.Type != spec.MountTmpfs {
			return nil, setupErrorf("sandbox: mount %s: unknown type %q", m.Target, m.Type)
		}
		p.Mounts = append(p.Mounts, st)
	}
	credDir := os.Getenv("CREDENTIALS_DIRECTORY")
	for _, c := range s.Credentials {
		src := workload.CredentialSource(c, credDir)
		fi, err := os.Stat(src)
		if err != nil {
			return nil, setupErrorf("sandbox: credential %s: %v", c.Name, err)
		}
		if fi.IsDir() {
			return nil, setupErrorf("sandbox: credential %s: %s is a directory", c.Name, src)
		}
		if fi.Size() > workload.MaxCredentialSize {
			return nil, setupErrorf("sandbox: credential %s: %s is larger than %d bytes", c.Name, src, workload.MaxCredentialSize)
		}
		p.Credentials = append(p.Credentials, credentialStep{Name: c.Name, Source: src, Target: filepath.Clean(c.Target)})
	}
	if opts.NotifySocket != "" {
		if _, err := os.Stat(opts.NotifySocket); err != nil {
			return nil, setupErrorf("sandbox: notify socket: %v", err)
		}
		p.Notify = opts.NotifySocket
	}

	// Exec stage.
	caps, err := capNumbers(iso.Capabilities)
	if err != nil {
		return nil, setupErrorf("sandbox: capabilities: %v", err)
	}
	env := workloadEnv(s, p)
	workdir := s.Exec.Workdir
	if workdir == "" {
		workdir = "/"
	}
	ep := execPlan{
		Argv:     append([]string(nil), s.Exec.Command...),
		Env:      env,
		Workdir:  workdir,
		User:     s.Exec.User,
		Groups:   append([]string(nil), s.Exec.SupplementaryGroups...),
		Caps:     caps,
		NOFile:   uint64(max(s.Resources.NOFile, 0)),
		Seccomp:  seccompPlan{Mode: string(iso.Seccomp), ProfilePath: iso.SeccompProfile, Allow: iso.SeccompAllow, HostNetwork: hostNet},
		Landlock: landlockRules(s, p),
	}
	if ep.Seccomp.Mode == "" {
		ep.Seccomp.Mode = string(spec.SeccompDefault)
	}
	if p.UserNS && s.Resources.Pids > 0 {
		// RLIMIT_NPROC counts processes per real uid across the whole
		// host. Only with a private uid range does that count mean "this
		// container"; with host uids it would count unrelated processes of
		// the same user, so it is left alone and TasksMax= bounds the unit.
		ep.NProc = uint64(s.Resources.Pids)
	}
	p.Exec = ep
	return p, nil
}

// workloadEnv is workload.Env for this plan; HOME and USER are added by
// init once the user is resolved. Without a UTS namespace the workload
// shares the host's name, and HOSTNAME says so.
func workloadEnv(s *spec.Spec, p *plan) []string {
	hostname := p.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	return workload.Env(s.Exec.Environment, hostname, p.Notify != "")
}

// landlockRules decides which paths the workload may touch; see the
// package comment for the policy.
func landlockRules(s *spec.Spec, p *plan) landlockPlan {
	var r landlockPlan
	if p.Rootfs != "" {
		r.Read = append(r.Read, "/")
		r.Execute = append(r.Execute, "/")
		if !p.ReadOnly {
			r.Write = append(r.Write, "/")
		}
	} else {
		for _, e := range p.HostView {
			if e.Symlink == "" {
				r.Read = append(r.Read, e.Path)
				r.Execute = append(r.Execute, e.Path)
			}
		}
	}
	r.Read = append(r.Read, "/proc", "/sys", "/dev")
	r.Write = append(r.Write, "/tmp", "/dev/shm", "/run", "/proc",
		"/dev/null", "/dev/zero", "/dev/full", "/dev/tty", "/dev/pts", "/dev/ptmx")
	for _, m := range p.Mounts {
		r.Read = append(r.Read, m.Target)
		if !m.ReadOnly {
			r.Write = append(r.Write, m.Target)
		}
		if m.Type == spec.MountBind {
			r.Execute = append(r.Execute, m.Target)
		}
	}
	for _, c := range p.Credentials {
		r.Read = append(r.Read, c.Target) // never executable
	}
	r.Read = append(r.Read, s.Landlock.Read...)
	r.Write = append(r.Write, s.Landlock.Write...)
	r.Execute = append(r.Execute, s.Landlock.Execute...)
	r.TCPBind = append(r.TCPBind, s.Landlock.TCPBind...)
	r.TCPConnect = append(r.TCPConnect, s.Landlock.TCPConnect...)
	return r
}
