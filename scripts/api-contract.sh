#!/usr/bin/env bash
# scripts/api-contract.sh: the OpenAPI contract check of `make test` (issue 14).
#
# Makes the project-local virtual environment .venv/ (scripts/venv.sh: openapi-spec-validator
# and Schemathesis at the versions pinned in tests/python-requirements.txt) when it is
# missing or out of date, then runs tests/tests/api_contract.rs with it: both services
# in-process on free ports against a fresh stream and database, seeded with staff and
# complaints, each document validated, and Schemathesis (all checks) run against each
# service as admin, PIC and complainant. Needs NATS and PostgreSQL (scripts/with-services.sh).
# SCHEMATHESIS_MAX_EXAMPLES (default 10) bounds the test cases per operation and phase.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=contract

VENV=$ROOT/.venv
"$ROOT/scripts/venv.sh"

export EHELPDESK_CONTRACT_VENV=$VENV
export SCHEMATHESIS_MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-10}
started=$SECONDS
cd "$ROOT"
${CARGO:-cargo} test -q -p ehelpdesk-tests --test api_contract -- --nocapture --test-threads 1
say "contract check passed in $((SECONDS - started)) s"
