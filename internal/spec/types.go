// Package spec owns nucleus's spec format v1: finding spec files in the spec
// directories, merging drop-ins, decoding TOML strictly, validating every key
// and value, and producing a *Spec that every other package can trust.
//
// A *Spec is the single source of truth downstream: defaults are filled in
// here, names are resolved here (a bare dependency "db" becomes "db.service"),
// durations and sizes are parsed here. Consumers (unit rendering, the
// sandbox, probes) must not re-parse or re-default anything.
//
// This package must not know about systemd unit syntax, mounts or processes:
// it reads files and returns values or errors naming file, line and key.
package spec

import (
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spec is a validated container spec. All fields are filled: absent keys hold
// their documented defaults; optional settings use a zero value or nil to
// mean "not set" where the comment says so.
type Spec struct {
	// Name is the spec's NAME (file stem); the unit is Name + ".service".
	Name string
	// Sources are the files the spec was read from, in merge order: the main
	// file first, then its drop-ins in lexical order.
	Sources []string
	// Hash is "sha256:<hex>" over the sources' paths and contents; the
	// generator puts it on the command line and nucleus-exec refuses to run
	// when the files no longer hash to it.
	Hash string

	Description string // "" = not set

	Exec        Exec
	Restart     Restart
	Resources   Resources
	Isolation   Isolation
	Mounts      []Mount
	Landlock    Landlock
	Network     Network
	Readiness   *Readiness // nil = READY=1 as soon as the workload is exec'd
	Health      *Health    // nil = no health probe, no WatchdogSec=
	Credentials []Credential
	Unit        UnitDeps
}

// Exec is the [exec] table.
type Exec struct {
	Command             []string          // argv; Command[0] is an absolute path or a name looked up in PATH inside the container
	Environment         map[string]string // the spec's variables, on top of the documented default environment
	Workdir             string            // absolute path inside the container; default "/"
	User                string            // as written: name, uid or "uid:gid"; "" = root. Resolved inside the container.
	SupplementaryGroups []string          // names or gids, resolved inside the container
	Hostname            string            // default: Name
	StopSignal          syscall.Signal    // default SIGTERM
	StopTimeout         time.Duration     // after the stop signal, SIGKILL; default 10s
}

// RestartPolicy is one of systemd's Restart= values.
type RestartPolicy string

// Restart is the [restart] table.
type Restart struct {
	Policy   RestartPolicy // default "on-failure"
	Delay    time.Duration // 0 = not set
	Burst    int           // 0 = not set
	Interval time.Duration // 0 = not set; IntervalSet distinguishes an explicit "0"
	// IntervalSet is true when interval was given (0 disables rate limiting).
	IntervalSet bool
}

// Resources is the [resources] table. Zero means "not set" for every field
// except Pids, whose default is 512.
type Resources struct {
	Memory     int64   // bytes, MemoryMax=
	MemoryHigh int64   // bytes, MemoryHigh=
	CPUs       float64 // CPUQuota= CPUs*100 %
	CPUWeight  int     // 1..10000
	Pids       int     // TasksMax=, default 512
	IOWeight   int     // 1..10000
	NOFile     int     // LimitNOFILE=
}

// Runtime selects what runs the workload.
type Runtime string

const (
	RuntimeNative Runtime = "native"
	RuntimeGVisor Runtime = "gvisor"
)

// Namespace is a Linux namespace kind as written in the spec.
type Namespace string

const (
	NSPid    Namespace = "pid"
	NSMount  Namespace = "mount"
	NSIPC    Namespace = "ipc"
	NSUTS    Namespace = "uts"
	NSNet    Namespace = "net"
	NSCgroup Namespace = "cgroup"
)

// DefaultNamespaces is the namespace set when the spec does not name one.
var DefaultNamespaces = []Namespace{NSPid, NSMount, NSIPC, NSUTS, NSNet, NSCgroup}

// UserNamespaceMode is "host" (no user namespace) or "auto".
type UserNamespaceMode string

const (
	UserNSHost UserNamespaceMode = "host"
	UserNSAuto UserNamespaceMode = "auto"
)

// SeccompMode says which seccomp filter the workload gets.
type SeccompMode string

const (
	SeccompDefault    SeccompMode = "default"
	SeccompUnconfined SeccompMode = "unconfined"
	SeccompProfile    SeccompMode = "profile" // Isolation.SeccompProfile names the OCI JSON file
)

// Isolation is the [isolation] table.
type Isolation struct {
	Runtime        Runtime
	Rootfs         string // "" = read-only view of the host's /usr /bin /sbin /lib* /etc; else an absolute host directory
	ReadOnly       bool   // default true
	Namespaces     []Namespace
	UserNamespace  UserNamespaceMode
	Capabilities   []string // canonical "CAP_*" names, kept; all others dropped
	Seccomp        SeccompMode
	SeccompProfile string   // absolute host path when Seccomp == SeccompProfile
	SeccompAllow   []string // extra syscall names (validated against the syscall table)
	// Explicit records which keys were written in the spec (e.g. "seccomp",
	// "landlock"), so that a runtime that cannot honour a setting can say so
	// only when the user asked for it.
	Explicit map[string]bool
}

// HasNamespace reports whether ns is in the configured set.
func (i Isolation) HasNamespace(ns Namespace) bool {
	for _, n := range i.Namespaces {
		if n == ns {
			return true
		}
	}
	return false
}

// MountType is "bind" or "tmpfs".
type MountType string

const (
	MountBind  MountType = "bind"
	MountTmpfs MountType = "tmpfs"
)

// Mount is one [[mount]] entry.
type Mount struct {
	Type     MountType
	Source   string // absolute host path (bind only)
	Target   string // absolute path inside the container
	ReadOnly bool   // default false
	Size     int64  // bytes, tmpfs only; 0 = kernel default
}

// Landlock is the [landlock] table; paths are absolute, inside the container.
type Landlock struct {
	Read       []string
	Write      []string
	Execute    []string
	TCPBind    []uint16
	TCPConnect []uint16
}

// NetworkMode is "none" (own netns, loopback up) or "host".
type NetworkMode string

const (
	NetworkNone NetworkMode = "none"
	NetworkHost NetworkMode = "host"
)

// Network is the [network] table.
type Network struct {
	Mode NetworkMode
}

// ProbeKind says how a probe checks the workload.
type ProbeKind string

const (
	ProbeExec   ProbeKind = "exec"
	ProbeTCP    ProbeKind = "tcp"
	ProbeHTTP   ProbeKind = "http"
	ProbeNotify ProbeKind = "notify" // readiness only: the workload sends READY=1 itself
)

// Probe is one check, shared by [readiness] and [health].
type Probe struct {
	Kind     ProbeKind
	Command  []string      // ProbeExec
	Port     uint16        // ProbeTCP
	URL      string        // ProbeHTTP: "http://127.0.0.1:PORT/path" (loopback only)
	Interval time.Duration // between attempts
	Timeout  time.Duration // one attempt
}

// String names the probe for STATUS= lines and errors, e.g. "tcp 8080".
func (p Probe) String() string {
	switch p.Kind {
	case ProbeExec:
		return "exec " + strings.Join(p.Command, " ")
	case ProbeTCP:
		return "tcp " + strconv.Itoa(int(p.Port))
	case ProbeHTTP:
		return "http " + p.URL
	case ProbeNotify:
		return "notify"
	}
	return string(p.Kind)
}

// Readiness is the [readiness] table. Defaults: interval 100ms, timeout 1s,
// start_timeout 90s.
type Readiness struct {
	Probe
	StartTimeout time.Duration // TimeoutStartSec=
}

// Health is the [health] table. Defaults: interval 10s, timeout 2s,
// retries 3, start_period 0.
type Health struct {
	Probe
	Retries     int
	StartPeriod time.Duration
}

// Credential is one [[credential]] entry.
type Credential struct {
	Name   string // systemd credential name
	Source string // absolute host path: LoadCredential=Name:Source
	Target string // absolute path inside the container, bind-mounted read-only
}

// UnitDeps is the [unit] table with every name resolved to a full unit name
// ("db" → "db.service"; names with a unit suffix pass through).
type UnitDeps struct {
	After    []string
	Requires []string
	Wants    []string
	WantedBy []string // default ["multi-user.target"]; empty = started by hand only
}

// WatchdogTimeout is the WatchdogSec= the generator emits for a [health]
// table: long enough that a healthy service never misses it, even while
// retries-1 failed probes (each up to Timeout) are being counted, and short
// enough that a hung nucleus-exec is noticed:
//
//	WatchdogSec = (retries + 1) × (interval + timeout)
//
// nucleus-exec pings every WatchdogSec/2 while the last result is healthy
// and sends WATCHDOG=trigger itself after `retries` consecutive failures, so
// the timeout only fires on its own when nucleus-exec is stuck.
func (h Health) WatchdogTimeout() time.Duration {
	return time.Duration(h.Retries+1) * (h.Interval + h.Timeout)
}
