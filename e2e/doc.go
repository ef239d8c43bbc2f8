// Package e2e is nucleus's end-to-end suite: each test boots a throw-away
// real systemd (internal/e2e/harness), installs the freshly built
// nucleus-generator and nucleus-exec into it, drops specs into /etc/nucleus
// and checks what systemd itself reports (systemctl show, journalctl).
//
// The tests carry the build tag e2e: run them with `make e2e`, i.e.
// `go test -count=1 -v -tags e2e ./e2e/...`, as root. This package owns
// only tests; it must not be imported.
package e2e
