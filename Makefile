# nucleus — build, test and install.
# The two commands the README promises: `make demo` (main job) and `make check` (all tests).

PREFIX      ?= /usr
DESTDIR     ?=
LIBEXECDIR  ?= $(PREFIX)/libexec/nucleus
GENERATORDIR?= $(PREFIX)/lib/systemd/system-generators
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0)
GO          ?= go
# nucleus-exec is static (no cgo): one less dynamic-linker pass on every container start.
export CGO_ENABLED = 0
LDFLAGS := -s -w -X github.com/nucleus-containers/nucleus/internal/version.Version=$(VERSION) \
	-X github.com/nucleus-containers/nucleus/internal/version.ExecPath=$(LIBEXECDIR)/nucleus-exec

.PHONY: all build deps test unit race e2e check lint fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

# deps installs what the tests need on a fresh Debian machine (idempotent).
deps:
	./scripts/install-deps.sh

unit: build
	$(GO) test -count=1 ./...

# e2e: the end-to-end suite (issue 3), as root: each test boots a throw-away
# systemd (internal/e2e/harness). The timeout bounds a run where every wait
# runs out; a passing run takes a few minutes.
e2e: build
	$(GO) vet -tags e2e ./e2e/...
	$(GO) test -count=1 -v -timeout 30m -tags e2e ./e2e/...

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	staticcheck ./...

# The supervisor's concurrency (probe loops, notify relay, signal handling)
# under the race detector; -race needs cgo, the shipped binaries do not.
race:
	CGO_ENABLED=1 $(GO) test -race -count=1 ./internal/probe/... ./internal/notify/... ./internal/supervisor/...

test: lint unit race e2e

check: deps test

# fuzz runs every fuzz target for FUZZTIME each (by hand; the seed corpora
# under testdata/fuzz run as ordinary tests in `make unit`). A run count
# (e.g. FUZZTIME=1500000x) avoids a Go 1.26 fuzz-deadline bug.
FUZZTIME ?= 1m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) ./internal/spec
	$(GO) test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./internal/unit
	$(GO) test -run '^$$' -fuzz '^FuzzSpecToUnit$$' -fuzztime $(FUZZTIME) ./internal/generator

clean:
	rm -rf bin build

# ---- install, packaging, man pages, demo (packaging/, units/, man/, scripts/) ----
UNITDIR     ?= $(PREFIX)/lib/systemd/system
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/nucleus
SYSCONFDIR  ?= /etc
INSTALL_ENV = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' LIBEXECDIR='$(LIBEXECDIR)' \
	GENERATORDIR='$(GENERATORDIR)' UNITDIR='$(UNITDIR)' MANDIR='$(MANDIR)' \
	DOCDIR='$(DOCDIR)' SYSCONFDIR='$(SYSCONFDIR)'

.PHONY: install uninstall deb man demo

# install: binaries, units, man pages, examples and /etc/nucleus; writes a
# manifest so that uninstall removes exactly that.
install: build
	$(INSTALL_ENV) ./scripts/install.sh install

uninstall:
	$(INSTALL_ENV) ./scripts/install.sh uninstall

# deb: build/nucleus_VERSION_ARCH.deb from a staged `make install`, then lintian.
deb:
	./packaging/build-deb.sh

# man: check that every page renders with no groff or man warnings.
man:
	./scripts/check-man.sh

# demo: the README's main job (build, install into a real systemd, start examples/web.toml).
demo:
	./scripts/demo.sh

# ---- benchmarks (bench/) ----
.PHONY: bench

# bench: every benchmark side by side with the neighbours (installed from apt)
# in one run, then bench/README.md and its charts (issue 8). By hand, as
# root, on a quiet machine; not part of check or CI.
bench:
	./bench/run.sh
