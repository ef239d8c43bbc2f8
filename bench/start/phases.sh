#!/bin/sh
# Where a start's time goes, phase by phase, for two commits: sandbox-run
# of each is built with -tags sandboxtrace (internal/sandbox/trace_on.go:
# Start and init note when each phase ends) and the two are run in turns,
# so that whatever else loads the machine slows both alike. Prints each
# phase's median duration (end of the previous phase to its end; the init
# and spawner phases follow "start: init forked") and the median time from
# Start's call to the end of the phase, for OLD and NEW side by side. On a
# busy 2-CPU VM, where whole-start timings move by milliseconds, medians
# over 200 runs separate differences of ~10-20 µs.
#
# Both commits must have the trace points (this script's commit on).
# Usage: bench/start/phases.sh OLD NEW [RUNS] [SPEC]   (root)
set -eu
OLD=$1
NEW=$2
RUNS=${3:-200}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SPEC=${4:-$HERE/true.toml}
W=$(mktemp -d)
cleanup() {
	for v in old new; do
		[ -d "$W/$v" ] && git -C "$ROOT" worktree remove --force "$W/$v"
	done
	rm -rf "$W"
}
trap cleanup EXIT
for v in old new; do
	rev=$OLD
	[ "$v" = new ] && rev=$NEW
	git -C "$ROOT" worktree add -q --detach "$W/$v" "$rev"
	(cd "$W/$v" && CGO_ENABLED=0 go build -tags sandboxtrace -trimpath -o "$W/$v.bin" ./bench/start/sandbox-run)
done
i=0
while [ "$i" -lt "$RUNS" ]; do
	"$W/old.bin" "$SPEC" 2>>"$W/old.log" >/dev/null || true
	"$W/new.bin" "$SPEC" 2>>"$W/new.log" >/dev/null || true
	i=$((i + 1))
done
python3 - "$W/old.log" "$W/new.log" "$OLD" "$NEW" <<'PY'
import statistics, sys

def runs(path):
    # One run: the init lines, then the start lines (written last).
    out, cur = [], []
    for line in open(path):
        f = line.rstrip("\n").split(" ", 2)
        if len(f) != 3 or not f[1].isdigit():
            continue
        cur.append((int(f[1]), f[2]))
        if f[2] == "start: init collected":
            out.append(sorted(cur))
            cur = []
    return out

def phases(path):
    order, dur, at = [], {}, {}
    for r in runs(path):
        t0, prev = r[0][0], r[0][0]
        for t, p in r:
            if p not in dur:
                order.append(p)
                dur[p], at[p] = [], []
            dur[p].append(t - prev)
            at[p].append(t - t0)
            prev = t
    return order, dur, at

o_order, o_dur, o_at = phases(sys.argv[1])
n_order, n_dur, n_at = phases(sys.argv[2])
order = o_order + [p for p in n_order if p not in o_order]
med = lambda d, p: statistics.median(d[p]) if p in d else float("nan")
print(f"| phase (ends) | {sys.argv[3]} µs | {sys.argv[4]} µs | {sys.argv[3]} at | {sys.argv[4]} at |")
print("|---|---:|---:|---:|---:|")
for p in order:
    print(f"| {p} | {med(o_dur, p):.0f} | {med(n_dur, p):.0f} | {med(o_at, p):.0f} | {med(n_at, p):.0f} |")
print(f"\n{len(runs(sys.argv[1]))} and {len(runs(sys.argv[2]))} runs; load average {open('/proc/loadavg').read().split()[0]}")
PY
