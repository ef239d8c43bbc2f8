package probetest

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/nucleus-containers/nucleus/internal/notify"
)

// NotifySocket stands in for systemd's NOTIFY_SOCKET: a real unixgram socket
// in a temporary directory, and a notify.Sender connected to it. Both are
// closed when the test ends.
func NotifySocket(t *testing.T) (*net.UnixConn, *notify.Sender) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sender, err := notify.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	return conn, sender
}
