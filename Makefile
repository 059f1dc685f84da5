# The two commands of the README. Both install missing Debian packages first.
SWIFT_FLAGS := --explicit-target-dependency-import-check error

.PHONY: up test build deps clean

up: build
	scripts/up.sh

test: deps
	scripts/test.sh

build: deps
	swift build $(SWIFT_FLAGS)

deps:
	scripts/install-deps.sh

clean:
	rm -rf .build .run
