# One command each: `make test` runs every test, `make validate` checks mirrors.d; both install what is missing.
SWIFT ?= swift
DIR ?= mirrors.d

.PHONY: deps build test validate bench clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --product mirrorsync

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

validate: build
	$(SWIFT) run --skip-build mirrorsync validate $(DIR)

bench: deps
	$(SWIFT) run -c release mirrorsync-bench load

clean:
	rm -rf .build
