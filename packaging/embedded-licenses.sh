#!/bin/bash
# embedded-licenses.sh BINARY... — DEP-5 copyright paragraphs for the code
# statically linked into Go binaries: the Go standard library and every
# module dependency their build info lists (`go version -m`), with the
# license text read from GOROOT and the module cache. Appended to
# packaging/copyright by build-deb.sh; fails when a license cannot be found
# or recognised, rather than shipping a copyright file that is wrong.
set -euo pipefail
export LC_ALL=C.UTF-8

GOROOT=$(go env GOROOT)
MODCACHE=$(go env GOMODCACHE)

# The module cache escapes upper case letters as "!" + lower case.
escape() { sed -e 's/[A-Z]/!\L&/g' <<<"$1"; }

# short_name LICENSE_FILE: the SPDX-style name DEP-5 uses.
short_name() {
	if grep -q 'Apache License' "$1" && grep -q 'Version 2.0' "$1"; then echo Apache-2.0
	elif grep -q 'Mozilla Public License' "$1" && grep -q 'Version 2.0\|version 2.0' "$1"; then echo MPL-2.0
	elif grep -q 'Permission is hereby granted, free of charge' "$1"; then echo Expat
	elif grep -q 'Redistribution and use in source and binary forms' "$1"; then
		if grep -qi 'Neither the name\|names of its contributors' "$1"; then echo BSD-3-clause; else echo BSD-2-clause; fi
	else return 1; fi
}

# copyright_line LICENSE_FILE DEFAULT: the file's copyright holders, or DEFAULT.
copyright_line() {
	local c
	c=$(grep -m1 -iE '^[[:space:]]*copyright[[:space:]]+(\(c\)[[:space:]]*)?[0-9]' "$1" | sed -E 's/^[[:space:]]*[Cc]opyright[[:space:]]+(\([Cc]\)[[:space:]]*)?//') || true
	echo "${c:-$2}"
}

# paragraph FILES COPYRIGHT LICENSE_FILE
declare -A texts=()
paragraph() {
	local name
	name=$(short_name "$3") || { echo "embedded-licenses.sh: cannot recognise the license in $3" >&2; exit 1; }
	printf '\nFiles: %s\nCopyright: %s\nLicense: %s\n' "$1" "$2" "$name"
	# Licenses Debian ships in full are referenced; others are quoted once, below.
	case $name in
	Apache-2.0 | MPL-2.0) texts[$name]="/usr/share/common-licenses/$name" ;;
	*) texts[$name]=$3 ;;
	esac
}

paragraph "go/src/*" "$(copyright_line "$GOROOT/LICENSE" 'The Go Authors')" "$GOROOT/LICENSE"

mods=$(for b in "$@"; do go version -m "$b"; done | awk '$1 == "dep" { print $2 "@" $3 }' | sort -u)
for m in $mods; do
	path=${m%@*} ver=${m#*@}
	dir=$MODCACHE/$(escape "$path")@$ver
	lic=$(find "$dir" -maxdepth 1 -type f \( -iname 'LICENSE*' -o -iname 'COPYING*' \) | sort | head -1)
	[ -n "$lic" ] || { echo "embedded-licenses.sh: no license file in $dir" >&2; exit 1; }
	paragraph "$path/*" "$(copyright_line "$lic" "the $path authors")" "$lic"
done

for name in $(printf '%s\n' "${!texts[@]}" | sort); do
	printf '\nLicense: %s\n' "$name"
	case ${texts[$name]} in
	/usr/share/common-licenses/*)
		printf ' On Debian systems, the full text of the %s license is in\n %s.\n' "$name" "${texts[$name]}" ;;
	*)
		# DEP-5 continuation lines: one leading space, "." for empty lines.
		sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /' "${texts[$name]}" ;;
	esac
done
