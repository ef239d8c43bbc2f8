package spec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The strict decoder: it walks the merged node tree by hand (no reflection),
// so every unknown key, wrong type and bad value is reported with the file
// and line of the node that carries it, and decoding never stops at the
// first error.
//
// Decisions beyond DESIGN.md and types.go (see also crossCheck):
//   - every string is refused if it holds a NUL byte;
//   - durations are Go syntax or systemd's ("1min 30s", "2d"); a bare
//     number other than "0" is refused (systemd reads seconds, Go nothing);
//   - sizes are a positive byte count (integer or digits) or digits with
//     one of K M G T P E (base 1024); 0 is refused, use "not set" instead;
//   - capability names are case-insensitive, with or without CAP_, and
//     stored as "CAP_X"; duplicates (also in namespaces, seccomp_allow,
//     [unit] lists, credential names) are errors, not silently merged;
//   - seccomp_allow only goes with seccomp = "default";
//   - probe intervals and timeouts must be > 0; notify = false counts as
//     no readiness kind; a drop-in's probe kind replaces the earlier one;
//   - [[mount]] type and target, and [[credential]] name, source and
//     target are required; a bind mount's source too;
//   - environment names are POSIX names, without LD_* or NOTIFY_SOCKET
//     (see checkEnvName);
//   - an explicit hostname must be an RFC 1123 host name; the default is
//     NAME verbatim (valid for sethostname, maybe not for DNS);
//   - a dependency on the spec's own unit is an error.

// Keys of each table, in the order DESIGN.md lists them.
var (
	topKeys        = []string{"description", "exec", "restart", "resources", "isolation", "mount", "landlock", "network", "readiness", "health", "credential", "unit"}
	execKeys       = []string{"command", "environment", "workdir", "user", "supplementary_groups", "hostname", "stop_signal", "stop_timeout"}
	restartKeys    = []string{"policy", "delay", "burst", "interval"}
	resourcesKeys  = []string{"memory", "memory_high", "cpus", "cpu_weight", "pids", "io_weight", "nofile"}
	isolationKeys  = []string{"runtime", "rootfs", "read_only", "namespaces", "user_namespace", "capabilities", "seccomp", "seccomp_allow"}
	mountKeys      = []string{"type", "source", "target", "read_only", "size"}
	landlockKeys   = []string{"read", "write", "execute", "tcp_bind", "tcp_connect"}
	networkKeys    = []string{"mode"}
	readinessKeys  = []string{"exec", "tcp", "http", "notify", "interval", "timeout", "start_timeout"}
	healthKeys     = []string{"exec", "tcp", "http", "interval", "timeout", "retries", "start_period"}
	credentialKeys = []string{"name", "source", "target"}
	unitKeys       = []string{"after", "requires", "wants", "wanted_by"}

	restartPolicies = []string{"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"}
	namespaceNames  = []string{"pid", "mount", "ipc", "uts", "net", "cgroup"}
)

// Defaults documented in DESIGN.md and types.go.
const (
	DefaultPids                  = 512
	DefaultReadinessInterval     = 100 * time.Millisecond
	DefaultReadinessTimeout      = time.Second
	DefaultReadinessStartTimeout = 90 * time.Second
	DefaultHealthInterval        = 10 * time.Second
	DefaultHealthTimeout         = 2 * time.Second
	DefaultHealthRetries         = 3
	DefaultStopTimeout           = 10 * time.Second
	DefaultWantedBy              = "multi-user.target"
)

// Upper bounds of numeric keys.
const (
	maxWeight  = 10000      // CPUWeight=, IOWeight=
	maxPids    = 4194304    // PID_MAX_LIMIT
	maxNOFile  = 1073741816 // the kernel's ceiling for fs.nr_open
	maxCPUs    = 10000
	maxRetries = 1000000
	maxBurst   = 1000000
)

type decoder struct {
	srcs []source
	errs ErrorList
	// The target nodes of the accepted mounts and credentials, index for
	// index with Spec.Mounts and Spec.Credentials, for the duplicate-target
	// error.
	mountTargets, credTargets []*node
	mountNames, credNames     []string
	// whole is set while reporting errors that depend on the spec as a
	// whole (a missing key, rules across tables). They go to wholeErrs,
	// which are dropped when some file could not be parsed: without that
	// file's keys they may be wrong.
	whole     bool
	wholeErrs ErrorList
}

// asWhole runs report with errors marked as depending on the whole spec.
func (d *decoder) asWhole(report func()) {
	d.whole = true
	defer func() { d.whole = false }()
	report()
}

// tbl is one table being decoded: its node (nil when the table is absent)
// and how errors name it ("[exec]", "[[mount]] #2", "" at the top level).
type tbl struct {
	d    *decoder
	n    *node
	name string
	bad  bool // present but not a table (already reported)
}

func (d *decoder) add(n *node, key, msg string) {
	e := &Error{Key: key, Msg: msg}
	if n != nil && n.src < len(d.srcs) {
		e.File, e.Line = d.srcs[n.src].path, n.line
	} else if len(d.srcs) > 0 {
		e.File = d.srcs[0].path
	}
	if d.whole {
		d.wholeErrs = append(d.wholeErrs, e)
		return
	}
	d.errs = append(d.errs, e)
}

// keyName renders a key as it would be written: bare when it can be, quoted
// otherwise (a key with spaces or control characters must not garble the
// one-line error).
func keyName(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyChar(k[i]) {
			return strconv.Quote(k)
		}
	}
	return k
}

// key names key k of this table for errors; k is already in written form
// (keyName applied by callers that pass user-supplied keys).
func (t *tbl) key(k string) string {
	if t.name == "" {
		return k
	}
	return t.name + " " + k
}

func (t *tbl) keys() table {
	if t.n == nil {
		return nil
	}
	tb, _ := t.n.val.(table)
	return tb
}

func (t *tbl) get(k string) *node { return t.keys()[k] }

// errf reports a problem with key k at node n (the table itself when n is
// nil, e.g. for a missing key).
func (t *tbl) errf(n *node, k string, format string, args ...any) {
	if n == nil {
		n = t.n
	}
	t.d.add(n, t.key(k), fmt.Sprintf(format, args...))
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case table:
		return "a table"
	case []*node:
		return "an array"
	}
	return "a date/time"
}

// checkKeys reports every key not in allowed, suggesting the nearest, or
// else the table where that key belongs.
func (t *tbl) checkKeys(allowed []string) {
	for k, n := range t.keys() {
		if !contains(allowed, k) {
			t.errf(n, keyName(k), "unknown key%s", unknownKeyHint(k, allowed))
		}
	}
}

// keyTables lists every table's keys, for unknownKeyHint.
var keyTables = [...]struct {
	name string
	keys []string
}{
	{"[exec]", execKeys}, {"[restart]", restartKeys}, {"[resources]", resourcesKeys},
	{"[isolation]", isolationKeys}, {"[[mount]]", mountKeys}, {"[landlock]", landlockKeys},
	{"[network]", networkKeys}, {"[readiness]", readinessKeys}, {"[health]", healthKeys},
	{"[[credential]]", credentialKeys}, {"[unit]", unitKeys},
}

// tablesWithKey returns the tables that have key k. It is computed on
// demand, for an error message: a map built at package initialisation
// would cost every nucleus-exec process (the container's init too, which
// never loads a spec) about 90 allocations.
func tablesWithKey(k string) []string {
	var homes []string
	for _, t := range keyTables {
		if contains(t.keys, k) {
			homes = append(homes, t.name)
		}
	}
	return homes
}

func unknownKeyHint(k string, allowed []string) string {
	if hint := didYouMean(k, allowed); hint != "" {
		return hint
	}
	if homes := tablesWithKey(k); len(homes) > 0 {
		return " (" + k + " is a key of " + strings.Join(homes, " and ") + ")"
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// tableName is the top-level table k as errors name it, "[k]": a
// constant for each of topKeys, so that neither Load nor package
// initialisation builds them.
func tableName(k string) string {
	switch k {
	case "description":
		return "[description]"
	case "exec":
		return "[exec]"
	case "restart":
		return "[restart]"
	case "resources":
		return "[resources]"
	case "isolation":
		return "[isolation]"
	case "mount":
		return "[mount]"
	case "landlock":
		return "[landlock]"
	case "network":
		return "[network]"
	case "readiness":
		return "[readiness]"
	case "health":
		return "[health]"
	case "credential":
		return "[credential]"
	case "unit":
		return "[unit]"
	}
	return "[" + k + "]"
}

// sub returns the sub-table k (absent: a tbl with a nil node).
func (t *tbl) sub(k string) *tbl {
	name := tableName(k)
	st := &tbl{d: t.d, name: name}
	n := t.get(k)
	if n == nil {
		return st
	}
	if _, ok := n.val.(table); !ok {
		t.errf(n, k, "must be a table ([%s]), not %s", k, typeName(n.val))
		st.bad = true
		return st
	}
	st.n = n
	return st
}

// tables returns the entries of the array of tables k ([[k]]).
func (t *tbl) tables(k string) []*tbl {
	n := t.get(k)
	if n == nil {
		return nil
	}
	arr, ok := n.val.([]*node)
	if !ok {
		t.d.add(n, "[["+k+"]]", fmt.Sprintf("must be an array of tables ([[%s]]), not %s", k, typeName(n.val)))
		return nil
	}
	out := make([]*tbl, 0, len(arr))
	for i, e := range arr {
		name := "[[" + k + "]] #" + strconv.Itoa(i+1)
		if _, ok := e.val.(table); !ok {
			t.d.add(e, name, "must be a table, not "+typeName(e.val))
			continue
		}
		out = append(out, &tbl{d: t.d, n: e, name: name})
	}
	return out
}

// checkString refuses NUL bytes everywhere: no spec string can reach argv,
// the environment, a path or a unit file with one.
func (t *tbl) checkString(n *node, k, s string) bool {
	if strings.IndexByte(s, 0) >= 0 {
		t.errf(n, k, "must not contain a NUL byte")
		return false
	}
	return true
}

// str returns the string at k; ok is false when it is absent or invalid
// (the latter already reported).
func (t *tbl) str(k string) (string, *node, bool) {
	n := t.get(k)
	if n == nil {
		return "", nil, false
	}
	s, ok := n.val.(string)
	if !ok {
		t.errf(n, k, "must be a string, not %s", typeName(n.val))
		return "", n, false
	}
	return s, n, t.checkString(n, k, s)
}

func (t *tbl) boolean(k string) (bool, *node, bool) {
	n := t.get(k)
	if n == nil {
		return false, nil, false
	}
	b, ok := n.val.(bool)
	if !ok {
		t.errf(n, k, "must be true or false, not %s", typeName(n.val))
		return false, n, false
	}
	return b, n, true
}

// intRange returns the integer at k, which must lie in lo..hi.
func (t *tbl) intRange(k string, lo, hi int64) (int, *node, bool) {
	n := t.get(k)
	if n == nil {
		return 0, nil, false
	}
	v, ok := n.val.(int64)
	if !ok {
		t.errf(n, k, "must be an integer, not %s", typeName(n.val))
		return 0, n, false
	}
	if v < lo || v > hi {
		t.errf(n, k, "must be between %d and %d, not %d", lo, hi, v)
		return 0, n, false
	}
	return int(v), n, true
}

// list returns the elements of the array at k.
func (t *tbl) list(k string) ([]*node, *node, bool) {
	n := t.get(k)
	if n == nil {
		return nil, nil, false
	}
	arr, ok := n.val.([]*node)
	if !ok {
		t.errf(n, k, "must be an array, not %s", typeName(n.val))
		return nil, n, false
	}
	return arr, n, true
}

// strList returns the valid strings of the array at k, each with its node
// (invalid elements are reported and left out; ok says whether there were
// any).
func (t *tbl) strList(k string) ([]string, []*node, *node, bool) {
	arr, n, ok := t.list(k)
	if !ok {
		return nil, nil, n, false
	}
	out := make([]string, 0, len(arr))
	elems := make([]*node, 0, len(arr))
	for i, e := range arr {
		s, isStr := e.val.(string)
		if !isStr {
			t.errf(e, k, "element %d must be a string, not %s", i+1, typeName(e.val))
			ok = false
			continue
		}
		if !t.checkString(e, k, s) {
			ok = false
			continue
		}
		out = append(out, s)
		elems = append(elems, e)
	}
	return out, elems, n, ok
}

// duration parses the duration string at k; positive additionally refuses 0.
func (t *tbl) duration(k string, positive bool) (time.Duration, *node, bool) {
	n := t.get(k)
	if n == nil {
		return 0, nil, false
	}
	s, isStr := n.val.(string)
	if !isStr {
		t.errf(n, k, `must be a duration string with a unit, e.g. "10s", not %s`, typeName(n.val))
		return 0, n, false
	}
	d, err := parseDuration(s)
	if err != nil {
		t.errf(n, k, "%v", err)
		return 0, n, false
	}
	if positive && d <= 0 {
		t.errf(n, k, "must be longer than 0")
		return 0, n, false
	}
	return d, n, true
}

// size parses a size: an integer byte count or a string like "64M".
func (t *tbl) size(k string) (int64, *node, bool) {
	n := t.get(k)
	if n == nil {
		return 0, nil, false
	}
	var v int64
	switch x := n.val.(type) {
	case int64:
		v = x
	case string:
		var err error
		if v, err = parseSize(x); err != nil {
			t.errf(n, k, "%v", err)
			return 0, n, false
		}
	default:
		t.errf(n, k, `must be a size ("64M", "1G") or a byte count, not %s`, typeName(n.val))
		return 0, n, false
	}
	if v <= 0 {
		t.errf(n, k, "must be larger than 0")
		return 0, n, false
	}
	return v, n, true
}

// enum returns the string at k, which must be one of allowed.
func (t *tbl) enum(k string, allowed []string) (string, *node, bool) {
	s, n, ok := t.str(k)
	if !ok {
		return "", n, false
	}
	if !contains(allowed, s) {
		t.errf(n, k, "%s is not one of %s%s", quote(s), strings.Join(allowed, ", "), didYouMean(s, allowed))
		return "", n, false
	}
	return s, n, true
}

// path returns the absolute, clean path at k.
func (t *tbl) path(k string) (string, *node, bool) {
	s, n, ok := t.str(k)
	if !ok {
		return "", n, false
	}
	if err := checkPath(s); err != nil {
		t.errf(n, k, "%v", err)
		return "", n, false
	}
	return s, n, true
}

func (t *tbl) pathList(k string) []string {
	ss, elems, _, _ := t.strList(k)
	var out []string
	for i, s := range ss {
		if err := checkPath(s); err != nil {
			t.errf(elems[i], k, "%v", err)
			continue
		}
		out = append(out, s)
	}
	return out
}

func (t *tbl) portList(k string) []uint16 {
	arr, _, ok := t.list(k)
	if !ok {
		return nil
	}
	out := make([]uint16, 0, len(arr))
	for i, e := range arr {
		v, isInt := e.val.(int64)
		if !isInt || v < 1 || v > 65535 {
			t.errf(e, k, "element %d must be a port number 1..65535", i+1)
			continue
		}
		out = append(out, uint16(v))
	}
	return out
}

// command validates an argv: non-empty, and a program that is an absolute
// clean path or a bare name looked up in PATH.
func (t *tbl) command(k string) ([]string, bool) {
	argv, elems, n, ok := t.strList(k)
	if n == nil {
		return nil, false
	}
	arr, isArr := n.val.([]*node)
	if !isArr {
		return nil, false
	}
	if len(arr) == 0 {
		t.errf(n, k, "must not be empty: the first element is the program to run")
		return nil, false
	}
	if len(elems) == 0 || elems[0] != arr[0] {
		return nil, false // the program is not a valid string; reported
	}
	switch prog := argv[0]; {
	case prog == "":
		t.errf(elems[0], k, "the program (element 1) must not be empty")
		return nil, false
	case strings.Contains(prog, "/"):
		if err := checkPath(prog); err != nil {
			t.errf(elems[0], k, "the program must be an absolute path or a name looked up in PATH: %v", err)
			return nil, false
		}
	}
	return argv, ok
}

// decode turns the merged tree into a validated Spec with defaults.
func (d *decoder) decode(name string, root *node) *Spec {
	s := &Spec{Name: name}
	top := &tbl{d: d, n: root}
	for k, n := range top.keys() {
		if contains(topKeys, k) {
			continue
		}
		switch n.val.(type) {
		case table:
			d.add(n, "["+keyName(k)+"]", "unknown table"+didYouMean(k, topKeys))
		default:
			top.errf(n, keyName(k), "unknown key%s", unknownKeyHint(k, topKeys))
		}
	}
	if desc, _, ok := top.str("description"); ok {
		s.Description = desc
	}

	exec := top.sub("exec")
	hostNode := d.decodeExec(s, exec)
	d.decodeRestart(s, top.sub("restart"))
	d.decodeResources(s, top.sub("resources"))
	iso := top.sub("isolation")
	nsNode, roNode, nsBad := d.decodeIsolation(s, iso)
	d.decodeMounts(s, top)
	d.decodeLandlock(s, top.sub("landlock"))
	net := top.sub("network")
	net.checkKeys(networkKeys)
	s.Network.Mode = NetworkNone
	netModeNode := (*node)(nil)
	if m, n, ok := net.enum("mode", []string{"none", "host"}); ok {
		s.Network.Mode, netModeNode = NetworkMode(m), n
	}
	s.Readiness = d.decodeReadiness(top.sub("readiness"))
	s.Health = d.decodeHealth(top.sub("health"))
	d.decodeCredentials(s, top)
	d.decodeUnit(s, top.sub("unit"))

	d.asWhole(func() { d.crossCheck(s, iso, nsNode, roNode, netModeNode, exec, hostNode, nsBad) })
	return s
}

func (d *decoder) decodeExec(s *Spec, t *tbl) (hostNode *node) {
	t.checkKeys(execKeys)
	if t.get("command") == nil && !t.bad {
		d.asWhole(func() {
			if t.n == nil {
				d.add(nil, "[exec] command", `missing: every spec needs [exec] command = ["/path/to/program", "arg", ...]`)
			} else {
				t.errf(nil, "command", `missing: the program to run and its arguments, e.g. ["/path/to/program", "arg"]`)
			}
		})
	} else if argv, ok := t.command("command"); ok {
		s.Exec.Command = argv
	}

	if n := t.get("environment"); n != nil {
		env, ok := n.val.(table)
		if !ok {
			t.errf(n, "environment", "must be a table of NAME = \"value\", not %s", typeName(n.val))
		} else {
			s.Exec.Environment = make(map[string]string, len(env))
			for k, v := range env {
				key := "environment." + keyName(k)
				if err := checkEnvName(k); err != nil {
					t.errf(v, key, "%v", err)
					continue
				}
				val, isStr := v.val.(string)
				if !isStr {
					t.errf(v, key, "must be a string, not %s", typeName(v.val))
					continue
				}
				if t.checkString(v, key, val) {
					s.Exec.Environment[k] = val
				}
			}
		}
	}

	s.Exec.Workdir = "/"
	if p, _, ok := t.path("workdir"); ok {
		s.Exec.Workdir = p
	}
	if u, n, ok := t.str("user"); ok {
		if err := checkUser(u); err != nil {
			t.errf(n, "user", "%v", err)
		} else {
			s.Exec.User = u
		}
	}
	if gs, elems, _, _ := t.strList("supplementary_groups"); gs != nil {
		s.Exec.SupplementaryGroups = make([]string, 0, len(gs))
		for i, g := range gs {
			if err := checkGroup(g); err != nil {
				t.errf(elems[i], "supplementary_groups", "%v", err)
				continue
			}
			s.Exec.SupplementaryGroups = append(s.Exec.SupplementaryGroups, g)
		}
	}
	s.Exec.Hostname = s.Name
	if h, n, ok := t.str("hostname"); ok {
		hostNode = n
		if err := checkHostname(h); err != nil {
			t.errf(n, "hostname", "%v", err)
		} else {
			s.Exec.Hostname = h
		}
	}
	s.Exec.StopSignal = syscall.SIGTERM
	if sig, n, ok := t.str("stop_signal"); ok {
		if v, err := parseSignal(sig); err != nil {
			t.errf(n, "stop_signal", "%v", err)
		} else {
			s.Exec.StopSignal = v
		}
	}
	s.Exec.StopTimeout = DefaultStopTimeout
	if dur, _, ok := t.duration("stop_timeout", false); ok {
		s.Exec.StopTimeout = dur
	}
	return hostNode
}

func (d *decoder) decodeRestart(s *Spec, t *tbl) {
	t.checkKeys(restartKeys)
	s.Restart.Policy = "on-failure"
	if p, _, ok := t.enum("policy", restartPolicies); ok {
		s.Restart.Policy = RestartPolicy(p)
	}
	if v, _, ok := t.duration("delay", false); ok {
		s.Restart.Delay = v
	}
	if v, _, ok := t.intRange("burst", 1, maxBurst); ok {
		s.Restart.Burst = v
	}
	if v, _, ok := t.duration("interval", false); ok {
		s.Restart.Interval, s.Restart.IntervalSet = v, true
	}
}

func (d *decoder) decodeResources(s *Spec, t *tbl) {
	t.checkKeys(resourcesKeys)
	r := &s.Resources
	var memNode, highNode *node
	if v, n, ok := t.size("memory"); ok {
		r.Memory, memNode = v, n
	}
	if v, n, ok := t.size("memory_high"); ok {
		r.MemoryHigh, highNode = v, n
	}
	if memNode != nil && highNode != nil && r.MemoryHigh > r.Memory {
		d.asWhole(func() {
			t.errf(highNode, "memory_high", "must not be larger than memory (%d > %d bytes)", r.MemoryHigh, r.Memory)
		})
	}
	if n := t.get("cpus"); n != nil {
		var v float64
		isNum := true
		switch x := n.val.(type) {
		case float64:
			v = x
		case int64:
			v = float64(x)
		default:
			isNum = false
			t.errf(n, "cpus", "must be a number of CPUs (e.g. 1.5), not %s", typeName(n.val))
		}
		if isNum {
			if math.IsNaN(v) || v < 0.01 || v > maxCPUs {
				t.errf(n, "cpus", "must be between 0.01 and %d", maxCPUs)
			} else {
				r.CPUs = v
			}
		}
	}
	if v, _, ok := t.intRange("cpu_weight", 1, maxWeight); ok {
		r.CPUWeight = v
	}
	r.Pids = DefaultPids
	if v, _, ok := t.intRange("pids", 1, maxPids); ok {
		r.Pids = v
	}
	if v, _, ok := t.intRange("io_weight", 1, maxWeight); ok {
		r.IOWeight = v
	}
	if v, _, ok := t.intRange("nofile", 1, maxNOFile); ok {
		r.NOFile = v
	}
}

func (d *decoder) decodeIsolation(s *Spec, t *tbl) (nsNode, roNode *node, nsBad bool) {
	t.checkKeys(isolationKeys)
	iso := &s.Isolation
	iso.Explicit = map[string]bool{}
	for k := range t.keys() {
		if contains(isolationKeys, k) {
			iso.Explicit[k] = true
		}
	}
	iso.Runtime = RuntimeNative
	if v, _, ok := t.enum("runtime", []string{"native", "gvisor"}); ok {
		iso.Runtime = Runtime(v)
	}
	if v, n, ok := t.str("rootfs"); ok && v != "" {
		if err := checkPath(v); err != nil {
			t.errf(n, "rootfs", "%v", err)
		} else {
			iso.Rootfs = v
		}
	}
	iso.ReadOnly = true
	if v, n, ok := t.boolean("read_only"); ok {
		iso.ReadOnly, roNode = v, n
	}
	if names, elems, n, listOK := t.strList("namespaces"); n != nil {
		// Cross-checks on a list with errors in it would only add noise.
		if listOK {
			nsNode = n
		} else {
			nsBad = true
		}
		iso.Namespaces = make([]Namespace, 0, len(names))
		seen := map[string]bool{}
		for i, ns := range names {
			switch {
			case !contains(namespaceNames, ns):
				hint := didYouMean(ns, namespaceNames)
				if ns == "user" {
					hint = ` (a user namespace is user_namespace = "auto")`
				}
				t.errf(elems[i], "namespaces", "unknown namespace %s: one of %s%s", quote(ns), strings.Join(namespaceNames, ", "), hint)
				nsNode, nsBad = nil, true
			case seen[ns]:
				t.errf(elems[i], "namespaces", "%s is listed twice", quote(ns))
				nsNode, nsBad = nil, true
			default:
				seen[ns] = true
				iso.Namespaces = append(iso.Namespaces, Namespace(ns))
			}
		}
	}
	iso.UserNamespace = UserNSHost
	if v, _, ok := t.enum("user_namespace", []string{"host", "auto"}); ok {
		iso.UserNamespace = UserNamespaceMode(v)
	}
	if caps, elems, _, _ := t.strList("capabilities"); caps != nil {
		iso.Capabilities = make([]string, 0, len(caps))
		for i, c := range caps {
			canon, err := canonicalCapability(c)
			switch {
			case err != nil:
				t.errf(elems[i], "capabilities", "%v", err)
			case contains(iso.Capabilities, canon):
				t.errf(elems[i], "capabilities", "%s is listed twice", canon)
			default:
				iso.Capabilities = append(iso.Capabilities, canon)
			}
		}
	}
	iso.Seccomp = SeccompDefault
	if v, n, ok := t.str("seccomp"); ok {
		switch {
		case v == "default":
		case v == "unconfined":
			iso.Seccomp = SeccompUnconfined
		case strings.HasPrefix(v, "/"):
			if err := checkPath(v); err != nil {
				t.errf(n, "seccomp", "%v", err)
			} else {
				iso.Seccomp, iso.SeccompProfile = SeccompProfile, v
			}
		default:
			t.errf(n, "seccomp", `%s must be "default", "unconfined" or the absolute path of an OCI seccomp profile (JSON)%s`,
				quote(v), didYouMean(v, []string{"default", "unconfined"}))
		}
	}
	if calls, elems, n, _ := t.strList("seccomp_allow"); calls != nil {
		if iso.Seccomp != SeccompDefault {
			d.asWhole(func() {
				t.errf(n, "seccomp_allow", `only applies with seccomp = "default" (it extends the default allowlist)`)
			})
		}
		iso.SeccompAllow = make([]string, 0, len(calls))
		for i, c := range calls {
			if err := checkSyscall(c); err != nil {
				t.errf(elems[i], "seccomp_allow", "%v", err)
				continue
			}
			if contains(iso.SeccompAllow, c) {
				t.errf(elems[i], "seccomp_allow", "%s is listed twice", quote(c))
				continue
			}
			iso.SeccompAllow = append(iso.SeccompAllow, c)
		}
	}
	return nsNode, roNode, nsBad
}

func (d *decoder) decodeMounts(s *Spec, top *tbl) {
	for _, t := range top.tables("mount") {
		t.checkKeys(mountKeys)
		var m Mount
		ok := true
		if t.get("type") == nil {
			t.errf(nil, "type", `missing: "bind" or "tmpfs"`)
			ok = false
		} else if v, _, good := t.enum("type", []string{"bind", "tmpfs"}); good {
			m.Type = MountType(v)
		} else {
			ok = false
		}
		srcNode := t.get("source")
		switch {
		case m.Type == MountBind && srcNode == nil:
			t.errf(nil, "source", "missing: a bind mount needs the absolute host path to mount")
			ok = false
		case m.Type == MountTmpfs && srcNode != nil:
			t.errf(srcNode, "source", "a tmpfs mount has no source")
			ok = false
		case m.Type == MountBind:
			if v, _, good := t.path("source"); good {
				m.Source = v
			} else {
				ok = false
			}
		}
		if t.get("target") == nil {
			t.errf(nil, "target", "missing: the absolute path inside the container")
			ok = false
		} else if v, n, good := t.path("target"); good {
			if v == "/" {
				t.errf(n, "target", `must not be "/": the container's root is [isolation] rootfs`)
				ok = false
			}
			m.Target = v
		} else {
			ok = false
		}
		if v, _, good := t.boolean("read_only"); good {
			m.ReadOnly = v
		}
		if n := t.get("size"); n != nil {
			if m.Type == MountBind {
				t.errf(n, "size", "only a tmpfs mount has a size")
				ok = false
			} else if v, _, good := t.size("size"); good {
				m.Size = v
			}
		}
		if ok {
			s.Mounts = append(s.Mounts, m)
			d.mountTargets = append(d.mountTargets, t.get("target"))
			d.mountNames = append(d.mountNames, t.name)
		}
	}
}

func (d *decoder) decodeLandlock(s *Spec, t *tbl) {
	t.checkKeys(landlockKeys)
	if t.n != nil {
		s.Isolation.Explicit["landlock"] = true
		for k := range t.keys() {
			if contains(landlockKeys, k) {
				s.Isolation.Explicit["landlock."+k] = true
			}
		}
	}
	s.Landlock.Read = t.pathList("read")
	s.Landlock.Write = t.pathList("write")
	s.Landlock.Execute = t.pathList("execute")
	s.Landlock.TCPBind = t.portList("tcp_bind")
	s.Landlock.TCPConnect = t.portList("tcp_connect")
}

// probe decodes the kind keys shared by [readiness] and [health]; exactly
// one must be set (notify = false counts as not set).
func (t *tbl) probe(kinds []string) (Probe, bool) {
	var p Probe
	var set []string
	for _, k := range kinds {
		n := t.get(k)
		if n == nil {
			continue
		}
		if b, isBool := n.val.(bool); k == "notify" && isBool && !b {
			continue
		}
		set = append(set, k)
	}
	oneOf := strings.Join(kinds, ", ")
	if contains(kinds, "notify") {
		oneOf = "exec, tcp, http, notify = true"
	}
	if len(set) == 0 {
		t.d.asWhole(func() { t.tableErr("needs exactly one of %s", oneOf) })
		return p, false
	}
	for _, k := range set[1:] {
		t.errf(t.get(k), k, "conflicts with %s: set exactly one of %s", set[0], oneOf)
	}
	if len(set) > 1 {
		return p, false
	}
	switch set[0] {
	case "exec":
		argv, ok := t.command("exec")
		p.Kind, p.Command = ProbeExec, argv
		return p, ok
	case "tcp":
		v, _, ok := t.intRange("tcp", 1, 65535)
		p.Kind, p.Port = ProbeTCP, uint16(v)
		return p, ok
	case "http":
		u, n, ok := t.str("http")
		if ok {
			if err := checkProbeURL(u); err != nil {
				t.errf(n, "http", "%v", err)
				ok = false
			}
		}
		p.Kind, p.URL = ProbeHTTP, u
		return p, ok
	default:
		_, _, ok := t.boolean("notify")
		p.Kind = ProbeNotify
		return p, ok
	}
}

// tableErr reports a problem with the table as a whole ("[readiness]").
func (t *tbl) tableErr(format string, args ...any) {
	t.d.add(t.n, t.name, fmt.Sprintf(format, args...))
}

func (d *decoder) decodeReadiness(t *tbl) *Readiness {
	if t.n == nil {
		return nil
	}
	t.checkKeys(readinessKeys)
	r := &Readiness{StartTimeout: DefaultReadinessStartTimeout}
	r.Interval, r.Timeout = DefaultReadinessInterval, DefaultReadinessTimeout
	p, ok := t.probe([]string{"exec", "tcp", "http", "notify"})
	if ok {
		r.Probe.Kind, r.Command, r.Port, r.URL = p.Kind, p.Command, p.Port, p.URL
	}
	if v, _, ok := t.duration("interval", true); ok {
		r.Interval = v
	}
	if v, _, ok := t.duration("timeout", true); ok {
		r.Timeout = v
	}
	if v, _, ok := t.duration("start_timeout", true); ok {
		r.StartTimeout = v
	}
	return r
}

func (d *decoder) decodeHealth(t *tbl) *Health {
	if t.n == nil {
		return nil
	}
	t.checkKeys(healthKeys)
	h := &Health{Retries: DefaultHealthRetries}
	h.Interval, h.Timeout = DefaultHealthInterval, DefaultHealthTimeout
	p, ok := t.probe([]string{"exec", "tcp", "http"})
	if ok {
		h.Probe.Kind, h.Command, h.Port, h.URL = p.Kind, p.Command, p.Port, p.URL
	}
	var ivNode *node
	if v, n, ok := t.duration("interval", true); ok {
		h.Interval, ivNode = v, n
	}
	if v, _, ok := t.duration("timeout", true); ok {
		h.Timeout = v
	}
	if v, _, ok := t.intRange("retries", 1, maxRetries); ok {
		h.Retries = v
	}
	if v, _, ok := t.duration("start_period", false); ok {
		h.StartPeriod = v
	}
	// WatchdogSec = (retries+1) × (interval+timeout) must be representable.
	if float64(h.Retries+1)*(float64(h.Interval)+float64(h.Timeout)) > math.MaxInt64/2 {
		t.errf(ivNode, "interval", "interval, timeout and retries give a watchdog timeout that is too long")
	}
	return h
}

func (d *decoder) decodeCredentials(s *Spec, top *tbl) {
	names := map[string]bool{}
	for _, t := range top.tables("credential") {
		t.checkKeys(credentialKeys)
		var c Credential
		ok := true
		if v, n, good := t.str("name"); good {
			switch err := checkCredentialName(v); {
			case err != nil:
				t.errf(n, "name", "%v", err)
				ok = false
			case names[v]:
				t.errf(n, "name", "credential %s is defined twice", quote(v))
				ok = false
			default:
				names[v] = true
				c.Name = v
			}
		} else {
			if n == nil {
				t.errf(nil, "name", "missing: the credential's name")
			}
			ok = false
		}
		for _, k := range []string{"source", "target"} {
			if t.get(k) == nil {
				t.errf(nil, k, "missing: an absolute path")
				ok = false
				continue
			}
			v, n, good := t.path(k)
			if good && k == "target" && v == "/" {
				t.errf(n, k, `must not be "/"`)
				good = false
			}
			if !good {
				ok = false
			} else if k == "source" {
				c.Source = v
			} else {
				c.Target = v
			}
		}
		if ok {
			s.Credentials = append(s.Credentials, c)
			d.credTargets = append(d.credTargets, t.get("target"))
			d.credNames = append(d.credNames, t.name)
		}
	}
}

func (d *decoder) decodeUnit(s *Spec, t *tbl) {
	t.checkKeys(unitKeys)
	self := s.Name + ".service"
	resolve := func(k string) []string {
		names, elems, n, _ := t.strList(k)
		if n == nil {
			return nil
		}
		out := make([]string, 0, len(names))
		for i, v := range names {
			u, err := resolveUnit(v)
			switch {
			case err != nil:
				t.errf(elems[i], k, "%v", err)
			case u == self:
				t.errf(elems[i], k, "%s is this spec's own unit", quote(v))
			case contains(out, u):
				t.errf(elems[i], k, "%s is listed twice", quote(u))
			default:
				out = append(out, u)
			}
		}
		return out
	}
	s.Unit.After = resolve("after")
	s.Unit.Requires = resolve("requires")
	s.Unit.Wants = resolve("wants")
	if t.get("wanted_by") == nil {
		s.Unit.WantedBy = []string{DefaultWantedBy}
	} else if wb := resolve("wanted_by"); wb != nil {
		s.Unit.WantedBy = wb
	} else {
		s.Unit.WantedBy = []string{}
	}
}

// crossCheck applies the rules that tie tables together and settles the
// defaults that depend on other keys:
//   - namespaces default to DefaultNamespaces, minus "net" with
//     [network] mode = "host";
//   - "pid" needs "mount": a new pid namespace needs its own /proc, which can
//     only be mounted in a private mount namespace (otherwise /proc would show
//     the host's processes, or the host's /proc would be replaced);
//   - [network] mode = "none" needs "net" and mode = "host" refuses it;
//   - [[mount]], [[credential]], rootfs and read_only = true need "mount";
//   - a hostname needs "uts": without it the host's hostname would change.
//     Without "uts", Exec.Hostname is "" (not set).
func (d *decoder) crossCheck(s *Spec, iso *tbl, nsNode, roNode, netModeNode *node, exec *tbl, hostNode *node, nsBad bool) {
	i := &s.Isolation
	switch {
	case nsBad:
		// namespaces has errors of its own; checks against it would be noise.
	case nsNode == nil:
		for _, ns := range DefaultNamespaces {
			if ns == NSNet && s.Network.Mode == NetworkHost {
				continue
			}
			i.Namespaces = append(i.Namespaces, ns)
		}
	default:
		if i.HasNamespace(NSPid) && !i.HasNamespace(NSMount) {
			iso.errf(nsNode, "namespaces", `"pid" needs "mount": the container's /proc can only be mounted in its own mount namespace`)
		}
		switch {
		case s.Network.Mode == NetworkNone && !i.HasNamespace(NSNet):
			iso.errf(nsNode, "namespaces", `without "net" the container shares the host's network: set [network] mode = "host" to say so, or add "net"`)
		case s.Network.Mode == NetworkHost && i.HasNamespace(NSNet):
			d.add(netModeNode, "[network] mode", `"host" shares the host's network, but [isolation] namespaces lists "net"`)
		}
		if !i.HasNamespace(NSMount) {
			var needs []string
			if len(s.Mounts) > 0 {
				needs = append(needs, "[[mount]]")
			}
			if len(s.Credentials) > 0 {
				needs = append(needs, "[[credential]]")
			}
			if i.Rootfs != "" {
				needs = append(needs, "rootfs")
			}
			if i.ReadOnly {
				w := "read_only = true (the default; set read_only = false)"
				if roNode != nil {
					w = "read_only = true"
				}
				needs = append(needs, w)
			}
			if len(needs) > 0 {
				iso.errf(nsNode, "namespaces", `without "mount" nothing can be mounted, but the spec uses %s`, strings.Join(needs, ", "))
			}
		}
		if !i.HasNamespace(NSUTS) {
			if hostNode != nil {
				exec.errf(hostNode, "hostname", `needs the "uts" namespace, or the host's own hostname would change`)
			}
			s.Exec.Hostname = ""
		}
	}

	// Two things mounted at one place: the later one would hide the earlier.
	targets := map[string]string{}
	for i, m := range s.Mounts {
		if prev, ok := targets[m.Target]; ok {
			d.add(d.mountTargets[i], d.mountNames[i]+" target",
				fmt.Sprintf("%s is also the target of %s", quote(m.Target), prev))
			continue
		}
		targets[m.Target] = d.mountNames[i]
	}
	for i, c := range s.Credentials {
		if prev, ok := targets[c.Target]; ok {
			d.add(d.credTargets[i], d.credNames[i]+" target",
				fmt.Sprintf("%s is also the target of %s", quote(c.Target), prev))
			continue
		}
		targets[c.Target] = d.credNames[i]
	}
}
