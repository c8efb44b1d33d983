#!/usr/bin/env bash
# The whole test suite. SQLite by default; PostgreSQL when DATABASE_URL is set
# (e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/doppel). Extra
# arguments go to pytest (e.g. ./scripts/test.sh tests/rights -x).
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests drive Debian's chromium: the test command installs it.
DOPPEL_SETUP_BROWSER=1 ./scripts/setup.sh
export PYTHONUNBUFFERED=1
echo "[test] database: ${DATABASE_URL:-embedded SQLite}" >&2
exec .venv/bin/python -m pytest "$@"
