#!/usr/bin/env bash
# scripts/smtp-sink.sh: makes sure Postfix's smtp-sink (a small, fast SMTP server written
# for measuring mail clients) is under .tools/postfix/, for `make bench`. Only the package's
# files are unpacked there (apt-get download + dpkg-deb -x): no mail daemon is installed,
# configured or started. The bench finds it there (or at $EHELPDESK_SMTP_SINK).
#
# The tests keep aiosmtpd (scripts/venv.sh): it can refuse recipients and store a Maildir.
# The bench needs a server faster than the notifier, so that the figures measure the notifier
# and not the server: aiosmtpd accepts about 130 messages a second here, smtp-sink thousands.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=smtp-sink

TOOLS=$ROOT/.tools/postfix
BINARY=$TOOLS/usr/sbin/smtp-sink

if [[ ! -x $BINARY ]]; then
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: the bench needs Postfix's smtp-sink"
    download=$(mktemp -d)
    trap 'rm -rf "$download"' EXIT
    say "fetching Debian's postfix package for its smtp-sink (unpacked under $TOOLS, not installed)"
    if ! (cd "$download" && apt-get download postfix >/dev/null 2>&1); then
        # A fresh machine may have no package lists yet.
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        (cd "$download" && apt-get download postfix >/dev/null 2>&1) || die "apt-get download postfix failed"
    fi
    mkdir -p "$TOOLS"
    dpkg-deb -x "$download"/postfix_*.deb "$TOOLS"
fi
# Its shared libraries sit beside it, not in the system's library path.
usage=$(LD_LIBRARY_PATH=$TOOLS/usr/lib/postfix "$BINARY" 2>&1 || true)
[[ $usage == *usage* ]] || die "$BINARY does not run: $usage"
