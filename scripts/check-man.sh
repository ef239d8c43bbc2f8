#!/bin/sh
# check-man.sh [PAGE...] — `make man`: every man page (default: man/*.[1-8])
# must render with no warning at all, both with groff's strictest setting
# (-ww: all warnings) and the way users read it (man -l, man-db's --warnings).
# Prints each page's warnings and exits 1 when there are any.
set -u
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8 MANWIDTH=80 MAN_KEEP_FORMATTING=
for tool in groff man; do
	command -v $tool >/dev/null || { echo "check-man.sh: $tool is missing (apt-get install groff-base man-db)" >&2; exit 1; }
done
[ $# -gt 0 ] || set -- man/*.[1-8]
rc=0
for page in "$@"; do
	# -z: format only; -ww: every warning category on.
	warnings=$(
		groff -man -Tutf8 -ww -z "$page" 2>&1 || echo "groff exited $?"
		man --warnings -l "$page" 2>&1 >/dev/null || echo "man exited $?"
	)
	if [ -n "$warnings" ]; then
		printf '%s:\n%s\n' "$page" "$warnings" >&2
		rc=1
	fi
done
[ $rc = 0 ] && echo "check-man.sh: $# pages render without warnings"
exit $rc
