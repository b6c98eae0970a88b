# One command each: `make test` runs every test, `make validate` checks mirrors.d; both install what is missing.
SWIFT ?= swift
DIR ?= mirrors.d

.PHONY: deps build test validate bench release release-test clean

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

# dist/mirrorsync-VERSION-linux-MACHINE.tar.gz and dist/mirrorsync_VERSION_ARCH.deb, from a static release build.
release: deps
	scripts/release.sh

# Builds the release, installs the .deb into a scratch root and checks what it put there.
release-test: release
	scripts/test-release.sh

clean:
	rm -rf .build .build-release dist
