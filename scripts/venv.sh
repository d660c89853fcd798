#!/usr/bin/env bash
# scripts/venv.sh: makes the project-local virtual environment .venv/ with the Python tools
# `make test` uses (tests/python-requirements.txt: openapi-spec-validator, Schemathesis,
# aiosmtpd), when it is missing or out of date. Installs Debian's python3-venv if needed.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=venv

VENV=$ROOT/.venv
REQUIREMENTS=$ROOT/tests/python-requirements.txt
STAMP=$VENV/.requirements.sha256
wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)

if [[ ! -x $VENV/bin/python || "$(cat "$STAMP" 2>/dev/null)" != "$wanted" ]]; then
    python3 -c 'import ensurepip, venv' 2>/dev/null || {
        apt_install python3-venv
    }
    say "making $VENV from $REQUIREMENTS"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$wanted" >"$STAMP"
fi
