package gvisor

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/sandbox"
	"github.com/nucleus-containers/nucleus/internal/workload"
)

// TestInside runs a workload under runsc that reports, from inside, what it
// sees: each line is KEY=VALUE and the table says what the spec demands.
func TestInside(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "hello"), []byte("from-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	// As systemd leaves it in $CREDENTIALS_DIRECTORY: root's, 0400. The
	// workload runs as nobody and must still read it (from its own copy).
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	// A host listener the sandbox must not reach with network = "none".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hostPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)

	script := `
r() { printf '%s=%s\n' "$1" "$2"; }
ok() { if "$@" >/dev/null 2>&1; then echo yes; else echo no; fi; }
r kernel "$(uname -r)"
r dmesg "$(dmesg 2>/dev/null | grep -c gVisor)"
r uid "$(id -u)"
r gid "$(id -g)"
r groups "$(id -G)"
r home "$HOME"
r user "$USER"
r app "$APP_ENV"
r container "$container"
r path "$PATH"
r hostname "$(hostname)"
r pwd "$(pwd)"
r hello "$(cat /data/hello)"
r write_data "$(ok sh -c 'echo x > /data/new')"
r write_scratch "$(ok sh -c 'echo x > /scratch/new')"
r write_tmp "$(ok sh -c 'echo x > /tmp/new')"
r write_root "$(ok sh -c 'echo x > /new')"
r write_usr "$(ok sh -c 'echo x > /usr/new')"
r write_etc "$(ok sh -c 'echo x > /etc/new')"
r read_shadow "$(ok cat /etc/shadow)"
r read_credential "$(cat /run/secrets/token)"
r credential_owner "$(python3 -c 'import os; s = os.stat("/run/secrets/token"); print(s.st_uid, s.st_gid, "%o" % (s.st_mode & 0o7777))')"
r nofile "$(ulimit -n)"
r capeff "$(grep CapEff /proc/self/status | tr -d '\t ')"
r nnp "$(python3 -c 'import ctypes; print(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))')"
r host_pid_visible "$(ok test -e /proc/` + strconv.Itoa(os.Getpid()) + `/cmdline)"
r host_run_visible "$(ok test -e /run/systemd)"
r connect_host "$(ok python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)' ` + hostPort + `)"
r mount_tmpfs "$(ok mount -t tmpfs none /tmp)"
r kcore "$(ok cat /proc/kcore)"
`
	s := loadSpec(t, uniqueName(t), `
[exec]
command = ["/bin/sh", "-c", '''`+script+`''']
user = "nobody"
hostname = "inside-test"
workdir = "/tmp"
environment = { APP_ENV = "prod" }

[resources]
nofile = 321

[[mount]]
type = "bind"
source = "`+data+`"
target = "/data"
read_only = true

[[mount]]
type = "tmpfs"
target = "/scratch"

[[credential]]
name = "token"
source = "`+secret+`"
target = "/run/secrets/token"
`)
	c, out, l := start(t, s, sandbox.Options{})
	if st := wait(t, c); st != 0 {
		t.Fatalf("workload exit status %d\n%s", st, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			got[k] = v
		}
	}
	want := []struct{ key, value, why string }{
		{"kernel", "4.4.0", "gVisor reports its own kernel version"},
		{"dmesg", "1", "gVisor's boot messages in its dmesg"},
		{"uid", "65534", "user = nobody, resolved in the container's passwd"},
		{"gid", "65534", "nobody's group"},
		{"home", "/nonexistent", "HOME from passwd"},
		{"user", "nobody", "USER from passwd"},
		{"app", "prod", "spec environment"},
		{"container", "nucleus", "default environment"},
		{"path", workload.DefaultPath, "default PATH"},
		{"hostname", "inside-test", "exec.hostname"},
		{"pwd", "/tmp", "exec.workdir"},
		{"hello", "from-host", "[[mount]] bind"},
		{"write_data", "no", "read-only bind mount"},
		{"write_scratch", "yes", "tmpfs mount"},
		{"write_tmp", "yes", "/tmp is a tmpfs"},
		{"write_root", "no", "read-only root"},
		{"write_usr", "no", "host view is read-only"},
		{"write_etc", "no", "host view is read-only"},
		{"read_shadow", "no", "nobody cannot read /etc/shadow"},
		{"read_credential", "s3cret", "a root-owned 0400 credential is readable by the non-root workload"},
		{"credential_owner", "65534 65534 400", "the credential's copy is the workload's own, 0400"},
		{"nofile", "321", "resources.nofile"},
		{"capeff", "CapEff:0000000000000000", "no capabilities kept"},
		{"nnp", "1", "no_new_privs (PR_GET_NO_NEW_PRIVS)"},
		{"host_pid_visible", "no", "host processes are not visible"},
		{"host_run_visible", "no", "host /run is not in the view"},
		{"connect_host", "no", "network = none: the host's loopback is unreachable"},
		{"mount_tmpfs", "no", "no CAP_SYS_ADMIN: mount fails"},
		{"kcore", "no", "/proc/kcore is not readable"},
	}
	for _, w := range want {
		if got[w.key] != w.value {
			t.Errorf("%s = %q, want %q (%s)", w.key, got[w.key], w.value, w.why)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s\nlog:\n%s", out, l)
	}
	if fi, err := os.Stat(secret); err != nil || fi.Mode().Perm() != 0o400 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the credential's source changed: %v %v", fi, err)
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("state directory %s still exists after Wait (err %v)", c.dir, err)
	}
}
