// Package generator owns nucleus-generator's run as a systemd.generator(7):
// finding specs (through internal/spec), refusing names that would shadow a
// real unit, rendering (through internal/unit), writing NAME.service and the
// TARGET.wants/ links atomically into the normal generator directory,
// logging to /dev/kmsg, and --dry-run.
//
// It must not validate spec values itself (internal/spec does), know unit
// syntax (internal/unit does), talk to any other process, or write
// anywhere but the output directory.
package generator

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/unit"
	"github.com/nucleus-containers/nucleus/internal/version"
)

// Environment variables read by the generator.
const (
	// UnitDirsEnv replaces DefaultUnitDirs (colon-separated), for tests.
	UnitDirsEnv = "NUCLEUS_UNIT_DIRS"
	// KmsgEnv replaces the kernel log device path, so tests can read what
	// would go to the kernel log.
	KmsgEnv = "NUCLEUS_GENERATOR_KMSG"
)

// DefaultUnitDirs are the unit directories where an existing NAME.service
// makes the generator refuse the spec NAME. /etc/systemd/system and
// /run/systemd/system come before the generator directory in systemd's
// search path, so a unit there would silently win over the generated one;
// /usr/local/lib/systemd/system and /usr/lib/systemd/system come after, so
// the generated unit would silently replace a real one (ssh.service).
// Refusing, loudly, is better in both cases.
var DefaultUnitDirs = []string{
	"/etc/systemd/system",
	"/run/systemd/system",
	"/usr/local/lib/systemd/system",
	"/usr/lib/systemd/system",
}

// DefaultNormalDir is where systemd puts generator output; --dry-run
// names units under it when no directory is given.
const DefaultNormalDir = "/run/systemd/generator"

// Config is one generator run.
type Config struct {
	NormalDir string   // output directory (systemd's normal-dir)
	DryRun    bool     // print instead of writing
	SpecDirs  []string // in precedence order
	UnitDirs  []string // shadow check
	ExecPath  string   // nucleus-exec path for ExecStart=
	Out       io.Writer
	Log       *logger
}

// Main runs the generator with command-line args (without argv[0]) and
// returns the exit status: 0 when every spec became a unit, 1 when any spec
// or any write failed, 2 on a usage error.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nucleus-generator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "print the units that would be written, write nothing")
	verbose := fs.Bool("v", false, "log debug messages too")
	showVersion := fs.Bool("version", false, "print the version and exit")
	var specDirs stringList
	fs.Var(&specDirs, "spec-dir", "read specs from `DIR` instead of the spec directories (repeatable, highest precedence first)")
	usage := func(w io.Writer) {
		fmt.Fprint(w, `Usage: nucleus-generator [-v] normal-dir [early-dir late-dir]
       nucleus-generator --dry-run [-v] [--spec-dir DIR ...] [normal-dir]
       nucleus-generator --help | --version

A systemd generator: turns nucleus container specs (nucleus.toml(5)) from
`+strings.Join(spec.DefaultDirs, ", ")+` into NAME.service units.

`)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fmt.Fprint(w, `
Environment: NUCLEUS_SPEC_DIRS, NUCLEUS_UNIT_DIRS, NUCLEUS_EXEC_PATH (see nucleus-generator(8)).
`)
	}
	// flag would print the usage itself, to stderr even for --help.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return 0
		}
		fmt.Fprintln(stderr, "see nucleus-generator --help")
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "nucleus-generator", version.Version)
		return 0
	}
	pos := fs.Args()
	if len(pos) > 3 || (len(pos) == 0 && !*dryRun) {
		fmt.Fprintln(stderr, "nucleus-generator: expected normal-dir [early-dir late-dir]; see --help")
		return 2
	}

	cfg := Config{
		DryRun:   *dryRun,
		SpecDirs: spec.Dirs(),
		UnitDirs: DefaultUnitDirs,
		ExecPath: version.NucleusExec(),
		Out:      stdout,
	}
	if len(pos) > 0 {
		cfg.NormalDir = pos[0]
	} else {
		cfg.NormalDir = DefaultNormalDir
	}
	if len(specDirs) > 0 {
		cfg.SpecDirs = specDirs
	}
	// Units name their spec files by absolute path (SourcePath=, and
	// ExecStart= runs from /), so a relative directory (--spec-dir ./specs,
	// NUCLEUS_SPEC_DIRS=specs) is resolved here, against the working
	// directory the user meant.
	for i, d := range cfg.SpecDirs {
		if abs, err := filepath.Abs(d); err == nil {
			cfg.SpecDirs[i] = abs
		}
	}
	if v := os.Getenv(UnitDirsEnv); v != "" {
		cfg.UnitDirs = filepath.SplitList(v)
	}
	if cfg.DryRun {
		cfg.Log = stderrLog(stderr, *verbose)
	} else {
		kmsg := "/dev/kmsg"
		if v := os.Getenv(KmsgEnv); v != "" {
			kmsg = v
		}
		cfg.Log = openLog(kmsg, stderr, *verbose)
		defer cfg.Log.Close()
	}
	// A generator lives for milliseconds and allocates a few tens of KiB
	// per spec: collecting garbage would cost more than keeping it. The
	// limit still bounds memory for absurdly many specs.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(256 << 20)
	if Run(cfg) > 0 {
		return 1
	}
	return 0
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// result is what processing one spec produced.
type result struct {
	found spec.Found
	unit  []byte
	wants []string // WantedBy targets
	errs  []string // log lines, each naming the file; no unit then
	// installErr is a failure to write the unit or one of its links.
	installErr error
}

// Run generates every spec and returns how many failed (a spec that was
// refused, or a unit that could not be written). It never stops at the
// first failure.
func Run(cfg Config) int {
	start := time.Now()
	log := cfg.Log
	log.debugf("spec directories: %s", strings.Join(cfg.SpecDirs, ":"))
	failed := 0

	found, findErrs := spec.Find(cfg.SpecDirs)
	for _, err := range findErrs {
		log.errorf("%v", err)
		failed++
	}
	shadow := existingUnits(cfg.UnitDirs)

	results := make([]result, len(found))
	forEach(len(found), func(i int) {
		results[i] = process(found[i], shadow, cfg.ExecPath)
	})

	if !cfg.DryRun && len(results) > 0 {
		// Units are world-readable like every unit systemd ships, whatever
		// umask the generator inherited.
		defer syscall.Umask(syscall.Umask(0o022))
		if err := os.MkdirAll(cfg.NormalDir, 0o755); err != nil {
			log.errorf("cannot create output directory: %v", err)
			return failed + len(results)
		}
		wantsDirs := map[string]bool{}
		for i := range results {
			for _, t := range results[i].wants {
				wantsDirs[t] = true
			}
		}
		for t := range wantsDirs {
			if err := os.Mkdir(filepath.Join(cfg.NormalDir, t+".wants"), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				log.errorf("cannot create %s.wants: %v", t, err)
			}
		}
		forEach(len(results), func(i int) {
			if r := &results[i]; len(r.errs) == 0 {
				r.installErr = install(cfg.NormalDir, r)
			}
		})
	}

	for i := range results {
		r := &results[i]
		if len(r.errs) > 0 {
			failed++
			for _, e := range r.errs {
				log.errorf("%s", e)
			}
			log.errorf("%s: no unit written for %s", r.found.Main, r.found.Name)
			continue
		}
		if r.installErr != nil {
			failed++
			log.errorf("%v", r.installErr)
			continue
		}
		unitPath := filepath.Join(cfg.NormalDir, r.found.Name+".service")
		if cfg.DryRun {
			printUnit(cfg.Out, unitPath, r)
		}
		log.debugf("%s: %s (%d bytes, wanted by %s)", r.found.Main, unitPath, len(r.unit), strings.Join(r.wants, " "))
	}
	log.debugf("%d specs, %d units, %d failed, in %v", len(found), len(found)-countFailed(results), failed, time.Since(start).Round(time.Microsecond))
	return failed
}

func countFailed(rs []result) int {
	n := 0
	for i := range rs {
		if len(rs[i].errs) > 0 || rs[i].installErr != nil {
			n++
		}
	}
	return n
}

// forEach calls fn(0..n-1) on at most GOMAXPROCS goroutines: parsing and
// writing hundreds of specs is CPU- and syscall-bound, and a goroutine per
// spec would only add scheduling.
func forEach(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	// Contiguous chunks: no channel traffic, and each worker touches
	// neighbouring results.
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// existingUnits returns "dir/NAME.service" for every service unit in dirs,
// keyed by unit name (first dir wins). One readdir per directory is cheaper
// than a stat per spec and directory once there are more than a few specs.
func existingUnits(dirs []string) map[string]string {
	units := map[string]string{}
	for _, d := range dirs {
		f, err := os.Open(d)
		if err != nil {
			continue // a missing unit directory holds no units
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		for _, n := range names {
			if strings.HasSuffix(n, ".service") {
				if _, ok := units[n]; !ok {
					units[n] = filepath.Join(d, n)
				}
			}
		}
	}
	return units
}

// process loads and renders one spec; it touches no output.
func process(f spec.Found, shadow map[string]string, execPath string) result {
	r := result{found: f}
	if p, ok := shadow[f.Name+".service"]; ok {
		r.errs = append(r.errs, fmt.Sprintf("%s: %s already exists: a spec must not shadow a real unit; rename the spec", f.Main, p))
		return r
	}
	s, err := spec.Load(f)
	if err != nil {
		var list spec.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				r.errs = append(r.errs, e.Error())
			}
		} else {
			r.errs = append(r.errs, fmt.Sprintf("%s: %v", f.Main, err))
		}
		return r
	}
	for _, t := range s.Unit.WantedBy {
		// The target becomes a directory name under normal-dir: only a
		// valid unit name (no '/', no "..") may get there.
		if !unit.ValidUnitName(t) {
			r.errs = append(r.errs, fmt.Sprintf("%s: [unit] wanted_by: %q is not a valid unit name", f.Main, t))
		}
	}
	out, err := unit.Render(s, unit.Options{ExecPath: execPath})
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			r.errs = append(r.errs, f.Main+": "+line)
		}
	}
	if len(r.errs) > 0 {
		return r
	}
	r.unit, r.wants = out, s.Unit.WantedBy
	return r
}

// install writes NAME.service and its TARGET.wants/NAME.service links into
// dir. Each file appears atomically: written under a temporary name in the
// same directory, then renamed over the final one, so a concurrent or
// overlapping run never leaves a torn unit or a missing link.
func install(dir string, r *result) error {
	name := r.found.Name + ".service"
	if err := writeFileAtomic(dir, name, r.unit); err != nil {
		return fmt.Errorf("%s: cannot write %s: %w", r.found.Main, filepath.Join(dir, name), err)
	}
	for _, t := range r.wants {
		wdir := filepath.Join(dir, t+".wants")
		if err := symlinkAtomic("../"+name, wdir, name); err != nil {
			return fmt.Errorf("%s: cannot link %s: %w", r.found.Main, filepath.Join(wdir, name), err)
		}
	}
	return nil
}

// pid names this run's temporary files: unique between overlapping runs.
var pid = strconv.Itoa(os.Getpid())

// writeFileAtomic writes dir/name through a temporary file and rename. It
// uses raw system calls: os.OpenFile and os.Rename add a poller
// registration, fcntl calls and an lstat per file, which is a third of the
// generator's system calls with hundreds of specs. A fixed temporary name
// is enough (names are unique within a run, PIDs between runs); mode 0644
// is exact because Run sets the umask.
func writeFileAtomic(dir, name string, data []byte) error {
	tmp := dir + "/." + name + "." + pid + ".tmp"
	fd, err := retryEINTR(func() (int, error) {
		return syscall.Open(tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
	})
	if err != nil {
		return &os.PathError{Op: "open", Path: tmp, Err: err}
	}
	for rest := data; len(rest) > 0; {
		n, werr := retryEINTR(func() (int, error) { return syscall.Write(fd, rest) })
		if werr != nil {
			err = &os.PathError{Op: "write", Path: tmp, Err: werr}
			break
		}
		rest = rest[n:]
	}
	if cerr := syscall.Close(fd); cerr != nil && err == nil {
		err = &os.PathError{Op: "close", Path: tmp, Err: cerr}
	}
	if err == nil {
		if rerr := syscall.Rename(tmp, dir+"/"+name); rerr != nil {
			err = &os.LinkError{Op: "rename", Old: tmp, New: dir + "/" + name, Err: rerr}
		}
	}
	if err != nil {
		syscall.Unlink(tmp)
	}
	return err
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// symlinkAtomic makes dir/name a link to target. Creating a symlink is
// atomic by itself; only replacing an existing one (an overlapping or
// repeated run) goes through a temporary link and rename.
func symlinkAtomic(target, dir, name string) error {
	final := dir + "/" + name
	err := syscall.Symlink(target, final)
	if err == nil {
		return nil
	}
	if err != syscall.EEXIST {
		return &os.LinkError{Op: "symlink", Old: target, New: final, Err: err}
	}
	if cur, rerr := os.Readlink(final); rerr == nil && cur == target {
		return nil
	}
	tmp := dir + "/." + name + "." + pid + ".tmp"
	syscall.Unlink(tmp) // left over from a killed run with our PID
	if err := syscall.Symlink(target, tmp); err != nil {
		return &os.LinkError{Op: "symlink", Old: target, New: tmp, Err: err}
	}
	if err := syscall.Rename(tmp, final); err != nil {
		syscall.Unlink(tmp)
		return &os.LinkError{Op: "rename", Old: tmp, New: final, Err: err}
	}
	return nil
}

func printUnit(w io.Writer, path string, r *result) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n", path)
	b.Write(r.unit)
	for _, t := range r.wants {
		fmt.Fprintf(&b, "# %s -> ../%s.service\n", filepath.Join(filepath.Dir(path), t+".wants", r.found.Name+".service"), r.found.Name)
	}
	b.WriteByte('\n')
	_, _ = w.Write(b.Bytes())
}
