package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// busHelperEnv makes a process running this package's code (a test binary,
// sdharness) act as the bus connector below and exit.
const busHelperEnv = "NUCLEUS_E2E_BUS_CONNECT"

func init() {
	if path := os.Getenv(busHelperEnv); path != "" {
		os.Exit(busConnector(path))
	}
}

// busConnector runs inside the instance's pid namespace: it connects to
// path and hands the connected socket back over fd 3. systemd refuses a
// private-bus client whose peer credentials carry no PID it can see, so the
// connect must happen in its pid namespace; the socket keeps those
// credentials wherever it goes afterwards.
func busConnector(path string) int {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err == nil {
		err = syscall.Connect(fd, &syscall.SockaddrUnix{Name: path})
	}
	if err == nil {
		err = syscall.Sendmsg(3, []byte{0}, syscall.UnixRights(fd), nil, 0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bus connector:", err)
		return 1
	}
	return 0
}

// dialPrivate returns a connection to the instance's /run/systemd/private,
// made from inside its pid namespace.
func (in *Instance) dialPrivate(ctx context.Context) (net.Conn, error) {
	if !in.ours() {
		return nil, errors.New("the instance is not running")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(pair[0]), "bus-receiver"), os.NewFile(uintptr(pair[1]), "bus-sender")
	defer ours.Close()
	cmd := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(in.st.PID), "--pid", "--", self)
	cmd.Env = []string{busHelperEnv + "=" + fmt.Sprintf("/proc/%d/root/run/systemd/private", in.st.PID)}
	cmd.ExtraFiles = []*os.File{theirs}
	out, err := cmd.CombinedOutput()
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("connect in the instance: %w: %s", err, out)
	}
	buf, oob := make([]byte, 1), make([]byte, syscall.CmsgSpace(4))
	_, oobn, _, _, err := syscall.Recvmsg(int(ours.Fd()), buf, oob, 0)
	if err != nil {
		return nil, fmt.Errorf("receive bus socket: %w", err)
	}
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive bus socket: no descriptor (%v)", err)
	}
	fds, err := syscall.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("receive bus socket: %v", err)
	}
	f := os.NewFile(uintptr(fds[0]), "systemd-private")
	defer f.Close()
	return net.FileConn(f)
}

// Bus connects to the instance's systemd the way systemctl does when no bus
// daemon runs: directly on its private socket, /run/systemd/private. The
// caller closes it.
func (in *Instance) Bus(ctx context.Context) (*sddbus.Conn, error) {
	conn, err := sddbus.NewConnection(func() (*godbus.Conn, error) {
		sock, err := in.dialPrivate(ctx)
		if err != nil {
			return nil, err
		}
		c, err := godbus.NewConn(sock, godbus.WithContext(ctx))
		if err != nil {
			sock.Close()
			return nil, err
		}
		// EXTERNAL with the numeric uid: no user database lookup.
		if err := c.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("bus: %w", err)
	}
	return conn, nil
}

// StartUnit starts unit over D-Bus and waits for its job to finish, like
// `systemctl start`; it returns the job result ("done", "failed",
// "timeout", ...).
func (in *Instance) StartUnit(ctx context.Context, unit string) (string, error) {
	conn, err := in.Bus(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ch := make(chan string, 1)
	if _, err := conn.StartUnitContext(ctx, unit, "replace", ch); err != nil {
		return "", fmt.Errorf("start %s: %w", unit, err)
	}
	select {
	case res := <-ch:
		return res, nil
	case <-ctx.Done():
		return "", fmt.Errorf("start %s: %w", unit, ctx.Err())
	}
}
