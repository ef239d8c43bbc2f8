package workload

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestHostView lists a made-up host: a directory, a merged-/usr symlink,
// a dangling symlink (kept: it is recreated, not followed), a regular file
// and a missing path (both left out), in the order asked.
func TestHostView(t *testing.T) {
	host := t.TempDir()
	for _, step := range []error{
		os.Mkdir(filepath.Join(host, "usr"), 0o755),
		os.Symlink("usr/bin", filepath.Join(host, "bin")),
		os.Symlink("usr/lib32", filepath.Join(host, "lib32")),
		os.WriteFile(filepath.Join(host, "etc"), nil, 0o644),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	at := func(name string) string { return filepath.Join(host, name) }
	cases := []struct {
		name string
		dirs []string
		want []HostEntry
	}{
		{"none", nil, nil},
		{"all kinds", []string{at("bin"), at("usr"), at("etc"), at("lib64"), at("lib32")},
			[]HostEntry{{Path: at("bin"), Symlink: "usr/bin"}, {Path: at("usr")}, {Path: at("lib32"), Symlink: "usr/lib32"}}},
		{"only missing", []string{at("libx32")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hostView(tc.dirs)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("hostView = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	// This host's view has at least /usr, whatever its layout.
	hv, err := HostView()
	if err != nil || len(hv) == 0 || hv[0] != (HostEntry{Path: "/usr"}) {
		t.Errorf("HostView() = %+v, %v; want /usr first", hv, err)
	}
}

func TestCredentialSource(t *testing.T) {
	c := spec.Credential{Name: "db-password", Source: "/etc/app/db", Target: "/run/secrets/db"}
	cases := []struct{ credDir, want string }{
		{"", "/etc/app/db"},
		{"/run/credentials/app.service", "/run/credentials/app.service/db-password"},
	}
	for _, tc := range cases {
		if got := CredentialSource(c, tc.credDir); got != tc.want {
			t.Errorf("CredentialSource(credDir %q) = %q, want %q", tc.credDir, got, tc.want)
		}
	}
}

func TestReadCredential(t *testing.T) {
	readErr := errors.New("EIO")
	cases := []struct {
		name    string
		content string
		err     string
	}{
		{"empty", "", ""},
		{"small", "s3cret\n", ""},
		{"exactly the limit", strings.Repeat("x", MaxCredentialSize), ""},
		{"one byte over", strings.Repeat("x", MaxCredentialSize+1), "/src is larger than 1048576 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReadCredential(strings.NewReader(tc.content), "/src")
			switch {
			case tc.err != "":
				if err == nil || err.Error() != tc.err {
					t.Errorf("err = %v, want %q", err, tc.err)
				}
			case err != nil:
				t.Errorf("err = %v", err)
			case string(b) != tc.content:
				t.Errorf("read %d bytes, want %d", len(b), len(tc.content))
			}
		})
	}
	if _, err := ReadCredential(iotest.ErrReader(readErr), "/src"); !errors.Is(err, readErr) || !strings.HasPrefix(err.Error(), "read /src: ") {
		t.Errorf("read error = %v, want it wrapped after \"read /src: \"", err)
	}
}

// TestExitStatus runs real processes (sh, not containers) and checks the
// status each one's wait status becomes.
func TestExitStatus(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("sh: %v", err)
	}
	cases := []struct {
		name   string
		script string
		want   int
	}{
		{"success", "exit 0", 0},
		{"exit code", "exit 3", 3},
		{"killed by SIGKILL", "kill -KILL $$", 128 + 9},
		{"killed by SIGTERM", "kill -TERM $$", 128 + 15},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(sh, "-c", tc.script)
			_ = cmd.Run() // a non-zero status is what is tested
			got, ok := ExitStatus(cmd.ProcessState)
			if !ok || got != tc.want {
				t.Errorf("ExitStatus = %d, %v; want %d, true", got, ok, tc.want)
			}
		})
	}
	if _, ok := ExitStatus(nil); ok {
		t.Error("ExitStatus(nil) reports a status")
	}
}
