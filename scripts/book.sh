#!/usr/bin/env bash
# Build the HTML book into _build/html, executing every notebook with the offline weights.
# Fails on any cell error or Sphinx warning.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KOKORO_LAB_OFFLINE=1 HF_HUB_OFFLINE=1
start=$(date +%s)
.venv/bin/jupyter-book build . --warningiserror --keep-going ${CI:+--all}
echo "book: built in $(( $(date +%s) - start )) s → _build/html/index.html"
