#!/usr/bin/env bash
# The whole test suite: lint, unit and model tests, then every notebook through nbval.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KOKORO_LAB_OFFLINE=1 HF_HUB_OFFLINE=1
.venv/bin/ruff check src tests notebooks
.venv/bin/ruff format --check src tests notebooks
.venv/bin/python -m pytest tests notebooks --nbval-lax --nbval-cell-timeout=900 -p no:cacheprovider "$@"
