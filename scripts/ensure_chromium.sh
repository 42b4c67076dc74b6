#!/usr/bin/env bash
# Debian's chromium for the console's browser tests (tests/console), installed when missing.
# Idempotent and quiet when it is there. Playwright drives this executable; it never
# downloads a browser of its own. Without root or apt-get it says so and leaves the
# browser tests to skip (loudly, with this reason).
set -euo pipefail
CHROMIUM="${ISTHMUS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: no $CHROMIUM and no apt-get: the console's browser tests will skip" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    else
        echo "ensure_chromium: not root and no sudo: the console's browser tests will skip" >&2
        exit 0
    fi
fi
echo "ensure_chromium: installing Debian's chromium" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
if ! $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null; then
    echo "ensure_chromium: apt-get install chromium failed: the browser tests will skip" >&2
fi
