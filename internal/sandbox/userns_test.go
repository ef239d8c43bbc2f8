package sandbox_test

import (
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// TestUserNamespaceOwnership pins what nucleus.toml(5) says about
// user_namespace = "auto": the host range starts at 0x100000 +
// 65536*(FNV-1a(NAME) mod 16384); a bound directory owned by host uid
// base+N is writable by the container's uid N, and what it creates there
// belongs to base+N on the host; host files outside the range appear owned
// by the overflow id 65534 and give the container's root no privilege.
func TestUserNamespaceOwnership(t *testing.T) {
	s := newSpec(t, "/bin/busybox", "sh", "-c", `
echo x > /mine/new && echo mine=written || echo mine=refused
echo x > /theirs/new 2>/dev/null && echo theirs=written || echo theirs=refused
echo "theirs-owner=$(busybox stat -c '%u:%g' /theirs)"
echo "mine-owner=$(busybox stat -c '%u:%g' /mine)"`)
	s.Isolation.UserNamespace = spec.UserNSAuto
	s.Exec.User = "1000" // not in passwd: gid 1000
	h := fnv.New32a()
	h.Write([]byte(s.Name))
	base := 0x100000 + int(h.Sum32()%16384)*65536
	const uid = 1000

	mine, theirs := hostDir(t, "", ""), hostDir(t, "", "")
	// The sources are reached as the namespace's root, an unprivileged
	// host uid: the directories above them must be searchable by others
	// (t.TempDir's parent is 0700).
	for _, d := range []string{mine, theirs} {
		if err := os.Chmod(filepath.Dir(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(mine, base+uid, base+uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(theirs, 0o777&^0o002); err != nil { // root's, not world-writable
		t.Fatal(err)
	}
	s.Mounts = []spec.Mount{
		{Type: spec.MountBind, Source: mine, Target: "/mine"},
		{Type: spec.MountBind, Source: theirs, Target: "/theirs"},
	}
	r := run(t, s)
	want := "mine=written\ntheirs=refused\ntheirs-owner=65534:65534\nmine-owner=1000:1000\n"
	if r.status != 0 || r.stdout != want {
		t.Fatalf("status %d stdout %q, want %q (stderr %q)", r.status, r.stdout, want, r.stderr)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(mine, "new"), &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != base+uid || int(st.Gid) != base+uid {
		t.Errorf("file created by the container's uid 1000 is %d:%d on the host, want %d:%d", st.Uid, st.Gid, base+uid, base+uid)
	}
	if strings.Contains(r.stdout, "theirs=written") {
		t.Errorf("the container's uid 1000 wrote into a root-owned host directory")
	}
}
