package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Where an instance gets nucleus: the generator where systemd looks for
// system generators, nucleus-exec where the generated units point (the
// binaries are built with version.ExecPath set to ExecPath).
const (
	GeneratorPath = "/usr/lib/systemd/system-generators/nucleus-generator"
	ExecPath      = "/usr/libexec/nucleus/nucleus-exec"
	SpecDir       = "/etc/nucleus"
	slicePath     = "/usr/lib/systemd/system/nucleus.slice"
)

// Binaries are freshly built nucleus programs (host paths), plus the unit
// files of the repository they came from.
type Binaries struct {
	Generator string
	Exec      string
	Slice     string // units/nucleus.slice, "" when the repository has none
}

// BuildNucleus builds nucleus-generator and nucleus-exec from the module at
// repo into outDir: static (CGO_ENABLED=0), with ExecStart= pointing at
// ExecPath.
func BuildNucleus(repo, outDir string) (Binaries, error) {
	b := Binaries{
		Generator: filepath.Join(outDir, "nucleus-generator"),
		Exec:      filepath.Join(outDir, "nucleus-exec"),
	}
	ldflags := "-X github.com/nucleus-containers/nucleus/internal/version.ExecPath=" + ExecPath
	for _, p := range []struct{ pkg, out string }{
		{"./cmd/nucleus-generator", b.Generator},
		{"./cmd/nucleus-exec", b.Exec},
	} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", p.out, p.pkg)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %w\n%s", p.pkg, err, out)
		}
	}
	slice := filepath.Join(repo, "units", "nucleus.slice")
	if _, err := os.Stat(slice); err == nil {
		b.Slice = slice
	} else if !errors.Is(err, os.ErrNotExist) {
		return b, err
	}
	return b, nil
}

// InstallNucleus copies the binaries (and nucleus.slice) into the instance
// and runs `systemctl daemon-reload`, so the generator runs on the specs
// already in SpecDir.
func (in *Instance) InstallNucleus(b Binaries) error {
	if err := in.CopyIn(b.Generator, GeneratorPath, 0o755); err != nil {
		return err
	}
	if err := in.CopyIn(b.Exec, ExecPath, 0o755); err != nil {
		return err
	}
	if b.Slice != "" {
		if err := in.CopyIn(b.Slice, slicePath, 0o644); err != nil {
			return err
		}
	}
	if _, err := in.Exec("mkdir", "-p", SpecDir); err != nil {
		return err
	}
	return in.DaemonReload()
}

// DaemonReload runs `systemctl daemon-reload` (which re-runs generators).
func (in *Instance) DaemonReload() error {
	if _, err := in.Exec("systemctl", "daemon-reload"); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}

// WriteSpec writes /etc/nucleus/NAME.toml (root-owned, 0644). It does not
// reload systemd.
func (in *Instance) WriteSpec(name, toml string) error {
	return in.WriteFile(filepath.Join(SpecDir, name+".toml"), []byte(toml), 0o644)
}
