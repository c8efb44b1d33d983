#!/usr/bin/env bash
# The main job: install, migrate the embedded SQLite database, create the demo
# world, run the web server and a django-q2 cluster, and walk one generation
# through the real system. Ctrl-C stops everything.
# Options go to `manage.py demo` (e.g. --port 8080, --no-serve).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export PYTHONUNBUFFERED=1
exec .venv/bin/python manage.py demo "$@"
