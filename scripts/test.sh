#!/usr/bin/env bash
# The whole test suite: lint, unit and model tests, every notebook through nbval, then the built
# book in a browser. Each notebook runs once: nbval's run fills the cache the book build reads.
# Extra arguments go to pytest (e.g. -m "not slow" for the quick loop).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KOKORO_LAB_OFFLINE=1 HF_HUB_OFFLINE=1
.venv/bin/ruff check src tests notebooks bench conftest.py
.venv/bin/ruff format --check src tests notebooks bench conftest.py
.venv/bin/python -m pytest tests notebooks --nbval-lax --nbval-cell-timeout=900 -p no:cacheprovider "$@"
