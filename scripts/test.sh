#!/usr/bin/env bash
# The test run: services up once, every test, services down (whatever the outcome).
#   bash scripts/test.sh [pytest args]        (what `make test` runs after set-up)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh start
trap 'bash scripts/services.sh stop' EXIT
.venv/bin/python -m pytest "$@"
