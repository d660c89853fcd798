#!/usr/bin/env bash
# scripts/api-contract.sh: the OpenAPI contract check of `make test` (issue 14).
#
# Makes the project-local virtual environment .venv/ (openapi-spec-validator and
# Schemathesis at the versions pinned in tests/contract-requirements.txt) when it is
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
REQUIREMENTS=$ROOT/tests/contract-requirements.txt
STAMP=$VENV/.requirements.sha256
wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)

if [[ ! -x $VENV/bin/schemathesis || "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || {
        apt_install python3-venv
    }
    say "making $VENV from $REQUIREMENTS"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$wanted" >"$STAMP"
fi

export EHELPDESK_CONTRACT_VENV=$VENV
export SCHEMATHESIS_MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-10}
started=$SECONDS
cd "$ROOT"
${CARGO:-cargo} test -q -p ehelpdesk-tests --test api_contract -- --nocapture --test-threads 1
say "contract check passed in $((SECONDS - started)) s"
