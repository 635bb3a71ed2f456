#!/usr/bin/env bash
# Create .venv with the pinned dependencies and prepare the offline weights. Idempotent: a stamp
# records what was installed, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.kokoro-lab-setup
want=$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "setup: creating $VENV and installing pinned dependencies…"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # torch first and on its own: the exact pin resolves to the CPU wheel and nothing newer.
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
  "$VENV/bin/python" -m pip install --quiet -c requirements.lock -e ".[dev]"
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (kokoro-lab)" >/dev/null
  echo "$want" > "$STAMP"
fi

# Rebuild the fp32 weights from the int8 ONNX export once (cached in ~/.cache/kokoro_lab).
KOKORO_LAB_OFFLINE=1 "$VENV/bin/python" -c "
from kokoro_lab.original.checkpoint import rebuilt_checkpoint
print('setup: offline weights ready:', rebuilt_checkpoint())"
