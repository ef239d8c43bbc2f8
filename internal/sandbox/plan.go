package sandbox

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
// supervisor from the spec and passed to init (encodePlan). Stages never look at
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
	// Execute and Write each include Read (package landlock): a path in
	// either needs no read rule of its own. In the default layout that is
	// the host view and /proc, one rule (stat, open, landlock_add_rule,
	// close) each fewer on every start.
	r.Read = slices.DeleteFunc(r.Read, func(p string) bool {
		return slices.Contains(r.Execute, p) || slices.Contains(r.Write, p)
	})
	return r
}

// The plan travels to init in one environment variable, encoded by hand
// rather than with encoding/json: init is a fresh Go process per start,
// and decoding with reflection there page-faults in the decoder and the
// plan's type metadata (≈ 2.6 % of a start's CPU samples, more than
// building the whole mount tree's /dev). The format is a sequence of
// fields in a fixed order, each a string "LEN:BYTES" or a number "N;";
// it contains no NUL byte (no field can: paths, argv and environment are
// C strings), so it is a valid environment value. A slice is its length
// (-1 for nil) followed by its elements. TestPlanCodecRoundTrip fills
// every field of the plan by reflection, so a field added to the plan but
// not here fails it.

// planEncoder appends a plan's fields.
type planEncoder struct{ b []byte }

func (e *planEncoder) int(v int64) {
	e.b = strconv.AppendInt(e.b, v, 10)
	e.b = append(e.b, ';')
}

func (e *planEncoder) uint(v uint64) {
	e.b = strconv.AppendUint(e.b, v, 10)
	e.b = append(e.b, ';')
}

func (e *planEncoder) bool(v bool) {
	if v {
		e.b = append(e.b, '1', ';')
	} else {
		e.b = append(e.b, '0', ';')
	}
}

func (e *planEncoder) str(s string) {
	e.b = strconv.AppendInt(e.b, int64(len(s)), 10)
	e.b = append(e.b, ':')
	e.b = append(e.b, s...)
}

// len starts a slice: -1 for nil, so that nil and empty survive.
func (e *planEncoder) len(n int, isNil bool) {
	if isNil {
		n = -1
	}
	e.int(int64(n))
}

func (e *planEncoder) strs(v []string) {
	e.len(len(v), v == nil)
	for _, s := range v {
		e.str(s)
	}
}

// encodePlan is the plan as init's environment value.
func encodePlan(p *plan) string {
	e := &planEncoder{b: make([]byte, 0, 1024)}
	e.str(p.Name)
	e.str(p.Hostname)
	e.uint(uint64(p.Cloneflags))
	e.bool(p.NewNet)
	e.bool(p.PidNS)
	e.bool(p.UserNS)
	e.int(int64(p.HostUIDBase))
	e.str(p.Rootfs)
	e.bool(p.ReadOnly)
	e.len(len(p.HostView), p.HostView == nil)
	for _, h := range p.HostView {
		e.str(h.Path)
		e.str(h.Symlink)
	}
	e.len(len(p.Mounts), p.Mounts == nil)
	for _, m := range p.Mounts {
		e.str(string(m.Type))
		e.str(m.Source)
		e.str(m.Target)
		e.bool(m.ReadOnly)
		e.int(m.Size)
		e.bool(m.IsFile)
	}
	e.len(len(p.Credentials), p.Credentials == nil)
	for _, c := range p.Credentials {
		e.str(c.Name)
		e.str(c.Source)
		e.str(c.Target)
		e.int(int64(c.FD))
	}
	e.str(p.Notify)

	x := &p.Exec
	e.strs(x.Argv)
	e.strs(x.Env)
	e.str(x.Workdir)
	e.str(x.User)
	e.strs(x.Groups)
	e.uint(uint64(x.UID))
	e.uint(uint64(x.GID))
	e.len(len(x.SupGIDs), x.SupGIDs == nil)
	for _, g := range x.SupGIDs {
		e.uint(uint64(g))
	}
	e.len(len(x.Caps), x.Caps == nil)
	for _, c := range x.Caps {
		e.int(int64(c))
	}
	e.uint(x.NOFile)
	e.uint(x.NProc)
	e.str(x.Seccomp.Mode)
	e.str(x.Seccomp.ProfilePath)
	e.strs(x.Seccomp.Allow)
	e.bool(x.Seccomp.HostNetwork)
	e.strs(x.Landlock.Read)
	e.strs(x.Landlock.Write)
	e.strs(x.Landlock.Execute)
	for _, ports := range [][]uint16{x.Landlock.TCPBind, x.Landlock.TCPConnect} {
		e.len(len(ports), ports == nil)
		for _, port := range ports {
			e.uint(uint64(port))
		}
	}
	return string(e.b)
}

// planDecoder reads what planEncoder wrote; the first malformed field
// sets err, and every later read returns zero values.
type planDecoder struct {
	s     string // what is left to read
	total int    // the whole input's length, for error offsets
	err   error
}

func (d *planDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("malformed %s at byte %d", what, d.total-len(d.s))
		d.s = ""
	}
}

// number reads the decimal digits (and sign) up to the terminator end.
func (d *planDecoder) number(end byte) string {
	i := strings.IndexByte(d.s, end)
	if i < 0 {
		d.fail("number")
		return ""
	}
	n := d.s[:i]
	d.s = d.s[i+1:]
	return n
}

func (d *planDecoder) int(bits int) int64 {
	v, err := strconv.ParseInt(d.number(';'), 10, bits)
	if err != nil {
		d.fail("integer")
	}
	return v
}

func (d *planDecoder) uint(bits int) uint64 {
	v, err := strconv.ParseUint(d.number(';'), 10, bits)
	if err != nil {
		d.fail("unsigned integer")
	}
	return v
}

func (d *planDecoder) bool() bool {
	switch d.number(';') {
	case "1":
		return true
	case "0":
		return false
	}
	d.fail("bool")
	return false
}

func (d *planDecoder) str() string {
	n, err := strconv.Atoi(d.number(':'))
	if err != nil || n < 0 || n > len(d.s) {
		d.fail("string")
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

// len reads a slice length; ok is false for nil (and after an error).
func (d *planDecoder) len() (n int, ok bool) {
	v := d.int(32)
	if v < -1 || v > int64(len(d.s)) { // every element takes at least a byte
		d.fail("length")
		return 0, false
	}
	return int(v), v >= 0 && d.err == nil
}

func (d *planDecoder) strs() []string {
	n, ok := d.len()
	if !ok {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.str()
	}
	return v
}

func (d *planDecoder) ports() []uint16 {
	n, ok := d.len()
	if !ok {
		return nil
	}
	v := make([]uint16, n)
	for i := range v {
		v[i] = uint16(d.uint(16))
	}
	return v
}

// decodePlan reads init's plan from encodePlan's output.
func decodePlan(s string) (*plan, error) {
	d := &planDecoder{s: s, total: len(s)}
	p := &plan{}
	p.Name = d.str()
	p.Hostname = d.str()
	p.Cloneflags = uintptr(d.uint(64))
	p.NewNet = d.bool()
	p.PidNS = d.bool()
	p.UserNS = d.bool()
	p.HostUIDBase = int(d.int(64))
	p.Rootfs = d.str()
	p.ReadOnly = d.bool()
	if n, ok := d.len(); ok {
		p.HostView = make([]workload.HostEntry, n)
		for i := range p.HostView {
			p.HostView[i] = workload.HostEntry{Path: d.str(), Symlink: d.str()}
		}
	}
	if n, ok := d.len(); ok {
		p.Mounts = make([]mountStep, n)
		for i := range p.Mounts {
			p.Mounts[i] = mountStep{Type: spec.MountType(d.str()), Source: d.str(), Target: d.str(),
				ReadOnly: d.bool(), Size: d.int(64), IsFile: d.bool()}
		}
	}
	if n, ok := d.len(); ok {
		p.Credentials = make([]credentialStep, n)
		for i := range p.Credentials {
			p.Credentials[i] = credentialStep{Name: d.str(), Source: d.str(), Target: d.str(), FD: int(d.int(32))}
		}
	}
	p.Notify = d.str()

	x := &p.Exec
	x.Argv = d.strs()
	x.Env = d.strs()
	x.Workdir = d.str()
	x.User = d.str()
	x.Groups = d.strs()
	x.UID = uint32(d.uint(32))
	x.GID = uint32(d.uint(32))
	if n, ok := d.len(); ok {
		x.SupGIDs = make([]uint32, n)
		for i := range x.SupGIDs {
			x.SupGIDs[i] = uint32(d.uint(32))
		}
	}
	if n, ok := d.len(); ok {
		x.Caps = make([]int, n)
		for i := range x.Caps {
			x.Caps[i] = int(d.int(32))
		}
	}
	x.NOFile = d.uint(64)
	x.NProc = d.uint(64)
	x.Seccomp.Mode = d.str()
	x.Seccomp.ProfilePath = d.str()
	x.Seccomp.Allow = d.strs()
	x.Seccomp.HostNetwork = d.bool()
	x.Landlock.Read = d.strs()
	x.Landlock.Write = d.strs()
	x.Landlock.Execute = d.strs()
	x.Landlock.TCPBind = d.ports()
	x.Landlock.TCPConnect = d.ports()
	if d.err == nil && d.s != "" {
		d.fail("plan (trailing data)")
	}
	if d.err != nil {
		return nil, d.err
	}
	return p, nil
}

// The control messages between the supervisor and init (message) use the
// plan's field encoding too: both ends are this binary, and encoding/json
// built its reflection caches for message in both processes at every start
// for the two messages of a start ("log", "started"): ≈2 % of a start's CPU
// samples. Fields in a fixed order; Out and Argv may hold any bytes
// (datagrams, not environment values).
func encodeMessage(m message) []byte {
	e := &planEncoder{b: make([]byte, 0, 48+len(m.Msg)+len(m.Out))}
	e.str(m.T)
	e.uint(m.ID)
	e.int(int64(m.Pid))
	e.int(int64(m.Code))
	e.str(m.Msg)
	e.strs(m.Argv)
	e.int(int64(m.Sig))
	e.str(string(m.Out))
	return e.b
}

// decodeMessage reads encodeMessage's output; an empty Out is nil.
func decodeMessage(b []byte) (message, error) {
	d := &planDecoder{s: string(b), total: len(b)}
	var m message
	m.T = d.str()
	m.ID = d.uint(64)
	m.Pid = int(d.int(64))
	m.Code = int(d.int(64))
	m.Msg = d.str()
	m.Argv = d.strs()
	m.Sig = int(d.int(64))
	if out := d.str(); out != "" {
		m.Out = []byte(out)
	}
	if d.err == nil && d.s != "" {
		d.fail("message (trailing data)")
	}
	if d.err != nil {
		return message{}, d.err
	}
	return m, nil
}
