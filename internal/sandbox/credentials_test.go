package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestCredentialReadableByWorkloadOnly: under systemd a credential is a
// root-owned 0400 file in $CREDENTIALS_DIRECTORY. A workload running as
// another user must still read it, as a 0400 file of its own, read-only;
// the systemd-managed file must stay as it was.
func TestCredentialReadableByWorkloadOnly(t *testing.T) {
	cases := []struct {
		name   string
		user   string
		userNS spec.UserNamespaceMode
		want   string // uid gid mode, as stat shows them inside
	}{
		{"nobody host ids", "nobody", spec.UserNSHost, "65534 65534 400"},
		{"nobody user namespace", "nobody", spec.UserNSAuto, "65534 65534 400"},
		{"root", "", spec.UserNSHost, "0 0 400"},
		{"root user namespace", "", spec.UserNSAuto, "0 0 400"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			credDir := t.TempDir()
			src := filepath.Join(credDir, "db-password")
			if err := os.WriteFile(src, []byte("s3cret-for-nobody"), 0o400); err != nil {
				t.Fatal(err)
			}
			t.Setenv("CREDENTIALS_DIRECTORY", credDir)
			s := newSpec(t, "/bin/busybox", "sh", "-c", `
c=/run/secrets/db-password
echo "secret=$(busybox cat $c)"
echo "owner=$(busybox stat -c '%u %g %a' $c)"
if (echo x > $c) 2>/dev/null; then echo writable; fi`)
			s.Exec.User = tc.user
			s.Isolation.UserNamespace = tc.userNS
			// The spec's source is not where systemd put the copy.
			s.Credentials = []spec.Credential{{Name: "db-password", Source: "/nonexistent", Target: "/run/secrets/db-password"}}
			r := run(t, s)
			want := "secret=s3cret-for-nobody\nowner=" + tc.want + "\n"
			if r.status != 0 || r.stdout != want {
				t.Fatalf("status %d stdout %q, want %q; stderr %q logs %v", r.status, r.stdout, want, r.stderr, r.logs)
			}
			var st syscall.Stat_t
			if err := syscall.Stat(src, &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o400 {
				t.Fatalf("the systemd-managed file changed: uid %d gid %d mode %o", st.Uid, st.Gid, st.Mode&0o7777)
			}
		})
	}
}

// A credential's copy is not executable, even for its owner.
func TestCredentialNotExecutable(t *testing.T) {
	credDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(credDir, "script"), []byte("#!/bin/sh\necho ran\n"), 0o500); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", credDir)
	s := newSpec(t, "/bin/busybox", "sh", "-c", "/run/secrets/script; echo status=$?")
	s.Credentials = []spec.Credential{{Name: "script", Source: "/nonexistent", Target: "/run/secrets/script"}}
	r := run(t, s)
	if strings.Contains(r.stdout, "ran") || !strings.Contains(r.stdout, "status=126") {
		t.Fatalf("status %d stdout %q stderr %q", r.status, r.stdout, r.stderr)
	}
}
