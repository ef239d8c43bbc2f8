#!/bin/sh
# make bench: every nucleus benchmark side by side with its neighbours, in one
# run on this machine, then bench/README.md and its SVG charts from the
# results (issue 8). Run by hand as root, not in CI; about 10 minutes on 2 CPUs.
#
#   bench/run.sh                      # everything
#   ONLY="start curves" bench/run.sh  # some sub-benchmarks, then the report
#   NO_APT=1 bench/run.sh             # do not call apt-get
#   (run counts: GEN_RUNS START_RUNS GVISOR_RUNS SUPERVISION_CHECKS READY_RUNS
#   SCALE SCALE_WINDOW CURVE_RUNS; see below for the defaults)
#
# Results (hyperfine JSON exports, JSON of the supervision and systemd
# benchmarks, logs) go to bench/out/ (not committed). A sub-benchmark that
# fails is recorded as failed (its log's tail in bench/out/NAME.failed, shown
# in the README) and the others still run.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/bench/out
ALL="generator start gvisor supervision systemd curves gobench"
ONLY=${ONLY:-$ALL}
export CGO_ENABLED=0

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: run as root (namespaces, systemd, podman)" >&2; exit 1; }

if [ -z "${NO_APT:-}" ]; then
	echo "== installing the neighbours from apt"
	PKGS="crun runc bubblewrap hyperfine runsc podman busybox-static python3"
	apt-get install -y -q $PKGS >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null && apt-get install -y -q $PKGS >/dev/null; }
fi

rm -rf "$OUT"
mkdir -p "$OUT"
echo '*' >"$OUT/.gitignore"

load1=$(cut -d' ' -f1 /proc/loadavg)
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
if awk "BEGIN { exit !($load1 >= 1.5) }"; then
	echo "   warning: the machine is busy (load >= 1.5); absolute figures will be noisy (the README says so)" >&2
fi
go run ./bench/report collect -out "$OUT" -repo "$ROOT"

# step NAME CMD...: runs one sub-benchmark, its output to the terminal and
# $OUT/NAME.log; on failure, the log's tail goes to $OUT/NAME.failed.
# Each step gets at most $STEP_TIMEOUT seconds (default 600).
step() {
	name=$1
	shift
	case " $ONLY " in *" $name "*) ;; *) return 0 ;; esac
	echo
	load=$(cut -d' ' -f1 /proc/loadavg)
	echo "== $name: $*  ($(date -u +%H:%M:%S), load $load)"
	start=$(date +%s)
	# The exit status of the command, not of tee.
	# timeout: a hung sub-benchmark must not eat the others' time (exit 124).
	if { rc=0; timeout -k 15 "${STEP_TIMEOUT:-600}" "$@" 2>&1 || rc=$?; echo "$rc" >"$OUT/$name.rc"; } | tee "$OUT/$name.log"; [ "$(cat "$OUT/$name.rc")" = 0 ]; then
		echo "== $name: done in $(($(date +%s) - start)) s"
	else
		echo "== $name: FAILED (exit $(cat "$OUT/$name.rc")); see $OUT/$name.log" >&2
		tail -n 5 "$OUT/$name.log" >"$OUT/$name.failed"
	fi
	# For the README's run log: step, start (UTC), load at start, seconds, exit status.
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$(date -u -d "@$start" +%H:%M:%S)" "$load" \
		"$(($(date +%s) - start))" "$(cat "$OUT/$name.rc")" >>"$OUT/steps.tsv"
}

step generator env OUT="$OUT/generator" NS="1 100 500 2000" RUNS="${GEN_RUNS:-20}" bench/generator/run.sh
step start env OUT="$OUT/start" bench/start/run.sh "${START_RUNS:-300}"
step gvisor env OUT="$OUT/gvisor" bench/gvisor/run.sh "${GVISOR_RUNS:-30}"
step supervision env OUT="$OUT/supervision" python3 bench/supervision/run.py "${SUPERVISION_CHECKS:-200}"
step systemd go run ./bench/systemd -out "$OUT/systemd" -repo "$ROOT" -runs "${READY_RUNS:-20}" \
	-scale "${SCALE:-100}" -window "${SCALE_WINDOW:-60s}"
step curves env OUT="$OUT/curves" RUNS="${CURVE_RUNS:-30}" bench/curves/run.sh
# -count=1: figures of this run, not a cached test result.
step gobench sh -c "go test -count=1 -run='^\$' -bench=. -benchmem ./internal/... >'$OUT/gobench.txt' 2>&1; rc=\$?; cat '$OUT/gobench.txt'; exit \$rc"

cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg-end"
echo
echo "== report: bench/README.md, bench/start-latency.svg, bench/curves.svg"
go run ./bench/report render -out "$OUT" -dir "$ROOT/bench"
for f in "$OUT"/*.failed; do
	[ -e "$f" ] && echo "failed: $(basename "$f" .failed) (see $OUT/$(basename "$f" .failed).log)" >&2
done
echo "== done ($(date -u +%H:%M:%S)); load average $(cat "$OUT/loadavg-end")"
