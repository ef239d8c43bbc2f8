package notify

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a real unixgram socket standing in for systemd's
// NOTIFY_SOCKET.
func listen(t *testing.T, dir string) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, path
}

func read(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	// A hang guard, not a timing assertion: the datagram was sent already.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 8192)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func runDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "nucleus-notify-test.")
	if err != nil {
		t.Fatalf("tests run as root and need /run: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func TestValidateSocket(t *testing.T) {
	run := runDir(t)
	tmp := t.TempDir()
	for _, target := range []string{filepath.Join(tmp, "sock"), filepath.Join(run, "sock")} {
		if err := os.WriteFile(target, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	escape := filepath.Join(run, "escape")
	if err := os.Symlink(filepath.Join(tmp, "sock"), escape); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(tmp, "inside")
	if err := os.Symlink(filepath.Join(run, "sock"), inside); err != nil {
		t.Fatal(err)
	}
	escapeDir := filepath.Join(run, "escapedir")
	if err := os.Symlink(tmp, escapeDir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path    string
		wantErr string
	}{
		{"@/org/freedesktop/systemd1/notify", ""},
		{"/run/systemd/notify", ""},
		{"/var/run/systemd/notify", ""},
		{inside, ""}, // resolves to a file under /run
		{"@", "empty abstract"},
		{"run/systemd/notify", "absolute"},
		{"/tmp/notify", "not under /run/"},
		{"/run/../tmp/notify", ".."},
		{"/run/x\x00y", "NUL"},
		{escape, "not under /run/"},                              // symlink out of /run
		{filepath.Join(escapeDir, "missing"), "not under /run/"}, // directory symlink out of /run
	} {
		err := ValidateSocket(tc.path)
		if tc.wantErr == "" && err != nil {
			t.Errorf("ValidateSocket(%q) = %v, want nil", tc.path, err)
		}
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("ValidateSocket(%q) = %v, want error containing %q", tc.path, err, tc.wantErr)
		}
	}
}

func TestFormat(t *testing.T) {
	long := strings.Repeat("é", 600) // 1200 bytes
	for _, tc := range []struct {
		name    string
		in      []string
		want    string
		wantErr bool
	}{
		{"ready", []string{"READY=1", "STATUS=ready"}, "READY=1\nSTATUS=ready", false},
		{"newline cannot inject an assignment", []string{"STATUS=starting (probe: a\nREADY=1)"}, "STATUS=starting (probe: a READY=1)", false},
		{"control characters and edges", []string{"STATUS=\t x\r\x00y \n"}, "STATUS=x  y", false},
		{"empty value", []string{"STATUS="}, "STATUS=", false},
		{"long value cut on a rune boundary", []string{"STATUS=" + long}, "STATUS=" + strings.Repeat("é", 510) + "…", false},
		{"lower-case key", []string{"status=x"}, "", true},
		{"no equals sign", []string{"READY"}, "", true},
		{"too long overall", []string{"A=" + strings.Repeat("x", 1000), "B=" + strings.Repeat("x", 1000), "C=" + strings.Repeat("x", 1000), "D=" + strings.Repeat("x", 1000), "E=" + strings.Repeat("x", 1000)}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Format(tc.in...)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Format(%q) = %q, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Format(%q) =\n%q\nwant\n%q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSenderSendsDatagramsInOrder(t *testing.T) {
	conn, path := listen(t, t.TempDir())
	s, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sends := [][]string{
		{"EXTEND_TIMEOUT_USEC=91000000", "STATUS=starting (probe tcp 8080 attempt 1: connection refused)"},
		{"READY=1", "STATUS=ready"},
		{"STOPPING=1", "STATUS=stopping"},
	}
	for _, a := range sends {
		if err := s.Notify(a...); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range sends {
		if got, want := read(t, conn), strings.Join(a, "\n"); got != want {
			t.Errorf("datagram %q, want %q", got, want)
		}
	}
}

func TestSenderReconnectsWhenSocketIsRecreated(t *testing.T) {
	dir := t.TempDir()
	conn, path := listen(t, dir)
	s, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, conn); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
	// systemd daemon-reexec: the socket is replaced by a new one.
	_ = conn.Close()
	_ = os.Remove(path)
	conn2, _ := listen(t, dir)
	if err := s.Notify("WATCHDOG=1"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, conn2); got != "WATCHDOG=1" {
		t.Fatalf("got %q", got)
	}
}

func TestDisabledSenderIsANoOp(t *testing.T) {
	var nilSender *Sender
	for _, s := range []*Sender{nilSender, {}} {
		if s.Enabled() {
			t.Error("disabled sender reports Enabled")
		}
		if err := s.Notify("READY=1"); err != nil {
			t.Errorf("Notify on a disabled sender: %v", err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	run := runDir(t)
	conn, good := listen(t, run)
	_, outside := listen(t, t.TempDir())
	for _, tc := range []struct {
		name        string
		env         string // "" = unset
		wantEnabled bool
		wantLog     string
	}{
		{"unset is foreground mode", "", false, ""},
		{"under /run", good, true, ""},
		{"outside /run is refused", outside, false, "refusing NOTIFY_SOCKET"},
		{"missing socket", filepath.Join(run, "missing"), false, "not notifying systemd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("NOTIFY_SOCKET", tc.env)
			}
			t.Setenv("WATCHDOG_USEC", "1000")
			var logged []string
			s := FromEnv(func(f string, a ...any) { logged = append(logged, f) })
			if s.Enabled() != tc.wantEnabled {
				t.Errorf("Enabled() = %v, want %v", s.Enabled(), tc.wantEnabled)
			}
			if tc.wantLog == "" && len(logged) > 0 {
				t.Errorf("unexpected log %q", logged)
			}
			if tc.wantLog != "" && (len(logged) != 1 || !strings.Contains(logged[0], tc.wantLog)) {
				t.Errorf("log %q, want one line containing %q", logged, tc.wantLog)
			}
			for _, v := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC"} {
				if _, ok := os.LookupEnv(v); ok {
					t.Errorf("%s still set: the workload would inherit it", v)
				}
			}
			if tc.wantEnabled {
				if err := s.Notify("READY=1"); err != nil {
					t.Fatal(err)
				}
				if got := read(t, conn); got != "READY=1" {
					t.Errorf("got %q", got)
				}
			}
		})
	}
}

func TestWatchdogFromEnv(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"30000000", "", 30 * time.Second},
		{"30000000", self, 30 * time.Second},
		{"30000000", "1", 0}, // meant for another process
		{"junk", "", 0},
		{"0", "", 0},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		if got := WatchdogFromEnv(); got != tc.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: got %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}
