#!/bin/bash
# demo.sh — `make demo`, the README's main job, end to end:
#
#   1. installs what it needs from apt (a fresh Debian machine, as root),
#   2. builds nucleus and installs it (`make install`) into a real systemd:
#      the host's when PID 1 is systemd, otherwise a throw-away systemd booted
#      in namespaces by the e2e harness (internal/e2e/sdharness), whose
#      writes all land in a tmpfs,
#   3. drops examples/web.toml into /etc/nucleus, runs `systemctl
#      daemon-reload` and `systemctl start web`,
#   4. prints the generated unit, `systemctl status web`, the journal, and
#      an HTTP request answered from inside the container's network
#      namespace (the only place it listens),
#   5. stops web.service and removes everything it installed.
#
# The last line is "demo: web.service reached ready state ..." when all of
# that worked (CI checks for it); any failure exits non-zero with the unit's
# status and journal printed.
#
# Environment: NUCLEUS_DEMO_TARGET=host|harness overrides the choice of
# systemd (harness works everywhere and never touches the host's /etc, /usr).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin LC_ALL=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD="" PLAIN=""; fi
say() { printf '\n%sdemo: %s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() { echo "demo: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and boots or uses systemd)"

# ---- 1. what the demo needs -------------------------------------------------
command -v go >/dev/null || die "Go is not installed: install Go $(awk '/^go /{print $2}' go.mod) into /usr/local/go (https://go.dev/dl/) and re-run"
need=""
for pkg in systemd python3 util-linux tar; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need="$need $pkg"
done
if [ -n "$need" ]; then
	say "installing from apt:$need"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi

TARGET=${NUCLEUS_DEMO_TARGET:-}
if [ -z "$TARGET" ]; then
	if [ -d /run/systemd/system ]; then TARGET=host; else TARGET=harness; fi
fi
case $TARGET in host | harness) ;; *) die "NUCLEUS_DEMO_TARGET must be host or harness" ;; esac
if [ "$TARGET" = host ] && [ ! -d /run/systemd/system ]; then die "PID 1 is not systemd: use NUCLEUS_DEMO_TARGET=harness"; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nucleus-demo.XXXXXX")
PID=""
HOST_INSTALLED=""
# cleanup: undo everything; returns non-zero when something could not be undone.
cleanup() {
	local ok=0
	if [ -n "$PID" ]; then
		say "stopping the throw-away systemd (PID $PID)"
		"$WORK/sdharness" stop "$PID" || ok=1
		PID=""
	fi
	if [ -n "$HOST_INSTALLED" ]; then
		say "removing what the demo installed on this host"
		systemctl stop web.service 2>/dev/null || true
		rm -f /etc/nucleus/web.toml
		make -s uninstall || ok=1
		systemctl daemon-reload || ok=1
		HOST_INSTALLED=""
	fi
	rm -rf "$WORK"
	return $ok
}
trap 'rc=$?; cleanup; exit $rc' EXIT
trap 'exit 130' INT TERM

# IN CMD...: run a command in the target systemd's world.
IN() {
	if [ "$TARGET" = host ]; then
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
			SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
	else
		"$WORK/sdharness" exec "$PID" "$@"
	fi
}

# ---- 2. build and install ---------------------------------------------------
say "building nucleus"
make -s build

if [ "$TARGET" = host ]; then
	if [ -e /usr/lib/systemd/system-generators/nucleus-generator ] && [ ! -e /usr/share/nucleus/install-manifest ]; then
		die "nucleus is already installed on this host (a package?): the demo will not overwrite it; use NUCLEUS_DEMO_TARGET=harness"
	fi
	[ ! -e /etc/nucleus/web.toml ] || die "/etc/nucleus/web.toml exists: the demo will not overwrite it; use NUCLEUS_DEMO_TARGET=harness"
	say "installing into this host's systemd (make install)"
	HOST_INSTALLED=1
	make -s install
else
	say "booting a throw-away systemd in namespaces (PID 1 here is $(cat /proc/1/comm), not systemd)"
	go build -o "$WORK/sdharness" ./internal/e2e/sdharness
	PID=$("$WORK/sdharness" boot)
	echo "systemd is PID 1 of its namespaces; host PID $PID; state: $(IN systemctl is-system-running || true)"
	say "installing into it (make install DESTDIR=stage, then unpacked into the instance)"
	make -s install DESTDIR="$WORK/stage"
	tar -C "$WORK/stage" -cf - . | IN tar -C / --no-overwrite-dir -xf -
fi

# ---- 3. the example ---------------------------------------------------------
say "/etc/nucleus/web.toml (examples/web.toml)"
cat examples/web.toml
IN sh -c 'umask 022; cat > /etc/nucleus/web.toml' < examples/web.toml

say "systemctl daemon-reload (runs nucleus-generator)"
IN systemctl daemon-reload
say "systemctl cat web.service (generated)"
IN systemctl cat web.service

say "systemctl start web (returns once readiness passed: READY=1)"
start_rc=0
IN timeout 60 systemctl start web.service || start_rc=$?

# ---- 4. show it -------------------------------------------------------------
say "systemctl status web"
IN systemctl status --no-pager --lines=0 web.service || true
say "systemctl status nucleus.slice (every container runs in it)"
IN systemctl status --no-pager --lines=0 nucleus.slice || true
say "journalctl -u web"
IN journalctl --no-pager -o short-precise -u web.service || true
[ "$start_rc" = 0 ] || die "systemctl start web exited $start_rc (status and journal above)"

state=$(IN systemctl show -P ActiveState web.service)
sub=$(IN systemctl show -P SubState web.service)
status=$(IN systemctl show -P StatusText web.service)
[ "$state/$sub" = active/running ] || die "web.service is $state/$sub, want active/running"
echo "ActiveState=$state SubState=$sub StatusText=$status"

say "the probe's view: HTTP from inside the container's network namespace"
main=$(IN systemctl show -P MainPID web.service)
# nucleus-exec (MainPID) runs in the host's namespaces; its child is the
# container's init, PID 1 of the container's network namespace.
init=$(IN sh -c "cat /proc/$main/task/*/children" | awk '{print $1; exit}')
[ -n "$init" ] || die "nucleus-exec (PID $main) has no child"
echo "nucleus-exec PID $main, container init PID $init; its network namespace: $(IN readlink /proc/"$init"/ns/net), the host's: $(IN readlink /proc/1/ns/net)"
probe='import sys, urllib.request
try:
    r = urllib.request.urlopen("http://127.0.0.1:8080/", timeout=5)
    print("GET http://127.0.0.1:8080/ ->", r.status, r.reason)
except Exception as e:
    print("GET http://127.0.0.1:8080/ ->", e)
    sys.exit(1)'
echo -n "inside the container's netns:  "
IN nsenter --net --target "$init" python3 -c "$probe" || die "the web server did not answer inside the container"
echo -n "from the host's netns:         "
if IN python3 -c "$probe"; then die "the web server answered outside its network namespace"; fi

# ---- 5. stop ----------------------------------------------------------------
say "systemctl stop web"
IN systemctl stop web.service
echo "after stop: ActiveState=$(IN systemctl show -P ActiveState web.service) Result=$(IN systemctl show -P Result web.service) ExecMainStatus=$(IN systemctl show -P ExecMainStatus web.service)"
IN journalctl --no-pager -o short-precise -u web.service -n 5 || true

trap - EXIT
cleanup || die "could not clean up (see above)"
echo "demo: web.service reached ready state (READY=1, StatusText=$status), answered HTTP inside its container, stopped and cleaned up"
