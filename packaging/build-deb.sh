#!/bin/bash
# build-deb.sh — `make deb`: build/nucleus_VERSION_ARCH.deb from a staged
# `make install`, with dpkg-deb (no debhelper, no source package), then lintian.
#
#   packaging/build-deb.sh            build, package, lint (fails on lintian errors and warnings)
#
# Environment:
#   DEB_VERSION   Debian version (default: X.Y.Z-1 on a vX.Y.Z tag, else
#                 0.1.0~gitDATE.SHA[+dirty]-1)
#   BINDIR_BUILD  use binaries already built there (with PREFIX=/usr) instead
#                 of building them with the Makefile's LDFLAGS
#   OUT           output directory (default build/)
#   LINTIAN=0     skip lintian (the Go test always runs it)
#
# Prints the path of the .deb as its last line.
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C.UTF-8 TZ=UTC

OUT=${OUT:-build}
ARCH=$(dpkg --print-architecture)
MAINTAINER="nucleus maintainers <maintainers@users.noreply.r-seed-505da8cd.example>"

# ---- version -----------------------------------------------------------------
if [ -z "${DEB_VERSION:-}" ]; then
	if tag=$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null); then
		DEB_VERSION=${tag#v}-1
	else
		sha=$(git rev-parse --short=7 HEAD 2>/dev/null || echo 0000000)
		date=$(git log -1 --format=%cd --date=format-local:%Y%m%d 2>/dev/null || date +%Y%m%d)
		dirty=""
		if ! git diff --quiet HEAD 2>/dev/null; then dirty=+dirty; fi
		DEB_VERSION=0.1.0~git$date.$sha$dirty-1
	fi
fi
UPSTREAM_VERSION=${DEB_VERSION%-*}
# The changelog entry's date: the commit's, so that rebuilding a commit gives
# the same changelog (and the same .deb contents).
CHANGELOG_DATE=$(git log -1 --format=%cd --date=rfc2822 2>/dev/null || date -R)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

# ---- stage -------------------------------------------------------------------
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/nucleus-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/root
mkdir -m 0755 "$ROOT"

if [ -z "${BINDIR_BUILD:-}" ]; then
	# Build with the Makefile's flags (ExecPath, Version) for PREFIX=/usr,
	# into the staging area: bin/ may be in use by tests running meanwhile.
	ldflags=$(printf 'print-ldflags:\n\t@echo $(LDFLAGS)\n' |
		make -s --no-print-directory -f Makefile -f - print-ldflags PREFIX=/usr VERSION="$UPSTREAM_VERSION")
	BINDIR_BUILD=$STAGE/bin
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BINDIR_BUILD/" ./cmd/nucleus-generator ./cmd/nucleus-exec
fi
DESTDIR=$ROOT PREFIX=/usr SYSCONFDIR=/etc BINDIR_BUILD=$BINDIR_BUILD \
	./scripts/install.sh install >&2
# dpkg keeps the list of installed files: the manifest is for `make uninstall` only.
rm -f "$ROOT/usr/share/nucleus/install-manifest"
rmdir "$ROOT/usr/share/nucleus"

DOC=$ROOT/usr/share/doc/nucleus
# Debian policy: man pages and changelogs gzip -9n (no name, no timestamp).
find "$ROOT/usr/share/man" -type f -name '*.[1-8]' -exec gzip -9n {} +
install -m 0644 packaging/copyright "$DOC/copyright"
./packaging/embedded-licenses.sh "$BINDIR_BUILD"/nucleus-generator "$BINDIR_BUILD"/nucleus-exec >> "$DOC/copyright"
{
	printf 'nucleus (%s) unstable; urgency=medium\n\n' "$DEB_VERSION"
	printf '  * Built from upstream commit %s;\n' "$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
	printf '    the upstream git history lists the changes.\n\n'
	printf ' -- %s  %s\n' "$MAINTAINER" "$CHANGELOG_DATE"
} | gzip -9n > "$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/changelog.Debian.gz"

mkdir -p "$ROOT/usr/share/lintian/overrides"
install -m 0644 packaging/lintian-overrides "$ROOT/usr/share/lintian/overrides/nucleus"

# ---- DEBIAN/ -----------------------------------------------------------------
CTRL=$ROOT/DEBIAN
mkdir -m 0755 "$CTRL"
install -m 0755 packaging/postinst packaging/postrm "$CTRL/"
# Every regular file under /etc is a conffile (dpkg keeps an operator's edits).
(cd "$ROOT" && find etc -type f -printf '/%p\n' | sort) > "$CTRL/conffiles"
[ -s "$CTRL/conffiles" ] || rm "$CTRL/conffiles"
(cd "$ROOT" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$CTRL/md5sums"
chmod 0644 "$CTRL/md5sums"
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$INSTALLED_SIZE/" \
	-e "s/@MAINTAINER@/$MAINTAINER/" packaging/control.in > "$CTRL/control"
chmod 0644 "$CTRL/control"

# Reproducible: every file's mtime is the commit's.
find "$ROOT" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
DEB=$OUT/nucleus_${DEB_VERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >&2

if [ "${LINTIAN:-1}" != 0 ]; then
	# --fail-on error,warning: a warning we cannot fix is overridden in
	# packaging/lintian-overrides with the reason next to it.
	lintian --fail-on error,warning --info --display-info "$DEB" >&2
fi
echo "$DEB"
