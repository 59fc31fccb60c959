# Conduit's everyday commands. Each one is a thin wrapper: read the target to
# see the plain cargo/script command behind it.

.PHONY: run test lint fmt openapi conformance conformance-postgres fuzz bench bench-callgrind ci

## Serve the API on 127.0.0.1:8080 with SQLite under ./data (no setup needed).
run:
	cargo run --release

## All tests; the PostgreSQL suites too when CONDUIT_TEST_POSTGRES_URL is set.
test:
	cargo xtask test

## Formatting and lints, as CI checks them.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## Regenerate docs/openapi.json from the code.
openapi:
	cargo run --quiet --bin conduit -- openapi > docs/openapi.json

## The official RealWorld Postman suite against a fresh server (SQLite).
conformance:
	scripts/conformance.sh

## The same suite on a fresh PostgreSQL database (needs CONDUIT_TEST_POSTGRES_URL).
conformance-postgres:
	scripts/conformance.sh --postgres

## Property-based fuzzing of the API with schemathesis (installed under .tools/).
fuzz:
	scripts/fuzz.sh

## Load benchmark on SQLite against a ceiling server, then the instruction
## counts per request (see bench/README.md).
bench:
	bench/run.sh
	$(MAKE) --no-print-directory bench-callgrind

## Instructions per request under callgrind, of the binaries bench/run.sh built.
bench-callgrind:
	bench/callgrind.sh

## Everything CI runs.
ci:
	.ci/run
