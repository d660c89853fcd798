#!/usr/bin/env bash
# scripts/with-services.sh COMMAND [ARG...]
#
# Brings NATS and PostgreSQL up (scripts/services.sh up), runs COMMAND with NATS_URL and
# DATABASE_URL in its environment, then stops whatever this call had to start (servers
# that were already running are left alone). Exits with COMMAND's status.
# KEEP_SERVICES=1 leaves the started servers running (stop them with `make services-down`).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=services

[[ $# -gt 0 ]] || die "usage: $0 COMMAND [ARG...]"
export NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ehelpdesk}

mkdir -p "$DATA"
session=$(mktemp "$DATA/session.XXXXXX")

# shellcheck disable=SC2317  # called by the traps
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ ${KEEP_SERVICES:-0} == 1 ]]; then
        [[ -s $session ]] && say "KEEP_SERVICES=1: leaving the servers started for this run up ('make services-down' stops them)"
    else
        "$ROOT/scripts/services.sh" down --session "$session" || rc=1
    fi
    rm -f "$session"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/scripts/services.sh" up --session "$session"
rc=0
"$@" || rc=$?
exit "$rc"
