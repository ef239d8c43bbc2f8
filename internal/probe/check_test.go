package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// hostTarget runs probes in the test's own namespaces: Check's logic is
// the same whatever isolates the Target. It records every address dialed,
// so tests can see that HTTP probes go through Target.Dial.
type hostTarget struct {
	mu     sync.Mutex
	dialed []string
}

func (h *hostTarget) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	h.mu.Lock()
	h.dialed = append(h.dialed, addr)
	h.mu.Unlock()
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (h *hostTarget) Exec(ctx context.Context, argv []string) (int, []byte, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out, nil
	}
	if err != nil {
		return -1, out, err
	}
	return 0, out, nil
}

func closedPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return uint16(port)
}

func TestCheck(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	openPort := uint16(listener.Addr().(*net.TCPAddr).Port)
	closed := closedPort(t)

	var offHost atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { offHost.Add(1) }))
	defer elsewhere.Close()
	hang := make(chan struct{})
	defer close(hang)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		case "/redirect":
			http.Redirect(w, r, elsewhere.URL+"/", http.StatusFound)
		case "/down":
			http.Error(w, "down", http.StatusServiceUnavailable)
		case "/hang":
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	// A server that does not speak HTTP.
	garbage, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-OpenSSH\r\n"))
			c.Close()
		}
	}()
	garbageURL := "http://" + garbage.Addr().String() + "/"

	for _, tc := range []struct {
		name    string
		probe   spec.Probe
		wantErr string // "" = passes
	}{
		{"tcp open", spec.Probe{Kind: spec.ProbeTCP, Port: openPort}, ""},
		{"tcp closed", spec.Probe{Kind: spec.ProbeTCP, Port: closed}, "connect 127.0.0.1:" + strconv.Itoa(int(closed)) + ": connection refused"},
		{"http 200", spec.Probe{Kind: spec.ProbeHTTP, URL: srv.URL + "/ok"}, ""},
		{"http big body", spec.Probe{Kind: spec.ProbeHTTP, URL: srv.URL + "/big"}, ""},
		{"http 302 is success, not followed", spec.Probe{Kind: spec.ProbeHTTP, URL: srv.URL + "/redirect"}, ""},
		{"http 404", spec.Probe{Kind: spec.ProbeHTTP, URL: srv.URL + "/missing"}, "404 Not Found"},
		{"http 503", spec.Probe{Kind: spec.ProbeHTTP, URL: srv.URL + "/down"}, "GET " + srv.URL + "/down: 503 Service Unavailable"},
		{"http hangs past timeout", spec.Probe{Kind: spec.ProbeHTTP, URL: srv.URL + "/hang", Timeout: 50 * time.Millisecond}, "timed out"},
		{"http server speaking something else", spec.Probe{Kind: spec.ProbeHTTP, URL: garbageURL}, "GET " + garbageURL + `: malformed status line "SSH-2.0-OpenSSH"`},
		{"https is not spoken", spec.Probe{Kind: spec.ProbeHTTP, URL: "https://127.0.0.1/"}, "not an http://"},
		{"http nothing listening", spec.Probe{Kind: spec.ProbeHTTP, URL: fmt.Sprintf("http://127.0.0.1:%d/", closed)}, fmt.Sprintf("GET http://127.0.0.1:%d/: connection refused", closed)},
		{"exec exit 0", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/sh", "-c", "echo fine"}}, ""},
		{"exec exit 3 quotes last output line", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/sh", "-c", "echo starting; echo 'db: connection refused' >&2; echo; exit 3"}}, "exec /bin/sh: exit status 3: db: connection refused"},
		{"exec silent failure", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/false"}}, "exec /bin/false: exit status 1"},
		{"exec not found", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/nonexistent/check"}}, "exec /nonexistent/check: "},
		{"exec killed at timeout", spec.Probe{Kind: spec.ProbeExec, Command: []string{"/bin/sleep", "60"}, Timeout: 50 * time.Millisecond}, "timed out"},
		{"notify cannot be checked", spec.Probe{Kind: spec.ProbeNotify}, "cannot be checked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := &hostTarget{}
			if tc.probe.Timeout == 0 {
				tc.probe.Timeout = 10 * time.Second
			}
			err := Check(context.Background(), target, tc.probe)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Check = %v, want success", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Check passed, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Check = %q, want it to contain %q", err, tc.wantErr)
			}
			if (tc.probe.Kind == spec.ProbeHTTP || tc.probe.Kind == spec.ProbeTCP) && !strings.HasPrefix(tc.probe.URL, "https:") {
				if len(target.dialed) == 0 {
					t.Errorf("%s probe did not dial through Target.Dial", tc.probe.Kind)
				}
			}
		})
	}
	if n := offHost.Load(); n != 0 {
		t.Errorf("a redirect was followed: the other server got %d requests", n)
	}
}

func TestLastLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"one\n", "one"},
		{"first\nsecond  \r\n\n", "second"},
		{"  padded \t", "padded"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "…"},
		{"bad \xff byte", "bad ? byte"},
	} {
		if got := lastLine([]byte(tc.in)); got != tc.want {
			t.Errorf("lastLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
