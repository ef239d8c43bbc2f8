package spec

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"500ms": 500 * time.Millisecond, "10s": 10 * time.Second, "1m30s": 90 * time.Second, "0": 0,
		"1min 30s": 90 * time.Second, "5min": 5 * time.Minute, "2h": 2 * time.Hour, "1d": 24 * time.Hour,
		"1w": 7 * 24 * time.Hour, "100 msec": 100 * time.Millisecond, "1.5s": 1500 * time.Millisecond,
		"3 seconds": 3 * time.Second, "10us": 10 * time.Microsecond,
		// Every unit spelling of systemd.time(7) that systemdUnit knows.
		"1usec": time.Microsecond, "1µs": time.Microsecond, "1sec": time.Second, "1second": time.Second,
		"1m": time.Minute, "1minute": time.Minute, "2minutes": 2 * time.Minute, "1hr": time.Hour,
		"1hour": time.Hour, "2hours": 2 * time.Hour, "1day": 24 * time.Hour, "2days": 48 * time.Hour,
		"1week": 7 * 24 * time.Hour, "2weeks": 14 * 24 * time.Hour,
	} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1s", "-0s", "10", "10 secs", "s", "1x", "infinity", "1.2.3s", "9999999999999999h"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "4096": 4096, "512K": 512 << 10, "64M": 64 << 20, "1G": 1 << 30, "2T": 2 << 40, "1E": 1 << 60,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "64MB", "64m", "1.5G", "-1", "+1", " 1", "8E", "99999999999999999999"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"SIGTERM": syscall.SIGTERM, "TERM": syscall.SIGTERM, "sigint": syscall.SIGINT, "KILL": syscall.SIGKILL, "SIGRTMIN": 0,
	} {
		got, err := parseSignal(in)
		if want == 0 {
			if err == nil {
				t.Errorf("parseSignal(%q) = %v, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestCapabilities(t *testing.T) {
	for in, want := range map[string]string{
		"CAP_CHOWN": "CAP_CHOWN", "chown": "CAP_CHOWN", "cap_net_raw": "CAP_NET_RAW", "Checkpoint_Restore": "CAP_CHECKPOINT_RESTORE",
	} {
		if got, err := canonicalCapability(in); err != nil || got != want {
			t.Errorf("canonicalCapability(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "CAP_", "CAP_ALL", "NET BIND"} {
		if got, err := canonicalCapability(in); err == nil {
			t.Errorf("canonicalCapability(%q) = %q, want an error", in, got)
		}
	}
	// Numbers follow include/uapi/linux/capability.h.
	for name, want := range map[string]int{"CAP_CHOWN": 0, "CAP_NET_BIND_SERVICE": 10, "CAP_SYS_ADMIN": 21, "CAP_CHECKPOINT_RESTORE": 40} {
		if got, ok := CapabilityNumber(name); !ok || got != want {
			t.Errorf("CapabilityNumber(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	if _, ok := CapabilityNumber("CHOWN"); ok {
		t.Error("CapabilityNumber accepts a name that is not canonical")
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/b.c", "/a b/c"} {
		if err := checkPath(p); err != nil {
			t.Errorf("checkPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "a", "./a", "/a/", "/a//b", "/a/./b", "/a/../b", "/..", "/a\nb", "/a\x00b"} {
		if err := checkPath(p); err == nil {
			t.Errorf("checkPath(%q) accepted", p)
		}
	}
}

func TestResolveUnit(t *testing.T) {
	for in, want := range map[string]string{
		"db": "db.service", "db.v2": "db.v2.service", "db.service": "db.service", "multi-user.target": "multi-user.target",
		"getty@tty1.service": "getty@tty1.service", "x.socket": "x.socket", "a:b": "a:b.service", `x\x2dy.mount`: `x\x2dy.mount`,
	} {
		if got, err := resolveUnit(in); err != nil || got != want {
			t.Errorf("resolveUnit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a b", "a/b", "../x", ".service", "getty@.service", "@x.service", "a@b@c", "a\nb", "ü"} {
		if got, err := resolveUnit(in); err == nil {
			t.Errorf("resolveUnit(%q) = %q, want an error", in, got)
		}
	}
}

func TestSmallCheckers(t *testing.T) {
	accept := func(what string, f func(string) error, ins ...string) {
		for _, in := range ins {
			if err := f(in); err != nil {
				t.Errorf("%s(%q) = %v", what, in, err)
			}
		}
	}
	refuse := func(what string, f func(string) error, ins ...string) {
		for _, in := range ins {
			if err := f(in); err == nil {
				t.Errorf("%s(%q) accepted", what, in)
			}
		}
	}
	accept("checkEnvName", checkEnvName, "A", "_x", "APP_ENV2", "ld_preload_not_really")
	refuse("checkEnvName", checkEnvName, "", "1A", "A-B", "A B", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_BIND_NOW", "NOTIFY_SOCKET")
	accept("checkHostname", checkHostname, "web", "web-1", "a.b.c", "0", "A1")
	refuse("checkHostname", checkHostname, "", "-a", "a-", "a_b", "a..b", "a.", "ü", string(make([]byte, 65)))
	accept("checkUser", checkUser, "nobody", "www-data", "_svc", "0", "1000", "1000:1000", "4294967294", "machine$")
	refuse("checkUser", checkUser, "", "1000:", ":1", "a:b", "4294967295", "-x", "a b", "1a$b")
	accept("checkGroup", checkGroup, "wheel", "0", "100")
	refuse("checkGroup", checkGroup, "", "bad group", "4294967295")
	accept("checkCredentialName", checkCredentialName, "db-password", "tls.key", "a_b")
	refuse("checkCredentialName", checkCredentialName, "", ".", "..", "a/b", "a:b", "a b", "a\tb")
	accept("checkProbeURL", checkProbeURL, "http://127.0.0.1:80/", "http://localhost:8080/healthz?x=1", "http://[::1]:1/", "http://127.0.0.1:65535")
	refuse("checkProbeURL", checkProbeURL, "https://127.0.0.1:80/", "http://127.0.0.1/", "http://127.0.0.1:0/", "http://127.0.0.1:65536/",
		"http://10.0.0.1:80/", "http://u:p@127.0.0.1:80/", "http://127.0.0.1:80/#x", "http://::1:80/", "127.0.0.1:80", "")
	accept("checkSyscall", checkSyscall, "read", "kcmp", "syslog")
	refuse("checkSyscall", checkSyscall, "", "READ", "not_a_syscall", "ptrace", "clone3", "io_uring_setup")
}

func TestTableNames(t *testing.T) {
	for _, k := range append(append([]string(nil), topKeys...), "other", "") {
		if got := tableName(k); got != "["+k+"]" {
			t.Errorf("tableName(%q) = %q", k, got)
		}
	}
	for k, want := range map[string]string{
		"command":   "[exec]",
		"read_only": "[isolation] and [[mount]]",
		"interval":  "[restart] and [readiness] and [health]",
		"name":      "[[credential]]",
		"nonsense":  "",
	} {
		if got := strings.Join(tablesWithKey(k), " and "); got != want {
			t.Errorf("tablesWithKey(%q) = %q, want %q", k, got, want)
		}
	}
}
