# One command each: `make demo` shows a whole site on this machine, `make test` runs every test, `make validate` checks
# mirrors.d; each installs what is missing.
SWIFT ?= swift
DIR ?= mirrors.d

.PHONY: deps build demo test lint schema identity validate bench release release-test clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --product mirrorsync

# A master, two slaves and the watching reconciler on loopback ports, with a generated upstream; KEEP=1 leaves it running.
demo: deps
	SWIFT=$(SWIFT) KEEP=$(KEEP) scripts/demo.sh

# The fault suite, the connection tests and the identity test run after the rest, one test at a time: their load
# (whole sites, a thousand sockets) would starve the timing of the others on 2 cores, and theirs is timed too. The TLS
# site test with them: beside every other suite, one of its applies failed (then converged) twice in six runs.
test: deps lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --skip FaultTests --skip ConnectionLimitsTests --skip ConnectionLoadTests --skip IdentityTests \
		--skip TLSTests
	$(SWIFT) test --skip-build --filter 'FaultTests|ConnectionLimitsTests|ConnectionLoadTests|IdentityTests|TLSTests' \
		--no-parallel

# The Swift sources as `swift format` (shipped with the toolchain) writes them, by .swift-format; `swift format format
# --in-place --recursive --parallel Sources Tests Benchmarks Package.swift` writes them so.
lint:
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Benchmarks Package.swift

# schemas/mirrors.schema.json and the reference in docs/configuration.md (between its two marker lines), written by the
# built binary: `mirrorsync schema` and `mirrorsync schema --reference`. The tests fail while either copy is stale.
SCHEMA_BEGIN = <!-- BEGIN mirrorsync schema --reference -->
SCHEMA_END = <!-- END mirrorsync schema --reference -->
schema: build
	@set -e; bin="$$($(SWIFT) build --show-bin-path)/mirrorsync"; \
	for marker in '$(SCHEMA_BEGIN)' '$(SCHEMA_END)'; do \
		grep -qxF -- "$$marker" docs/configuration.md \
			|| { echo "make schema: docs/configuration.md has no line $$marker" >&2; exit 1; }; \
	done; \
	"$$bin" schema >.build/mirrors.schema.json; \
	"$$bin" schema --reference >.build/reference.md; \
	awk -v begin='$(SCHEMA_BEGIN)' -v end='$(SCHEMA_END)' \
		'$$0 == end { skip = 0 } !skip { print } $$0 == begin { while ((getline line < ".build/reference.md") > 0) print line; skip = 1 }' \
		docs/configuration.md >.build/configuration.md; \
	mv .build/mirrors.schema.json schemas/mirrors.schema.json; \
	mv .build/configuration.md docs/configuration.md; \
	echo "make schema: wrote schemas/mirrors.schema.json and the reference in docs/configuration.md"

# The randomized identity test alone, longer: ROUNDS rounds of random upstream changes in every publication mode, from
# SEED (make test runs 6 rounds from seed 21).
ROUNDS ?= 200
SEED ?= 21
identity: deps
	$(SWIFT) build --build-tests
	MIRRORSYNC_IDENTITY_ROUNDS=$(ROUNDS) MIRRORSYNC_IDENTITY_SEED=$(SEED) $(SWIFT) test --skip-build --filter IdentityTests

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
