package gvisor

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nucleus-containers/nucleus/internal/spec"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// relayPathInside is where the probe relay binary appears in the sandbox
// (beside workload.NotifySocket, nucleus's other path in there).
const relayPathInside = "/run/nucleus/relay"

// OCI masked and read-only paths, matching what the native sandbox hides
// under /proc and /sys. gVisor's own /proc has none of the host's kernel
// state behind these names; they are listed so that the bundle says what
// the spec means, whatever runtime reads it.
var (
	maskedPaths = []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/kallsyms", "/proc/kmsg",
		"/proc/keys", "/proc/key-users", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
		"/proc/sched_debug", "/proc/scsi", "/proc/driver", "/sys/firmware", "/sys/kernel/security"}
	readonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// hostFacts are the host-side inputs of a bundle, gathered once so that
// building the OCI config is a pure function of (spec, facts).
type hostFacts struct {
	BundleRoot string               // host directory used as the root when rootfs = ""
	HostView   []workload.HostEntry // rootfs = "" only; symlinks are recreated in BundleRoot
	CredCopies string               // host directory of the workload's copies of the credentials, one file per name
	Notify     string               // host path of the notify socket, "" = none
	Relay      string               // host path of the relay binary, "" = not mounted
	StartFIFO  string               // host path of the FIFO the poststart hook writes to
	Shell      string               // host shell that runs the poststart hook
	Identity   workload.Identity    // the resolved user
}

// buildConfig turns a validated spec into the OCI runtime config runsc
// reads. It does not touch the filesystem.
func buildConfig(s *spec.Spec, f hostFacts) (*specs.Spec, error) {
	if len(s.Exec.Command) == 0 {
		return nil, fmt.Errorf("exec.command is empty")
	}
	env := workloadEnv(s, f)
	workdir := s.Exec.Workdir
	if workdir == "" {
		workdir = "/"
	}
	caps := append([]string{}, s.Isolation.Capabilities...)
	proc := &specs.Process{
		User: specs.User{
			UID:            f.Identity.UID,
			GID:            f.Identity.GID,
			AdditionalGids: f.Identity.SupGIDs,
		},
		Args: append([]string(nil), s.Exec.Command...),
		Env:  env,
		Cwd:  workdir,
		// All five sets equal the kept list: a non-root workload keeps its
		// capabilities across its own execve only through the ambient set.
		Capabilities: &specs.LinuxCapabilities{
			Bounding: caps, Effective: caps, Inheritable: caps, Permitted: caps, Ambient: caps,
		},
		NoNewPrivileges: true,
	}
	if n := uint64(s.Resources.NOFile); n > 0 {
		proc.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: n, Soft: n}}
	}
	hostname := containerHostname(s)

	cfg := &specs.Spec{
		Version:  specs.Version,
		Process:  proc,
		Hostname: hostname,
		Linux: &specs.Linux{
			// gVisor is always its own pid, ipc, uts and mount world; the
			// list says so for runsc, which would otherwise share nothing
			// less.
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
		},
	}
	if s.Isolation.Rootfs != "" {
		cfg.Root = &specs.Root{Path: filepath.Clean(s.Isolation.Rootfs), Readonly: s.Isolation.ReadOnly}
	} else {
		cfg.Root = &specs.Root{Path: f.BundleRoot, Readonly: s.Isolation.ReadOnly}
	}

	ro := []string{"rbind", "ro", "nosuid", "nodev"}
	mounts := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
	if s.Isolation.Rootfs == "" {
		for _, e := range f.HostView {
			if e.Symlink == "" {
				mounts = append(mounts, specs.Mount{Destination: e.Path, Type: "bind", Source: e.Path, Options: ro})
			}
		}
	}
	mounts = append(mounts,
		specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=755"}},
	)
	for _, m := range s.Mounts {
		switch m.Type {
		case spec.MountBind:
			opts := []string{"rbind", "nosuid", "nodev"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: filepath.Clean(m.Target), Type: "bind", Source: m.Source, Options: opts})
		case spec.MountTmpfs:
			opts := []string{"nosuid", "nodev"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			if m.Size > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.Size))
			}
			mounts = append(mounts, specs.Mount{Destination: filepath.Clean(m.Target), Type: "tmpfs", Source: "tmpfs", Options: opts})
		default:
			return nil, fmt.Errorf("mount %s: unknown type %q", m.Target, m.Type)
		}
	}
	for _, c := range s.Credentials {
		// The copy, not the source: see copyCredentials.
		mounts = append(mounts, specs.Mount{Destination: filepath.Clean(c.Target), Type: "bind", Source: filepath.Join(f.CredCopies, c.Name),
			Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
	}
	// nucleus's own files go last, so that no [[mount]] can hide them.
	if f.Notify != "" {
		mounts = append(mounts, specs.Mount{Destination: workload.NotifySocket, Type: "bind", Source: f.Notify, Options: []string{"bind", "nosuid", "nodev"}})
	}
	if f.Relay != "" {
		mounts = append(mounts, specs.Mount{Destination: relayPathInside, Type: "bind", Source: f.Relay, Options: []string{"bind", "ro", "nosuid", "nodev"}})
	}
	cfg.Mounts = mounts

	// The poststart hook runs on the host after the workload has been
	// started: it is how Start learns that the workload runs without
	// polling `runsc state`.
	cfg.Hooks = &specs.Hooks{Poststart: []specs.Hook{{
		Path: f.Shell,
		Args: []string{"sh", "-c", `echo started > "$1"`, "nucleus-started", f.StartFIFO},
	}}}
	return cfg, nil
}

// copyCredentials copies each credential into dir (created 0700, root's)
// as a file owned by the workload's uid:gid, mode 0400, which the bundle
// binds read-only at the target. Under systemd the source is a root-owned
// 0400 file in $CREDENTIALS_DIRECTORY: bound as it is, a non-root workload
// could not read it, and that file is systemd's, so it is never changed.
// dir is in the container's state directory, under /run (a tmpfs), and is
// removed with it.
func copyCredentials(creds []spec.Credential, credDir, dir string, id workload.Identity) error {
	if len(creds) == 0 {
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	for _, c := range creds {
		src := workload.CredentialSource(c, credDir)
		if err := copyCredential(src, filepath.Join(dir, c.Name), id); err != nil {
			return fmt.Errorf("credential %s: %w", c.Name, err)
		}
	}
	return nil
}

func copyCredential(src, dst string, id workload.Identity) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	b, err := workload.ReadCredential(in, src)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o400)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := out.Write(b); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := out.Chown(int(id.UID), int(id.GID)); err != nil {
		return fmt.Errorf("chown copy to %d:%d: %w", id.UID, id.GID, err)
	}
	if err := out.Chmod(0o400); err != nil {
		return fmt.Errorf("chmod copy: %w", err)
	}
	return out.Close()
}

// workloadEnv is workload.Env with HOME and USER: gVisor always has its
// own UTS namespace, so HOSTNAME is the spec's host name.
func workloadEnv(s *spec.Spec, f hostFacts) []string {
	return workload.WithUser(workload.Env(s.Exec.Environment, containerHostname(s), f.Notify != ""), f.Identity)
}

// containerHostname is the sandbox's host name. gVisor always has its own
// UTS namespace, even where the spec has none (and so no [exec] hostname):
// then the spec's NAME serves.
func containerHostname(s *spec.Spec) string {
	if s.Exec.Hostname != "" {
		return s.Exec.Hostname
	}
	return s.Name
}

// prepareRoot creates the bundle's root directory for rootfs = "": empty
// mountpoints for the host-view directories and the host's merged-/usr
// symlinks.
func prepareRoot(dir string, view []workload.HostEntry) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bundle root: %w", err)
	}
	for _, e := range view {
		dst := filepath.Join(dir, e.Path)
		var err error
		if e.Symlink != "" {
			err = os.Symlink(e.Symlink, dst)
		} else {
			err = os.Mkdir(dst, 0o755)
		}
		if err != nil {
			return fmt.Errorf("bundle root: %w", err)
		}
	}
	return nil
}
