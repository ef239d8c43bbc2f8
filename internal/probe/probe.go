// Package probe owns probe timing and one probe attempt: Check runs a single
// exec, tcp or http check against a Target; Ready and Health are the
// readiness and health loops, which report through a Notifier in sd_notify's
// own terms (READY=1, STATUS=, EXTEND_TIMEOUT_USEC=, WATCHDOG=1,
// WATCHDOG=trigger).
//
// It must not know how a Target isolates anything: the native sandbox and the
// gVisor runtime both implement Target. It does not format or send datagrams
// itself (package notify does) and never restarts anything: systemd acts on
// what it reports.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nucleus-containers/nucleus/internal/spec"
)

// Target is where probes run: the container's network namespace and its
// processes. *sandbox.Container implements it.
type Target interface {
	// Dial opens a connection from inside the container's network
	// namespace.
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	// Exec runs argv inside the container with the workload's identity and
	// restrictions, killing it when ctx ends.
	Exec(ctx context.Context, argv []string) (exitCode int, output []byte, err error)
}

// maxBody is how much of an HTTP response body is read (and discarded): a
// probe must not be made to download a large page every interval.
const maxBody = 4 << 10

// maxErrLine bounds the output line quoted in an exec probe's error.
const maxErrLine = 200

// Check runs one attempt of p against t, bounded by p.Timeout (and ctx). It
// returns nil when the check passes and an error saying why not otherwise.
// A notify probe is not something Check can run; it returns an error.
func Check(ctx context.Context, t Target, p spec.Probe) error {
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
	}
	switch p.Kind {
	case spec.ProbeTCP:
		return checkTCP(ctx, t, p.Port)
	case spec.ProbeHTTP:
		return checkHTTP(ctx, t, p.URL)
	case spec.ProbeExec:
		return checkExec(ctx, t, p.Command)
	}
	return fmt.Errorf("probe kind %q cannot be checked", p.Kind)
}

func checkTCP(ctx context.Context, t Target, port uint16) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	conn, err := t.Dial(ctx, "tcp", addr)
	if err != nil {
		return timeoutErr(ctx, fmt.Errorf("connect %s: %w", addr, bareNetError(err)))
	}
	_ = conn.Close()
	return nil
}

// bareNetError strips the "dial tcp ADDR: connect:" wrapping of a dial
// error, which would only repeat what the caller's message says.
func bareNetError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		err = sys.Err
	}
	return err
}

// checkHTTP GETs url with connections opened by t.Dial. Redirects are not
// followed at all: a 3xx answer is a success in itself (200–399), and not
// following means a probe can never be sent off the loopback host.
func checkHTTP(ctx context.Context, t Target, rawURL string) error {
	client := &http.Client{
		Transport: &http.Transport{
			DialContext:       t.Dial,
			DisableKeepAlives: true,
			// Proxy is nil: $HTTP_PROXY must not reroute a loopback probe.
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	req.Header.Set("User-Agent", "nucleus-probe")
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // it would quote the method and URL again
		}
		return timeoutErr(ctx, fmt.Errorf("GET %s: %w", rawURL, bareNetError(err)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 399 {
		return fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	return nil
}

func checkExec(ctx context.Context, t Target, argv []string) error {
	code, out, err := t.Exec(ctx, argv)
	if err != nil {
		return timeoutErr(ctx, fmt.Errorf("exec %s: %w", argv[0], err))
	}
	if code != 0 {
		if ctx.Err() != nil {
			return timeoutErr(ctx, fmt.Errorf("exec %s: killed (exit status %d)", argv[0], code))
		}
		msg := fmt.Sprintf("exec %s: exit status %d", argv[0], code)
		if line := lastLine(out); line != "" {
			msg += ": " + line
		}
		return errors.New(msg)
	}
	return nil
}

// timeoutErr says "timed out after X" when the attempt's deadline is what
// ended it, which is clearer in STATUS= than "context deadline exceeded".
func timeoutErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out: %w", err)
	}
	return err
}

// lastLine returns the last non-blank line of out, trimmed and cut to
// maxErrLine bytes: usually the error message a failing check printed.
func lastLine(out []byte) string {
	out = bytes.TrimRight(out, " \t\r\n")
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	line := strings.TrimSpace(strings.ToValidUTF8(string(out), "?"))
	if len(line) > maxErrLine {
		cut := maxErrLine
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		line = line[:cut] + "…"
	}
	return line
}

// sinceString formats a duration for STATUS= lines: milliseconds below a
// second, otherwise Go's duration syntax rounded to the millisecond.
func sinceString(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return d.Round(time.Millisecond).String()
}
