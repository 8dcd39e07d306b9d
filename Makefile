# shardgate — common tasks. `make test` is what CI runs (.ci/run).
CARGO ?= cargo
DEMO_DIR ?= /tmp/shardgate-demo

.PHONY: all build release test unit it lint fmt fuzz fuzz-long bench demo demo-stop install san dev

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

PREFIX ?= /usr/local
install: release
	install -D -m 0755 target/release/shardgate $(DESTDIR)$(PREFIX)/bin/shardgate
	install -D -m 0644 conf/shardgate.toml $(DESTDIR)/etc/shardgate/shardgate.toml

dev:
	$(CARGO) build && $(CARGO) test --workspace --lib
