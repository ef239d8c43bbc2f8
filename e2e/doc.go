// Package e2e is nucleus's end-to-end suite: each test boots a throw-away
// real systemd (internal/e2e/harness), installs the freshly built
// nucleus-generator and nucleus-exec into it, drops specs into /etc/nucleus
// and checks what systemd itself reports (systemctl show, journalctl).
//
// Issue 3's cases, in order:
//
//	TestStartAndJournal        1  spec + daemon-reload + start → running, stdout in the journal
//	TestBadSpecBesideGood      2  the good one starts; the bad one's file:line is in journalctl -b
//	TestWantedByAndOrdering    3  wanted_by = multi-user.target; after/requires order on readiness
//	TestRestartPolicies        4  on-failure restarts; "no" fails with Result=exit-code
//	TestReadiness              5  the port answers when start returns; never-ready fails the start
//	TestHealthWatchdog         6  unhealthy → watchdog → restart, status names the probe; healthy stays
//	TestNotifyRelay            7  the workload's READY=1 and STATUS= over its own NOTIFY_SOCKET
//	TestStop                   8  stop_signal; stop_timeout then SIGKILL; nothing left
//	TestResources              9  MemoryMax OOM-kills, TasksMax fails fork (hybrid cgroups)
//	TestSpecDriftRefused      10  an edit without daemon-reload is refused with the message
//	TestKillExecLeavesNothing 11  SIGKILL of nucleus-exec leaves no workload process
//
// and beyond it: isolation, drop-ins, credentials, signal forwarding and
// the gVisor runtime under systemd (more_test.go).
//
// The tests carry the build tag e2e: run them with `make e2e`, i.e.
// `go test -count=1 -v -tags e2e ./e2e/...`, as root. Waits are bounded
// polls on systemd's state; nothing asserts on durations. This package
// owns only tests; it must not be imported.
package e2e
