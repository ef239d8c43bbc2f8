#!/bin/sh
# Start latency of /bin/true under gVisor, in one hyperfine run:
#   nucleus-exec run true.toml   (runtime = "gvisor": the real command line
#                                 of a unit: spec load, bundle, runsc run,
#                                 start hook, wait, cleanup)
#   runsc do true                (runsc's own quickest way to run a command)
#   runsc run (bare bundle)      (what nucleus-exec runs, without nucleus:
#                                 the floor of the bundle approach)
# All with runsc's default platform (NUCLEUS_RUNSC_PLATFORM / PLATFORM
# below selects another for all three) and --network=none (runsc's default
# sandbox network refuses to start in the host's network namespace).
#
# Usage: bench/gvisor/run.sh [RUNS]   (root; results in $OUT, default
# /tmp/nucleus-bench-gvisor)
set -eu
RUNS=${1:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/nucleus-bench-gvisor}
PLATFORM=${NUCLEUS_RUNSC_PLATFORM:-}
PFLAG=""
[ -n "$PLATFORM" ] && PFLAG="--platform=$PLATFORM"
command -v runsc >/dev/null || { echo "runsc is not installed: apt-get install runsc" >&2; exit 1; }
rm -rf "$OUT"; mkdir -p "$OUT/bin" "$OUT/runtime" "$OUT/bundle/rootfs"

export CGO_ENABLED=0
(cd "$ROOT" && go build -trimpath -ldflags '-s -w' -o "$OUT/bin/nucleus-exec" ./cmd/nucleus-exec)
# A private RUNTIME_DIRECTORY, as systemd would give the unit.
NUCLEUS="env RUNTIME_DIRECTORY=$OUT/runtime $OUT/bin/nucleus-exec run $HERE/true.toml"
$NUCLEUS || { echo "nucleus-exec run failed; see above" >&2; exit 1; }

# The bare bundle: the same host view nucleus builds (ro binds of /usr and
# /etc, merged-/usr symlinks), no capabilities, --ignore-cgroups.
for l in bin lib lib64 sbin; do [ -L /$l ] && ln -s "$(readlink /$l)" "$OUT/bundle/rootfs/$l"; done
mkdir -p "$OUT/bundle/rootfs/usr" "$OUT/bundle/rootfs/etc"
(cd "$OUT/bundle" && runsc spec -- /bin/true)
python3 - "$OUT/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["noNewPrivileges"] = True
c["process"]["capabilities"] = {}
c["root"] = {"path": "rootfs", "readonly": True}
c["mounts"] += [{"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro"]} for d in ("/usr", "/etc")]
c["mounts"] += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}]
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open(p, "w"), indent=1)
PY
BARE="runsc --root=$OUT/runsc-root --network=none --ignore-cgroups $PFLAG run --bundle $OUT/bundle nucleus-bench-bare"
DO="runsc --network=none $PFLAG do true"
$BARE
$DO

hyperfine --warmup 3 --runs "$RUNS" -N --export-markdown "$OUT/table.md" --export-json "$OUT/result.json" \
	-n "nucleus-exec run (gvisor)" "$NUCLEUS" \
	-n "runsc do true" "$DO" \
	-n "runsc run (bare bundle)" "$BARE"

# Means and medians (a busy machine skews means; medians are steadier).
python3 - "$OUT/result.json" <<'PY'
import json, statistics, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
med = {k: statistics.median(v["times"]) * 1e3 for k, v in r.items()}
print("| command | mean ms | median ms | min ms |")
print("|---|---|---|---|")
for k, v in r.items():
    print(f"| {k} | {v['mean']*1e3:.1f} | {med[k]:.1f} | {v['min']*1e3:.1f} |")
n = "nucleus-exec run (gvisor)"
print(f"\n{n}: median {med[n]/med['runsc do true']:.2f}x runsc do (target <= 1.2x), {med[n]/med['runsc run (bare bundle)']:.2f}x bare runsc run")
PY
# The same three commands interleaved (A B C A B C ...): hyperfine runs each
# command's series one after the other, so on a machine whose load drifts
# (other jobs) the later series see a different machine. Interleaving gives
# every command the same conditions; medians of wall time.
python3 - "$RUNS" "$NUCLEUS" "$DO" "$BARE" <<'PY'
import os, statistics, subprocess, sys, time
runs = int(sys.argv[1])
names = ["nucleus-exec run (gvisor)", "runsc do true", "runsc run (bare bundle)"]
cmds = [a.split() for a in sys.argv[2:5]]
t = {n: [] for n in names}
null = open(os.devnull, "r+b")
for i in range(runs):
    for n, c in zip(names, cmds):
        s = time.perf_counter()
        rc = subprocess.call(c, stdin=null, stdout=null, stderr=null)
        t[n].append((time.perf_counter() - s) * 1e3)
        if rc != 0:
            sys.exit(f"{n} failed with status {rc}: {' '.join(c)}")
med = {n: statistics.median(v) for n, v in t.items()}
print(f"\ninterleaved, {runs} rounds: median ms " + ", ".join(f"{n} {med[n]:.1f}" for n in names))
n = names[0]
print(f"{n}: median {med[n]/med['runsc do true']:.2f}x runsc do, {med[n]/med['runsc run (bare bundle)']:.2f}x bare runsc run")
PY
echo "runsc: $(runsc --version | head -1), platform: ${PLATFORM:-runsc default}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
