#!/usr/bin/env bash
# Prints the development token secret: $JWT_HS256_SECRET if set, else the one kept in
# .data/jwt-secret, generated (32 random bytes, hex) the first time. Development only:
# production uses the portal's keys (JWT_JWKS_URL) or a secret from a secret store.
set -euo pipefail
if [[ -n ${JWT_HS256_SECRET:-} ]]; then
    printf '%s\n' "$JWT_HS256_SECRET"
    exit 0
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file="$root/.data/jwt-secret"
if [[ ! -s $file ]]; then
    mkdir -p "$root/.data"
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file")
fi
cat "$file"
echo
