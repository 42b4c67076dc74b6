#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries are on this machine, so the store's contract tests
# can start a throwaway server (tests/support/postgres.py starts and stops it).
# Skipped when ISTHMUS_TEST_PG_URL points at a server already. Installs Debian's package
# when missing and we are root; otherwise says loudly that PostgreSQL tests will skip.
set -euo pipefail
if [ -n "${ISTHMUS_TEST_PG_URL:-}" ]; then
  echo "ensure-postgres: using ISTHMUS_TEST_PG_URL"; exit 0
fi
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "ensure-postgres: installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  exit 0
fi
echo "ensure-postgres: WARNING: no PostgreSQL server binaries and cannot install them;" \
     "PostgreSQL store tests will SKIP (set ISTHMUS_TEST_PG_URL to use a server)" >&2
