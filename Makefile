# shardgate — common tasks. `make test` is what CI runs (.ci/run).
CARGO ?= cargo
DEMO_DIR ?= /tmp/shardgate-demo

.PHONY: all build release test unit it lint fmt fuzz fuzz-long bench demo demo-stop install uninstall san dev

all: build

build:
	$(CARGO) build

release:
	$(CARGO) build --release

## Every test: unit tests, protocol vectors and test server, and the
## integration tests against real MariaDB servers they start themselves.
test: lint
	$(CARGO) test --workspace --lib --bins --tests -- --test-threads=4
	$(CARGO) test --workspace --benches
	$(CARGO) test --workspace --doc
	bash proto/fuzz/run.sh 5

unit:
	$(CARGO) test --workspace --lib

it:
	$(CARGO) test --test it -- --test-threads=4

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## A short smoke run of every fuzz target (seconds each).
fuzz:
	bash proto/fuzz/run.sh 10

## The long run: 10 minutes per target.
fuzz-long:
	bash proto/fuzz/run.sh 600

bench:
	$(CARGO) bench --bench proto_decode
	bash bench/sysbench.sh

## Local demo: MariaDB servers (installed with apt-get if missing) plus
## shardgate with conf/shardgate.toml in the foreground.
demo:
	bash tests/support/demo.sh $(DEMO_DIR)

demo-stop:
	bash tests/support/sandbox.sh stop $(DEMO_DIR)

## Install: `make install [PREFIX=/usr/local] [DESTDIR=]` (README.md,
## "Running as a service"). Binary in $(PREFIX)/bin, config in
## $(SYSCONFDIR)/shardgate (an existing one is kept; the new example goes
## beside it as shardgate.toml.new), unit in $(UNITDIR) with its paths
## rewritten to match. Without DESTDIR it also creates the `shardgate`
## system account the unit runs as. `make uninstall` removes the binary
## and the unit, and keeps the config and /var/lib/shardgate.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
UNITDIR ?= /etc/systemd/system
BINDIR = $(PREFIX)/bin
CONFDIR = $(SYSCONFDIR)/shardgate
STATEDIR = /var/lib/shardgate

install: release
	install -D -m 0755 target/release/shardgate $(DESTDIR)$(BINDIR)/shardgate
	sed -e 's|/usr/local/bin/shardgate|$(BINDIR)/shardgate|g' \
	    -e 's|/etc/shardgate/|$(CONFDIR)/|g' \
	    conf/shardgate.service > target/shardgate.service
	install -D -m 0644 target/shardgate.service $(DESTDIR)$(UNITDIR)/shardgate.service
	sed -e 's|^metadata_file = .*|metadata_file = "$(STATEDIR)/shardgate.meta"|' \
	    conf/shardgate.toml > target/shardgate.toml
	install -d -m 0755 $(DESTDIR)$(CONFDIR)
	@if [ -z "$(DESTDIR)" ] && ! getent passwd shardgate >/dev/null; then \
	    echo "creating the shardgate system account"; \
	    useradd --system --user-group --home-dir $(STATEDIR) --no-create-home \
	        --shell /usr/sbin/nologin shardgate; \
	fi
	@if [ -e $(DESTDIR)$(CONFDIR)/shardgate.toml ]; then \
	    echo "keeping $(DESTDIR)$(CONFDIR)/shardgate.toml; new example: shardgate.toml.new"; \
	    install -m 0640 target/shardgate.toml $(DESTDIR)$(CONFDIR)/shardgate.toml.new; \
	else \
	    install -m 0640 target/shardgate.toml $(DESTDIR)$(CONFDIR)/shardgate.toml; \
	fi
	@if [ -z "$(DESTDIR)" ]; then \
	    for f in $(CONFDIR)/shardgate.toml $(CONFDIR)/shardgate.toml.new; do \
	        [ ! -e $$f ] || chgrp shardgate $$f || exit 1; \
	    done; \
	    echo "next: edit $(CONFDIR)/shardgate.toml, then"; \
	    echo "  systemctl daemon-reload && systemctl enable --now shardgate"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/shardgate $(DESTDIR)$(UNITDIR)/shardgate.service
	@echo "kept $(DESTDIR)$(CONFDIR), $(DESTDIR)$(STATEDIR) and the shardgate account; remove them by hand if wanted"

dev:
	$(CARGO) build && $(CARGO) test --workspace --lib
