#!/bin/sh
# Generator benchmark: nucleus-generator vs Podman Quadlet (v5.4.2) on N
# equivalent specs / .container files on tmpfs, both timed by hyperfine in
# the same run. Prints a table with the ratio nucleus/quadlet.
#
#   bench/generator/run.sh                # N = 1 100 500 2000
#   NS="500" RUNS=50 bench/generator/run.sh
#   OUT=bench/out/generator bench/generator/run.sh   # also keep the JSON
#
# Quadlet is built from the Go module proxy in a throw-away module under a
# temporary directory (Debian's podman 4.3.1 predates Quadlet, and
# `go install …@version` is refused by the proxy); nothing of it is kept.
# Needs: go, hyperfine, python3; run as root (both generators run in their
# system mode, as at boot).
set -eu

NS=${NS:-"1 100 500 2000"}
RUNS=${RUNS:-30}
QUADLET_VERSION=${QUADLET_VERSION:-v5.4.2}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
TMPFS=${TMPFS:-/dev/shm}

WORK=$(mktemp -d "$TMPFS/nucleus-genbench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM

echo "== building nucleus-generator"
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$WORK/nucleus-generator" ./cmd/nucleus-generator)

echo "== building quadlet $QUADLET_VERSION in a throw-away module"
mkdir "$WORK/quadlet-mod"
cat >"$WORK/quadlet-mod/go.mod" <<EOF
module quadletbench

go 1.23

require github.com/containers/podman/v5 $QUADLET_VERSION
EOF
cat >"$WORK/quadlet-mod/tools.go" <<'EOF'
//go:build tools

package tools

import _ "github.com/containers/podman/v5/cmd/quadlet"
EOF
(cd "$WORK/quadlet-mod" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' \
	-o "$WORK/quadlet" github.com/containers/podman/v5/cmd/quadlet)

# gen_inputs N DIR: N nucleus specs in DIR/specs and N equivalent Quadlet
# .container files in DIR/containers (same description, command,
# environment, user, tmpfs, health check, restart, timeouts, limits,
# ordering and enablement).
gen_inputs() {
	n=$1 dir=$2
	mkdir -p "$dir/specs" "$dir/containers"
	python3 - "$n" "$dir" <<'EOF'
import sys
n, d = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    port = 8000 + i % 1000
    with open(f"{d}/specs/web{i:04d}.toml", "w") as f:
        f.write(f'''description = "bench web server {i}"

[exec]
command = ["/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
environment = {{ APP_ENV = "prod", INSTANCE = "{i}" }}
user = "nobody"
stop_timeout = "10s"

[restart]
policy = "on-failure"
delay = "1s"

[resources]
memory = "128M"
cpus = 0.5
pids = 64

[[mount]]
type = "tmpfs"
target = "/srv"
size = "8M"

[readiness]
tcp = {port}
start_timeout = "30s"

[health]
http = "http://127.0.0.1:{port}/"
interval = "5s"

[unit]
after = ["network-online.target"]
''')
    with open(f"{d}/containers/web{i:04d}.container", "w") as f:
        f.write(f'''[Unit]
Description=bench web server {i}
After=network-online.target

[Container]
Image=docker.io/library/python:3
Exec=/usr/bin/python3 -m http.server --bind 127.0.0.1 {port}
Environment=APP_ENV=prod INSTANCE={i}
User=nobody
Tmpfs=/srv:size=8M
HealthCmd=curl -fsS http://127.0.0.1:{port}/
HealthInterval=5s

[Service]
Restart=on-failure
RestartSec=1
TimeoutStartSec=30
TimeoutStopSec=15
MemoryMax=128M
CPUQuota=50%
TasksMax=64

[Install]
WantedBy=multi-user.target
''')
EOF
	chmod 0644 "$dir"/specs/* "$dir"/containers/*
}

# A --prepare helper: each timed run starts from an empty output directory,
# as systemd gives generators.
cat >"$WORK/prepare.sh" <<'EOF'
#!/bin/sh
rm -rf "$1" && mkdir -p "$1"
EOF
chmod 0755 "$WORK/prepare.sh"

echo "== machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "== $(go version), $(hyperfine --version), quadlet $("$WORK/quadlet" -version)"
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"

results=""
for n in $NS; do
	dir="$WORK/n$n"
	gen_inputs "$n" "$dir"
	export NUCLEUS_SPEC_DIRS="$dir/specs" QUADLET_UNIT_DIRS="$dir/containers"

	# Sanity: both generate every unit and exit 0.
	"$WORK/prepare.sh" "$dir/out-n" && "$WORK/nucleus-generator" "$dir/out-n"
	"$WORK/prepare.sh" "$dir/out-q" && "$WORK/quadlet" "$dir/out-q"
	got_n=$(find "$dir/out-n" -maxdepth 1 -name '*.service' | wc -l)
	got_q=$(find "$dir/out-q" -maxdepth 1 -name '*.service' | wc -l)
	if [ "$got_n" -ne "$n" ] || [ "$got_q" -ne "$n" ]; then
		echo "expected $n units, nucleus wrote $got_n, quadlet $got_q" >&2
		exit 1
	fi

	echo "== N=$n"
	hyperfine -N --warmup 3 --runs "$RUNS" --style basic \
		--prepare "$WORK/prepare.sh $dir/out-n" \
		--prepare "$WORK/prepare.sh $dir/out-q" \
		--command-name "nucleus-generator N=$n" "$WORK/nucleus-generator $dir/out-n" \
		--command-name "quadlet N=$n" "$WORK/quadlet $dir/out-q" \
		--export-json "$WORK/n$n.json"
	results="$results $n"
done

# Machine-readable results for bench/report (make bench sets OUT).
if [ -n "${OUT:-}" ]; then
	mkdir -p "$OUT"
	for n in $results; do cp "$WORK/n$n.json" "$OUT/n$n.json"; done
	"$WORK/quadlet" -version >"$OUT/quadlet-version"
fi

echo
echo "== summary (mean ± stddev wall time; user+sys CPU; ratio = nucleus / quadlet)"
python3 - "$WORK" $results <<'EOF'
import json, sys
work, ns = sys.argv[1], sys.argv[2:]
print(f"{'N':>5}  {'nucleus-generator':>22}  {'quadlet':>22}  {'ratio':>6}  {'cpu n/q (ms)':>14}")
for n in ns:
    r = json.load(open(f"{work}/n{n}.json"))["results"]
    a, b = r[0], r[1]
    fmt = lambda x: f"{x['mean']*1e3:8.2f} ± {x['stddev']*1e3:5.2f} ms"
    cpu = lambda x: (x['user'] + x['system']) * 1e3
    print(f"{n:>5}  {fmt(a):>22}  {fmt(b):>22}  {a['mean']/b['mean']:6.2f}  {cpu(a):6.2f}/{cpu(b):6.2f}")
EOF
