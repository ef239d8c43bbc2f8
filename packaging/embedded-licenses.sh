#!/bin/bash
# embedded-licenses.sh BINARY... — DEP-5 copyright paragraphs for the code
# statically linked into Go binaries: the Go standard library and every
# module dependency their build info lists (`go version -m`). Each paragraph
# names the license (the module's SPDX-License-Identifier when it has one)
# and quotes the module's license files; texts Debian ships in
# /usr/share/common-licenses (Apache-2.0, MPL-2.0) are referenced instead.
# Appended to packaging/copyright by build-deb.sh. Fails when a module has no
# license file or one it cannot name, rather than ship a wrong copyright file.
set -euo pipefail
export LC_ALL=C.UTF-8

GOROOT=$(go env GOROOT)
MODCACHE=$(go env GOMODCACHE)

# The module cache escapes upper case letters as "!" + lower case.
escape() { sed -e 's/[A-Z]/!\L&/g' <<<"$1"; }

# name_of FILE: the license's short name, or fail.
name_of() {
	local spdx
	spdx=$(grep -m1 -o 'SPDX-License-Identifier: *[^*`]*' "$1" | sed -e 's/.*: *//' -e 's/[[:space:]]*$//') || true
	if [ -n "$spdx" ]; then echo "$spdx"
	elif grep -q 'Apache License' "$1" && grep -q 'Version 2.0' "$1"; then echo Apache-2.0
	elif grep -q 'Mozilla Public License' "$1" && grep -qi 'version 2.0' "$1"; then echo MPL-2.0
	elif grep -qi 'Permission is hereby granted, free of charge' "$1"; then echo Expat
	elif grep -q 'Redistribution and use in source and binary forms' "$1"; then
		if grep -qi 'Neither the name\|names of its contributors\|name of any author' "$1"; then echo BSD-3-clause; else echo BSD-2-clause; fi
	else return 1; fi
}

# copyright_of FILE: the copyright line at the top of a license file (not
# one quoted further down, like the FSF's in an appended GPL text), or "".
copyright_of() {
	head -n 30 "$1" | grep -m1 -iE '^[[:space:]]*copyright[[:space:]]+(\(c\)[[:space:]]*)?[0-9]' |
		sed -E 's/^[[:space:]]*[Cc]opyright[[:space:]]+(\([Cc]\)[[:space:]]*)?//' || true
}

# text FILE: a license file as DEP-5 continuation lines, or a reference to
# Debian's copy of a long standard text.
text() {
	local n
	n=$(name_of "$1" || true)
	case $n in
	Apache-2.0 | MPL-2.0)
		if ! grep -q 'SPDX-License-Identifier' "$1"; then
			printf ' On Debian systems, the full text of the %s license is in\n /usr/share/common-licenses/%s.\n' "$n" "$n"
			return
		fi ;;
	esac
	# One leading space, "." for an empty line, no trailing blanks. A full
	# GNU GPL text appended to a dual license (libcap's psx) is replaced by
	# a reference to Debian's copy, as Debian policy asks.
	awk '
		/^[[:space:]]*GNU GENERAL PUBLIC LICENSE[[:space:]]*$/ {
			while (n > 0 && (lines[n] ~ /^[[:space:]]*$/ || lines[n] ~ /^[-=[:space:]]+$/ || lines[n] ~ /GPL/)) n--
			gpl = 1
			next
		}
		gpl { if ($0 ~ /Version 2,/) v = 2; if ($0 ~ /Version 3,/) v = 3; next }
		{ sub(/[[:space:]]+$/, ""); lines[++n] = $0 }
		END {
			for (i = 1; i <= n; i++) print (lines[i] == "" ? " ." : " " lines[i])
			if (gpl) {
				print " ."
				printf " On Debian systems, the full text of the GNU General Public License\n version %s is in /usr/share/common-licenses/GPL-%s.\n", v, v
			}
		}' "$1"
}

# paragraph FILES DEFAULT_HOLDER LICENSE_FILE...: the first license file names the license.
paragraph() {
	local files=$1 holder=$2 name copyright
	shift 2
	name=$(name_of "$1") || { echo "embedded-licenses.sh: cannot name the license in $1" >&2; exit 1; }
	copyright=$(copyright_of "$1")
	printf '\nFiles: %s\nCopyright: %s\nLicense: %s\n' "$files" "${copyright:-$holder}" "$name"
	local first=1 f
	for f in "$@"; do
		[ $first = 1 ] || printf ' .\n'
		first=0
		text "$f"
	done
}

paragraph "go/src/*" "The Go Authors" "$GOROOT/LICENSE"

mods=$(for b in "$@"; do go version -m "$b"; done | awk '$1 == "dep" { print $2 "@" $3 }' | sort -u)
for m in $mods; do
	path=${m%@*} ver=${m#*@}
	dir=$MODCACHE/$(escape "$path")@$ver
	# COPYING* first: where a module has several licenses it says which applies.
	mapfile -t lics < <(find "$dir" -maxdepth 1 -type f \( -iname 'COPYING*' -o -iname 'LICEN[CS]E*' \) | sort -f)
	[ ${#lics[@]} -gt 0 ] || { echo "embedded-licenses.sh: no license file in $dir" >&2; exit 1; }
	paragraph "$path/*" "the $path authors" "${lics[@]}"
done
