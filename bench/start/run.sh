#!/bin/sh
# Start latency of a fully namespaced /bin/true, in one hyperfine run:
#   nucleus-exec run   (the real command line of a unit; when it builds)
#   sandbox-run        (internal/sandbox alone: no supervisor, no probes)
#   bwrap --unshare-all --die-with-parent --ro-bind / / true
#   crun run / runc run of an equivalent busybox bundle
#   the floors of bench/floor/start: a Go parent starting a Go child (the
#   role of init) in the same six namespaces, which runs /bin/true, and the
#   Go parent starting /bin/true directly; no mount, seccomp or Landlock
# The nucleus spec is true.toml: default isolation (pid, mount, ipc, uts,
# net, cgroup namespaces, read-only host view, seccomp default, Landlock,
# every capability dropped). The OCI bundle has the same namespaces, a
# read-only busybox rootfs and no capabilities.
#
# Usage: bench/start/run.sh [RUNS]   (root; writes results to $OUT, default
# /tmp/nucleus-bench-start)
#
# Where the time goes inside a start, and what a change did to each phase
# (runs of two commits in turns, for a machine too busy for the table
# below to show a change of a few percent): bench/start/phases.sh OLD NEW.
set -eu
# crun 1.8 refuses this machine's hybrid cgroups ("drop all controllers
# from cgroupv2"). The whole benchmark therefore runs in a private mount
# namespace without the cgroup2 mount, where crun and runc see plain v1;
# nucleus and bwrap do not touch cgroups, and nothing on the host changes.
if [ -z "${NUCLEUS_BENCH_NS:-}" ] && mountpoint -q /sys/fs/cgroup/unified; then
	export NUCLEUS_BENCH_NS=1
	exec unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified && exec "$0" "$@"' "$0" "$@"
fi
RUNS=${1:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/nucleus-bench-start}
rm -rf "$OUT"; mkdir -p "$OUT/bin" "$OUT/bundle/rootfs/bin"

export CGO_ENABLED=0
(cd "$ROOT" && go build -trimpath -ldflags '-s -w' -o "$OUT/bin/sandbox-run" ./bench/start/sandbox-run)
(cd "$ROOT" && go build -trimpath -ldflags '-s -w' -o "$OUT/bin/floor-start" ./bench/floor/start)
NUCLEUS=""
if (cd "$ROOT" && go build -trimpath -ldflags '-s -w' -o "$OUT/bin/nucleus-exec" ./cmd/nucleus-exec) 2>"$OUT/nucleus-exec.build.log"; then
	NUCLEUS="$OUT/bin/nucleus-exec run $HERE/true.toml"
	$NUCLEUS || { echo "nucleus-exec run failed; see above" >&2; exit 1; }
else
	echo "note: cmd/nucleus-exec does not build yet ($OUT/nucleus-exec.build.log); measuring sandbox-run only" >&2
fi
"$OUT/bin/sandbox-run" "$HERE/true.toml"
"$OUT/bin/floor-start"
"$OUT/bin/floor-start" direct

# The OCI bundle: busybox-static as /bin/busybox, /bin/true -> busybox.
cp /bin/busybox "$OUT/bundle/rootfs/bin/busybox"
ln -s busybox "$OUT/bundle/rootfs/bin/true"
(cd "$OUT/bundle" && crun spec)
python3 - "$OUT/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["process"]["noNewPrivileges"] = True
c["process"]["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
c["root"]["readonly"] = True
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "mount", "ipc", "uts", "network", "cgroup")]
json.dump(c, open(p, "w"), indent=1)
PY
crun run -b "$OUT/bundle" nucleus-bench-check
runc run -b "$OUT/bundle" nucleus-bench-check

set -- --warmup 20 --runs "$RUNS" -N --export-markdown "$OUT/table.md" --export-json "$OUT/result.json"
[ -n "$NUCLEUS" ] && set -- "$@" -n "nucleus-exec run" "$NUCLEUS"
hyperfine "$@" \
	-n "sandbox-run (internal/sandbox only)" "$OUT/bin/sandbox-run $HERE/true.toml" \
	-n "bwrap" "bwrap --unshare-all --die-with-parent --ro-bind / / true" \
	-n "crun run" "crun run -b $OUT/bundle nucleus-bench-crun" \
	-n "runc run" "runc run -b $OUT/bundle nucleus-bench-runc" \
	-n "floor: Go parent + Go init, 6 namespaces" "$OUT/bin/floor-start" \
	-n "floor: Go parent, /bin/true in 6 namespaces" "$OUT/bin/floor-start direct"

# Means and medians (a busy machine skews means; medians are steadier).
python3 - "$OUT/result.json" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = {k: statistics.median(v["times"]) * 1e3 for k, v in r.items()}
print("| command | mean ms | median ms | min ms |")
print("|---|---|---|---|")
for k, v in r.items():
    print(f"| {k} | {v['mean']*1e3:.2f} | {med[k]:.2f} | {v['min']*1e3:.2f} |")
for n in ("nucleus-exec run", "sandbox-run (internal/sandbox only)"):
    if n in med:
        print(f"\n{n}: median {med[n]/med['bwrap']:.2f}x bwrap, {med[n]/med['crun run']:.2f}x crun, {med[n]/med['runc run']:.2f}x runc")
PY
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

# Counts that do not depend on how busy the machine is (times do): page
# faults and context switches per start (each costs microseconds in a VM),
# and CPU time (task-clock), averaged over 50 starts with perf stat.
counts() { # LABEL COMMAND...
	label=$1
	shift
	perf stat -x, -r 50 -e page-faults,context-switches,task-clock "$@" 2>&1 >/dev/null |
		awk -F, -v c="$label" '$3=="page-faults"{f=$1} $3=="context-switches"{s=$1} $3=="task-clock"{t=$1}
			END {printf "| %s | %.0f | %.0f | %.2f |\n", c, f, s, t}'
}
if command -v perf >/dev/null 2>&1; then
	{
		echo "| command | page faults | context switches | CPU ms (task-clock) |"
		echo "|---|---:|---:|---:|"
		[ -n "$NUCLEUS" ] && counts "nucleus-exec run" $NUCLEUS
		counts "sandbox-run" "$OUT/bin/sandbox-run" "$HERE/true.toml"
		counts "bwrap" bwrap --unshare-all --die-with-parent --ro-bind / / true
		counts "crun run" crun run -b "$OUT/bundle" nucleus-bench-crun
		counts "floor: Go parent + Go init" "$OUT/bin/floor-start"
	} | tee "$OUT/counts.md"
fi
