# VSS. The README's two commands are `make demo` and `make test`; the rest is for developers.
#
# Cargo's own settings apply (CARGO_TARGET_DIR, CARGO_BUILD_JOBS, ...). Override the cargo
# binary with `make CARGO=...`.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# Seconds each fuzz target runs under `make fuzz`.
FUZZ_SECONDS ?= 60

.PHONY: help demo test deps deps-build postgres build rust-test sipp lint bench fuzz

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-11s %s\n", $$1, $$2 }'

demo: deps-build ## Install what is missing, build in release mode, run `vss serve --demo`
	$(CARGO) run --release --bin vss -- serve --demo

test: deps ## Install what is missing, start PostgreSQL, build and run every test
	@url="$$(scripts/start-postgres.sh)"; \
	export VSS_TEST_PG_URL="$$url"; \
	echo "make test: PostgreSQL for the tests: VSS_TEST_PG_URL=$$url"; \
	for step in build rust-test sipp; do $(MAKE) --no-print-directory "$$step"; done

deps: ## Install the missing Debian/Ubuntu packages for building and testing
	@scripts/install-deps.sh test

deps-build: ## Install the missing Debian/Ubuntu packages for building only
	@scripts/install-deps.sh build

postgres: ## Start PostgreSQL if it is not running; print the URL tests use
	@scripts/start-postgres.sh

build: ## Build every crate and target (tests, benches) of the workspace
	$(CARGO) build --workspace --all-targets

rust-test: ## Run the Rust tests (unit, integration, doc); reads VSS_TEST_PG_URL
	$(CARGO) test --workspace

sipp: ## Run the SIPp scenarios of tests/sipp/run.sh, when there are any
	@if [[ -f tests/sipp/run.sh ]]; then \
		bash tests/sipp/run.sh; \
	else \
		echo "make sipp: no tests/sipp/run.sh yet, no SIPp scenarios to run"; \
	fi

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: ## Run the criterion benchmarks
	$(CARGO) bench --workspace

fuzz: ## Run each cargo-fuzz target for FUZZ_SECONDS (default 60) on stable
	@if [[ ! -d fuzz ]]; then echo "make fuzz: there is no fuzz/ directory yet" >&2; exit 1; fi
	@if ! $(CARGO) fuzz --version >/dev/null 2>&1; then \
		echo "make fuzz: needs cargo-fuzz: cargo install cargo-fuzz" >&2; exit 1; \
	fi
	@for target in $$($(CARGO) fuzz list); do \
		echo "make fuzz: $$target for $(FUZZ_SECONDS) s"; \
		$(CARGO) fuzz run "$$target" -s none -- -max_total_time=$(FUZZ_SECONDS); \
	done
