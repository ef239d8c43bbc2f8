// Package notifytest is a workload's side of NOTIFY_SOCKET for tests: it
// sends datagrams the way systemd-notify does. It imports nothing of
// nucleus, so package notify's own tests can use it.
package notifytest

import (
	"io"
	"os"
	"syscall"
)

// SendWithBarrier sends each message as one datagram to the unixgram socket
// at path, from this process, then a BARRIER=1 carrying the write end of a
// pipe, as systemd-notify does, and returns once the receiver has closed its
// copy of that descriptor: every datagram before the barrier was handled.
func SendWithBarrier(path string, msgs ...string) error {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	to := &syscall.SockaddrUnix{Name: path}
	for _, msg := range msgs {
		if err := syscall.Sendmsg(fd, []byte(msg), nil, to, 0); err != nil {
			return err
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := syscall.Sendmsg(fd, []byte("BARRIER=1"), syscall.UnixRights(int(w.Fd())), to, 0); err != nil {
		w.Close()
		return err
	}
	w.Close()
	// EOF once the receiver closed its copy of w.
	_, err = io.Copy(io.Discard, r)
	return err
}
