#!/bin/sh
# install-deps.sh: everything the test suite needs on a fresh Debian machine, as root.
# Idempotent and quick when all is present.
set -eu
PKGS="systemd dbus crun runc bubblewrap busybox-static python3 iproute2 runsc groff-base man-db lintian dpkg-dev hyperfine"
missing=""
for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
	echo "install-deps: apt-get install$missing"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
export PATH="$PATH:$(go env GOPATH)/bin"
command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
