# The two commands of the README. Both install missing Debian packages first.
SWIFT_FLAGS := --explicit-target-dependency-import-check error

.PHONY: up test build deps clean bench-turns

up: build
	scripts/up.sh

test: deps
	scripts/test.sh

build: deps
	swift build $(SWIFT_FLAGS)

# Switchboard and the LangGraph baseline, same turn, same machine, one run (docs/BENCHMARKS.md).
bench-turns: deps
	scripts/bench-turns.sh

deps:
	scripts/install-deps.sh

clean:
	rm -rf .build .run
