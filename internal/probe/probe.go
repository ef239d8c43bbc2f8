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
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
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

// checkHTTP GETs rawURL over a connection opened by t.Dial, with a minimal
// HTTP/1.1 client: one request, "Connection: close", the status line
// parsed, at most maxBody bytes of the rest read and discarded. (net/http's
// client costs megabytes of memory per probe loop for nothing a probe
// needs.) Redirects are not followed at all: a 3xx answer is a success in
// itself (200–399), and not following means a probe can never be sent off
// the loopback host.
func checkHTTP(ctx context.Context, t Target, rawURL string) error {
	fail := func(err error) error { return timeoutErr(ctx, fmt.Errorf("GET %s: %w", rawURL, bareNetError(err))) }
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("GET %s: not an http://HOST[:PORT]/ URL", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := t.Dial(ctx, "tcp", addr)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUser-Agent: nucleus-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return fail(err)
	}
	r := bufio.NewReaderSize(io.LimitReader(conn, maxBody), 512)
	line, err := r.ReadString('\n')
	if err != nil {
		return fail(err)
	}
	// "HTTP/1.1 200 OK"
	proto, status, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	code, convErr := strconv.Atoi(strings.SplitN(status, " ", 2)[0])
	if !strings.HasPrefix(proto, "HTTP/1.") || convErr != nil || code < 100 || code > 999 {
		return fmt.Errorf("GET %s: malformed status line %q", rawURL, lastLine([]byte(line)))
	}
	_, _ = io.Copy(io.Discard, r)
	if code < 200 || code > 399 {
		return fmt.Errorf("GET %s: %s", rawURL, lastLine([]byte(status)))
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
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
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
