#!/bin/sh
# install.sh install|uninstall — what `make install` and `make uninstall` run.
#
# install copies the built binaries, units, man pages and examples below
# $DESTDIR and records every file it wrote, and every directory it had to
# create, in a manifest that is itself installed:
#   $DESTDIR$PREFIX/share/nucleus/install-manifest
# uninstall removes exactly those files, then those directories when they are
# empty, then the manifest. Nothing else is touched: a directory that already
# existed (e.g. /usr/lib/systemd/system) stays, and /etc/nucleus stays when an
# operator has put specs in it.
#
# The Makefile passes the layout (PREFIX, LIBEXECDIR, GENERATORDIR, UNITDIR,
# MANDIR, DOCDIR, SYSCONFDIR) in the environment; paths in the manifest are
# without DESTDIR, one per line, "f PATH" or "d PATH".
set -eu

: "${DESTDIR=}"
: "${PREFIX:=/usr}"
: "${LIBEXECDIR:=$PREFIX/libexec/nucleus}"
: "${GENERATORDIR:=$PREFIX/lib/systemd/system-generators}"
: "${UNITDIR:=$PREFIX/lib/systemd/system}"
: "${MANDIR:=$PREFIX/share/man}"
: "${DOCDIR:=$PREFIX/share/doc/nucleus}"
: "${SYSCONFDIR:=/etc}"
: "${BINDIR_BUILD:=bin}"

cd "$(dirname "$0")/.."
MANIFEST=$PREFIX/share/nucleus/install-manifest

die() { echo "install.sh: $*" >&2; exit 1; }

# record TYPE PATH: add one manifest line (deduplicated at the end).
record() { echo "$1 $2" >> "$NEW_MANIFEST"; }

# mkdirs DIR: create DIR (and missing parents) below DESTDIR, recording each
# directory this run created, parents first.
mkdirs() {
	_missing=""
	_d=$1
	# dirname stops at "/", which always exists once DESTDIR does.
	while [ "$_d" != / ] && [ ! -d "$DESTDIR$_d" ]; do
		_missing="$_d $_missing"
		_d=$(dirname "$_d")
	done
	for _d in $_missing; do
		mkdir -m 0755 "$DESTDIR$_d"
		record d "$_d"
	done
}

# put MODE SRC DEST: install one file, recording it.
put() {
	mkdirs "$(dirname "$3")"
	install -m "$1" "$2" "$DESTDIR$3"
	record f "$3"
}

do_install() {
	for b in nucleus-generator nucleus-exec; do
		[ -x "$BINDIR_BUILD/$b" ] || die "$BINDIR_BUILD/$b is missing: run 'make build' first"
	done
	# DESTDIR itself is a staging area, not part of the install.
	if [ -n "$DESTDIR" ]; then mkdir -p "$DESTDIR"; fi
	NEW_MANIFEST=$(mktemp)
	# A re-install keeps the directories the first install created.
	if [ -f "$DESTDIR$MANIFEST" ]; then cp "$DESTDIR$MANIFEST" "$NEW_MANIFEST"; fi
	mkdirs "$(dirname "$MANIFEST")"
	record f "$MANIFEST"
	# Write the manifest even when a step below fails, so that uninstall can
	# remove a partial install. awk keeps the first occurrence of each line:
	# a re-install neither duplicates nor reorders entries.
	trap 'awk "!seen[\$0]++" "$NEW_MANIFEST" > "$DESTDIR$MANIFEST"; chmod 0644 "$DESTDIR$MANIFEST"; rm -f "$NEW_MANIFEST"' EXIT

	put 0755 "$BINDIR_BUILD/nucleus-generator" "$GENERATORDIR/nucleus-generator"
	put 0755 "$BINDIR_BUILD/nucleus-exec" "$LIBEXECDIR/nucleus-exec"
	for u in units/*; do put 0644 "$u" "$UNITDIR/${u##*/}"; done
	for m in man/*.[1-8]; do
		sect=${m##*.}
		put 0644 "$m" "$MANDIR/man$sect/${m##*/}"
	done
	for e in examples/*.toml; do put 0644 "$e" "$DOCDIR/examples/${e##*/}"; done

	# The spec directory operators write to: root-owned, world-readable.
	mkdirs "$SYSCONFDIR/nucleus"
	chmod 0755 "$DESTDIR$SYSCONFDIR/nucleus"
	if [ "$(id -u)" = 0 ]; then chown root:root "$DESTDIR$SYSCONFDIR/nucleus"; fi

	echo "installed into ${DESTDIR:-/} (manifest: $DESTDIR$MANIFEST)"
	if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
		echo "run 'systemctl daemon-reload' to let systemd pick up the generator"
	fi
}

do_uninstall() {
	[ -f "$DESTDIR$MANIFEST" ] || die "no manifest at $DESTDIR$MANIFEST: nothing was installed with this PREFIX/DESTDIR"
	# Read the manifest before removing it (it lists itself).
	entries=$(cat "$DESTDIR$MANIFEST")
	echo "$entries" | while read -r kind path; do
		[ "$kind" = f ] || continue
		rm -f "$DESTDIR$path"
	done
	# Directories deepest first; keep any that hold files we did not install.
	echo "$entries" | awk '$1 == "d" { print $2 }' | sort -r | while read -r dir; do
		[ -d "$DESTDIR$dir" ] || continue
		if ! rmdir "$DESTDIR$dir" 2>/dev/null; then
			echo "install.sh: kept $DESTDIR$dir: it holds files nucleus did not install" >&2
		fi
	done
	echo "uninstalled from ${DESTDIR:-/}"
	if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
		echo "run 'systemctl daemon-reload' to drop the generated units"
	fi
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: install.sh install|uninstall" ;;
esac
