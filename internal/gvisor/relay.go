package gvisor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// relayArg is the hidden first argument that turns nucleus-exec into the
// in-sandbox relay (see MaybeRelay).
const relayArg = "__nucleus-gvisor-relay"

// Relay handshake: the first line the relay writes on stdout.
const (
	relayOK  = "ok"
	relayErr = "error "
)

// MaybeRelay runs the relay and exits when the process was started as one;
// otherwise it returns at once. nucleus-exec calls it first thing in main.
//
// With network = "none" the workload's loopback lives in gVisor's own
// network stack, which no host socket can reach. Dial therefore starts this
// binary inside the sandbox (bind-mounted read-only at /run/nucleus/relay,
// via `runsc exec`): it connects to the address from inside, answers one
// handshake line, then copies stdin to the connection and the connection
// to stdout until either side ends.
func MaybeRelay() {
	if len(os.Args) < 2 || os.Args[1] != relayArg {
		return
	}
	os.Exit(runRelay(os.Args[2:]))
}

func runRelay(args []string) int {
	if len(args) != 3 {
		fmt.Fprintf(os.Stdout, "%susage: %s NETWORK ADDR TIMEOUT\n", relayErr, relayArg)
		return 2
	}
	timeout, err := time.ParseDuration(args[2])
	if err != nil {
		fmt.Fprintf(os.Stdout, "%sbad timeout: %v\n", relayErr, err)
		return 2
	}
	conn, err := net.DialTimeout(args[0], args[1], timeout)
	if err != nil {
		fmt.Fprintf(os.Stdout, "%s%s\n", relayErr, strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	if _, err := fmt.Fprintln(os.Stdout, relayOK); err != nil {
		return 1
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, os.Stdin); done <- struct{}{} }()
	go func() { _, _ = io.Copy(os.Stdout, conn); done <- struct{}{} }()
	<-done
	_ = conn.Close()
	return 0
}

// relayConn is a net.Conn over the pipes of one `runsc exec` relay.
type relayConn struct {
	r       *os.File // relay's stdout
	w       *os.File // relay's stdin
	cmd     *exec.Cmd
	network string
	addr    string
	once    sync.Once
}

func (c *relayConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *relayConn) Write(b []byte) (int, error) { return c.w.Write(b) }

// Close closes both pipes: the relay sees EOF (or EPIPE) and exits, and
// runsc exec with it; it is reaped in the background.
func (c *relayConn) Close() error {
	c.once.Do(func() {
		_ = c.w.Close()
		_ = c.r.Close()
		go func() { _ = c.cmd.Wait() }()
	})
	return nil
}

func (c *relayConn) LocalAddr() net.Addr  { return relayAddr{"gvisor-relay", "sandbox"} }
func (c *relayConn) RemoteAddr() net.Addr { return relayAddr{c.network, c.addr} }

func (c *relayConn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *relayConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *relayConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

type relayAddr struct{ network, addr string }

func (a relayAddr) Network() string { return a.network }
func (a relayAddr) String() string  { return a.addr }

// readLine reads one '\n'-terminated line byte by byte, so that nothing
// after it is consumed (the connection's data follows the handshake).
func readLine(r io.Reader, max int) (string, error) {
	var b []byte
	one := make([]byte, 1)
	for len(b) < max {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				return string(b), nil
			}
			b = append(b, one[0])
		}
		if err != nil {
			return string(b), err
		}
	}
	return string(b), fmt.Errorf("handshake line longer than %d bytes", max)
}
