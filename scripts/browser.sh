#!/usr/bin/env bash
# scripts/browser.sh: makes sure Debian's Chromium and ChromeDriver are installed, for the web
# app's browser tests (`make test`). Installs the packages `chromium` and `chromium-driver`
# when either is missing (apt-get; needs root or sudo).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOG_TAG=browser

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    apt_install chromium chromium-driver
fi
chromedriver --version >/dev/null || die "chromedriver does not run"
