package packaging

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/golden"
)

// tree lists every path under root with its type and permissions, one per
// line, sorted (WalkDir's lexical order).
func tree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s /%s\n", info.Mode(), rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// installScript runs scripts/install.sh ACTION with the layout variables the
// Makefile passes, defaults derived from PREFIX as the Makefile does.
func installScript(t *testing.T, action, destdir, prefix, bins string) string {
	t.Helper()
	cmd := exec.Command("./scripts/install.sh", action)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "DESTDIR="+destdir, "PREFIX="+prefix, "BINDIR_BUILD="+bins,
		"LIBEXECDIR="+prefix+"/libexec/nucleus", "GENERATORDIR="+prefix+"/lib/systemd/system-generators",
		"UNITDIR="+prefix+"/lib/systemd/system", "MANDIR="+prefix+"/share/man",
		"DOCDIR="+prefix+"/share/doc/nucleus", "SYSCONFDIR=/etc")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh %s: %v\n%s", action, err, out)
	}
	return string(out)
}

// TestInstallUninstall: make install puts exactly the documented files in
// place (golden tree per PREFIX), and make uninstall removes exactly those,
// leaving what was there before and what an operator added since.
func TestInstallUninstall(t *testing.T) {
	// install.sh only copies the binaries; stand-ins keep this test
	// independent of the build.
	bins := t.TempDir()
	for _, b := range []string{"nucleus-generator", "nucleus-exec"} {
		if err := os.WriteFile(filepath.Join(bins, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ name, prefix string }{
		{"usr", "/usr"},
		{"usr-local", "/usr/local"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dest := t.TempDir()
			// A system that already has units: the unit directory and its
			// file must survive uninstall.
			existing := filepath.Join(dest, tt.prefix, "lib/systemd/system/other.service")
			if err := os.MkdirAll(filepath.Dir(existing), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(existing, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			before := tree(t, dest)

			installScript(t, "install", dest, tt.prefix, bins)
			golden.Check(t, filepath.Join("testdata", "install-"+tt.name+".golden"), []byte(tree(t, dest)))
			// Installing twice is harmless and keeps one manifest entry each.
			installScript(t, "install", dest, tt.prefix, bins)
			manifest, err := os.ReadFile(filepath.Join(dest, tt.prefix, "share/nucleus/install-manifest"))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSpace(string(manifest)), "\n") {
				if seen[l] {
					t.Errorf("manifest lists %q twice", l)
				}
				seen[l] = true
			}

			installScript(t, "uninstall", dest, tt.prefix, bins)
			if after := tree(t, dest); after != before {
				t.Errorf("uninstall left a different tree:\n--- after\n%s--- before install\n%s", after, before)
			}

			// An operator's spec keeps /etc/nucleus (and only that) alive.
			installScript(t, "install", dest, tt.prefix, bins)
			spec := filepath.Join(dest, "etc/nucleus/mine.toml")
			if err := os.WriteFile(spec, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			out := installScript(t, "uninstall", dest, tt.prefix, bins)
			if _, err := os.Stat(spec); err != nil {
				t.Errorf("uninstall removed the operator's spec: %v", err)
			}
			if !strings.Contains(out, "kept "+filepath.Join(dest, "etc/nucleus")) {
				t.Errorf("uninstall did not say it kept /etc/nucleus:\n%s", out)
			}
			if err := os.RemoveAll(filepath.Join(dest, "etc")); err != nil {
				t.Fatal(err)
			}
			if after := tree(t, dest); after != before {
				t.Errorf("uninstall left more than /etc/nucleus:\n%s", after)
			}
		})
	}
}
