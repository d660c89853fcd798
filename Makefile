# eHelpdesk: `make run` and `make test` are all the set-up a Debian machine with Rust needs.
# NATS JetStream and PostgreSQL are used where they already answer, else installed (Debian
# packages) and started under .data/ by scripts/services.sh. `make help` lists the targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-print-directory

# Local defaults; set them in the environment (or on the command line) to use other servers.
NATS_URL ?= nats://127.0.0.1:4222
DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ehelpdesk
export NATS_URL DATABASE_URL

# With committed sqlx offline data, build from it rather than from the live database
# (which may not be migrated yet). Override with SQLX_OFFLINE=false.
ifneq ($(wildcard .sqlx),)
SQLX_OFFLINE ?= true
export SQLX_OFFLINE
endif

CARGO ?= cargo

.PHONY: help run demo token test test-faults contract lint sqlx-prepare sqlx-check fuzz bench bench-quick services-up services-down services-status deploy-check ci

help: ## list the targets
	@echo "eHelpdesk. Usage: make <target>   (NATS_URL=$(NATS_URL), DATABASE_URL=$(DATABASE_URL))"
	@echo
	@grep -E '^[a-z][a-z-]*:.*## ' $(firstword $(MAKEFILE_LIST)) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  %-16s %s\n", $$1, $$2 }'

run: ## start NATS + PostgreSQL if needed, build, run the services and the web app on :8082 (Ctrl-C stops all)
	exec scripts/run.sh

demo: ## walk the flow of domain.md against a running system (make run in another terminal)
	JWT_HS256_SECRET="$$(scripts/dev-secret.sh)" $(CARGO) run --release -q -p ehelpdesk-tests --bin ehelpdesk-demo

ID ?= admin-siti
ROLE ?= admin
NAME ?= Siti Admin
PROFILE ?=
token: ## mint a development token: make token ID=pic-aminah ROLE=pic NAME="Aminah" [PROFILE="--ic .. --email .. --phone .. --ptj .."]
	@JWT_HS256_SECRET="$$(scripts/dev-secret.sh)" $(CARGO) run --release -q -p ehelpdesk-shared --bin ehelpdesk-token -- "$(ID)" "$(ROLE)" "$(NAME)" $(PROFILE)

bench: ## throughput and latency beside the machine's limits (about 10 min); bench/results/
	$(CARGO) build --release --bins
	scripts/venv.sh
	scripts/smtp-sink.sh
	exec scripts/with-services.sh target/release/ehelpdesk-bench

bench-quick: ## the same at small sizes (about a minute)
	$(CARGO) build --release --bins
	scripts/venv.sh
	scripts/smtp-sink.sh
	exec scripts/with-services.sh target/release/ehelpdesk-bench --quick

FUZZ_SECONDS ?= 60
fuzz: ## fuzz event and command decoding, FUZZ_SECONDS each (installs cargo-fuzz if missing)
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for target in decode_event decode_command; do \
		mkdir -p corpus/$$target && cp -n seeds/$$target/* corpus/$$target/ ; \
		RUSTC_BOOTSTRAP=1 cargo fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) ; \
	done

# The end-to-end tests start the built service binaries (target/debug/ehelpdesk-*), which
# `cargo test` alone does not build for another package: build them first. The notifier's
# tests deliver to aiosmtpd from the project-local .venv/ (scripts/venv.sh); the web app's
# drive Debian's Chromium through ChromeDriver (scripts/browser.sh installs both). Then the API
# contract check (scripts/api-contract.sh): openapi-spec-validator and Schemathesis from a
# project-local .venv/ against both services.
test: ## build the binaries, make .venv/ and install Chromium if needed, start NATS + PostgreSQL if needed, cargo test --workspace, the API contract check
	$(CARGO) build --workspace --bins
	scripts/venv.sh
	scripts/browser.sh
	exec scripts/with-services.sh bash -c '$(CARGO) test --workspace && CARGO=$(CARGO) scripts/api-contract.sh'

contract: ## only the API contract check (openapi-spec-validator + Schemathesis, makes .venv/ if missing)
	exec scripts/with-services.sh scripts/api-contract.sh

# tests/tests/faults.rs alone, with the figures it prints (make test runs it too).
test-faults: ## the fault experiments (NATS, PostgreSQL, 3-node cluster, rebuild) and their report, about 2 min
	$(CARGO) build --workspace --bins
	exec scripts/with-services.sh $(CARGO) test -p ehelpdesk-tests --test faults -- --nocapture

lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

sqlx-prepare: ## after changing a query!/migration: record .sqlx/ (the offline data the build checks queries with)
	exec scripts/with-services.sh scripts/sqlx-prepare.sh

sqlx-check: ## fail when the committed .sqlx/ differs from what the queries and migrations need (CI runs it)
	exec scripts/with-services.sh scripts/sqlx-prepare.sh --check

services-up: ## start NATS (JetStream) and PostgreSQL unless they already answer
	scripts/services.sh up

services-down: ## stop the servers services-up/run/test started (never others)
	scripts/services.sh down

services-status: ## show what answers at NATS_URL and DATABASE_URL
	scripts/services.sh status

deploy-check: ## validate deploy/: NATS configs, YAML, systemd units
	scripts/deploy-check.sh

ci: ## what CI runs (.ci/run): fmt, clippy, sqlx-check, test, deploy-check
	.ci/run
