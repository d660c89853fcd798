#!/usr/bin/env bash
# scripts/sqlx-prepare.sh [--check]
#
# Records what sqlx's compile-time-checked queries (`sqlx::query!` and friends) need to
# build offline: each statement's parameter and column types, described by PostgreSQL
# against a scratch database migrated with migrations/. Writes `.sqlx/` (commit it), or with
# --check fails when the committed `.sqlx/` differs from what the code and migrations need
# now (a query or a migration changed without re-running this script). Needs the
# PostgreSQL of DATABASE_URL (scripts/with-services.sh provides it).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=sqlx
cd "$ROOT"

check=false
[[ ${1:-} == --check ]] && check=true
server=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ehelpdesk}
server=${server%/*}
scratch="ehelpdesk_sqlx_$$"
out=$(mktemp -d)
cleanup() {
    psql -q "$server/postgres" -c "DROP DATABASE IF EXISTS $scratch" >/dev/null 2>&1 || true
    rm -rf "$out"
}
trap cleanup EXIT

psql -q "$server/postgres" -c "CREATE DATABASE $scratch" >/dev/null
for migration in migrations/*.sql; do
    psql -q -v ON_ERROR_STOP=1 -1 "$server/$scratch" -f "$migration" >/dev/null
done

# The macros write one file per statement when they expand against a live database with
# SQLX_OFFLINE_DIR set. They expand in a target directory of their own, with the workspace's
# crates cleaned from it so that they expand again, leaving the build's target/ untouched.
target_dir="$ROOT/target/sqlx-prepare"
for package in $(cargo metadata -q --no-deps --format-version 1 | python3 -c \
    'import json, sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"]))'); do
    cargo clean -q --target-dir "$target_dir" -p "$package"
done
SQLX_OFFLINE=false DATABASE_URL="$server/$scratch" SQLX_OFFLINE_DIR="$out" \
    cargo check -q --workspace --all-targets --target-dir "$target_dir"

if $check; then
    if diff -r -q .sqlx "$out" >/dev/null 2>&1; then
        say ".sqlx/ matches the queries and migrations"
    else
        diff -r .sqlx "$out" || true
        die ".sqlx/ is out of date: run scripts/sqlx-prepare.sh and commit .sqlx/"
    fi
else
    rm -rf .sqlx
    cp -r "$out" .sqlx
    say "wrote $(find .sqlx -name '*.json' | wc -l) statement(s) to .sqlx/"
fi
