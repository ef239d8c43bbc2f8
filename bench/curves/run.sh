#!/bin/sh
# How start cost grows: start latency of `nucleus-exec run` for a /bin/true
# spec with K bind mounts (each also gets its Landlock rule) and with K extra
# Landlock read rules, K in $KS, timed by hyperfine (one run per curve, all
# points interleaved in the same run). The generator's curve (time vs number
# of specs) comes from bench/generator/run.sh's results.
#
# Usage: bench/curves/run.sh   (root; RUNS=30 KS="0 8 32 128"; results in
# $OUT, default bench/out/curves: mounts.json, landlock.json)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$ROOT/bench/out/curves}
RUNS=${RUNS:-30}
KS=${KS:-"0 8 32 128"}
rm -rf "$OUT"; mkdir -p "$OUT/bin" "$OUT/specs" "$OUT/src"

(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$OUT/bin/nucleus-exec" ./cmd/nucleus-exec)

# Landlock read rules need paths that exist inside the container (the
# host's read-only view): package documentation directories.
DOCS=$(find /usr/share/doc -mindepth 1 -maxdepth 1 -type d | sort | head -n 128)
[ "$(echo "$DOCS" | wc -l)" -ge 128 ] || { echo "need 128 directories under /usr/share/doc" >&2; exit 1; }

for k in $KS; do
	m="$OUT/specs/mounts-$k.toml" l="$OUT/specs/landlock-$k.toml"
	printf '[exec]\ncommand = ["/bin/true"]\n' >"$m"
	printf '[exec]\ncommand = ["/bin/true"]\n' >"$l"
	i=0
	while [ "$i" -lt "$k" ]; do
		mkdir -p "$OUT/src/d$i"
		printf '\n[[mount]]\ntype = "bind"\nsource = "%s"\ntarget = "/bench/m%d"\n' "$OUT/src/d$i" "$i" >>"$m"
		i=$((i + 1))
	done
	if [ "$k" -gt 0 ]; then
		printf '\n[landlock]\nread = [\n' >>"$l"
		echo "$DOCS" | head -n "$k" | sed 's/.*/  "&",/' >>"$l"
		printf ']\n' >>"$l"
	fi
	# Sanity: both start and exit 0 (a refused spec would time an error).
	"$OUT/bin/nucleus-exec" run "$m" 2>/dev/null || { echo "nucleus-exec run $m failed" >&2; "$OUT/bin/nucleus-exec" run "$m"; exit 1; }
	"$OUT/bin/nucleus-exec" run "$l" 2>/dev/null || { echo "nucleus-exec run $l failed" >&2; "$OUT/bin/nucleus-exec" run "$l"; exit 1; }
done

list=$(echo $KS | tr ' ' ',')
for curve in mounts landlock; do
	echo "== start latency vs $curve (K = $list)"
	hyperfine -N --warmup 5 --runs "$RUNS" --style basic -L k "$list" \
		--export-json "$OUT/$curve.json" \
		"$OUT/bin/nucleus-exec run $OUT/specs/$curve-{k}.toml"
done
