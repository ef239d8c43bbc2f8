// Package packaging holds how nucleus is installed the way a Debian operator
// expects: build-deb.sh (`make deb`: a lintian-clean .deb from a staged
// `make install`), the maintainer scripts, the DEP-5 copyright, lintian
// overrides with their reasons. It has no Go code of its own; its tests
// build the .deb, lint it, install it with dpkg into a throw-away systemd
// and start the example spec from it, check `make install`/`make uninstall`
// (scripts/install.sh), and run `make demo` (scripts/demo.sh).
//
// It must not be imported by anything, and its tests must not touch the
// host's /etc, /usr or systemd: installs go to temporary DESTDIRs or into
// e2e harness instances.
package packaging
