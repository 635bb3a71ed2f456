#!/usr/bin/env bash
# Create .venv with the pinned dependencies and prepare the offline weights. Idempotent: a stamp
# records what was installed, so a second run takes seconds.
# PYTHON=/path/to/python3.x chooses the interpreter for .venv; otherwise the first supported one
# on PATH is used.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP=$VENV/.kokoro-lab-setup
SUPPORTED="3.10, 3.11 or 3.12"  # pyproject.toml: requires-python = ">=3.10,<3.13"
CANDIDATES="python3.11 python3.12 python3.10 python3 python"  # 3.11 first: requirements.lock was resolved on it

# "3.11" for an interpreter that runs, nothing (and a failure) otherwise.
python_version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

is_supported() {
  case "$1" in 3.10 | 3.11 | 3.12) return 0 ;; *) return 1 ;; esac
}

# The interpreter to create .venv with: $PYTHON when set (it must be supported), else the first
# supported one of $CANDIDATES on PATH. Each candidate's version is checked: `python3` may be 3.13.
pick_python() {
  local candidate version
  if [ -n "${PYTHON:-}" ]; then
    version=$(python_version "$PYTHON") || {
      echo "setup: PYTHON=$PYTHON does not run; kokoro-lab needs Python $SUPPORTED" >&2
      return 1
    }
    if ! is_supported "$version"; then
      echo "setup: PYTHON=$PYTHON is Python $version; kokoro-lab needs Python $SUPPORTED" >&2
      return 1
    fi
    echo "$PYTHON"
    return 0
  fi
  for candidate in $CANDIDATES; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    version=$(python_version "$candidate") || continue
    if is_supported "$version"; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "setup: no supported Python on PATH (tried $CANDIDATES); kokoro-lab needs Python $SUPPORTED." >&2
  echo "setup: install one, or set PYTHON=/path/to/python3.x" >&2
  return 1
}

# Stop at once, before installing anything, when there is no interpreter to use.
requested=${PYTHON:-}
PYTHON=$(pick_python) || exit 1
if [ -x "$VENV/bin/python" ]; then
  # An existing .venv is kept: check it too (an older setup may have made it with another Python).
  venv_version=$(python_version "$VENV/bin/python") || venv_version="broken"
  if ! is_supported "$venv_version"; then
    echo "setup: $VENV has Python $venv_version; kokoro-lab needs Python $SUPPORTED: remove $VENV and run again" >&2
    exit 1
  fi
  if [ -n "$requested" ] && [ "$(python_version "$PYTHON")" != "$venv_version" ]; then
    echo "setup: $VENV already has Python $venv_version, so PYTHON=$requested is not used (remove $VENV to switch)" >&2
  fi
fi

# torch is pinned in requirements.lock only.
TORCH=$(grep -m1 -E '^torch==' requirements.lock | tr -d '\r' || true)
if [ -z "$TORCH" ]; then
  echo "setup: requirements.lock has no torch== line" >&2
  exit 1
fi

want=$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  echo "setup: creating $VENV and installing pinned dependencies…"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # torch first and on its own: the exact pin resolves to the CPU wheel and nothing newer.
  "$VENV/bin/python" -m pip install --quiet "$TORCH"
  "$VENV/bin/python" -m pip install --quiet -c requirements.lock -e ".[dev]"
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (kokoro-lab)" >/dev/null
  echo "$want" > "$STAMP"
fi

# Rebuild the fp32 weights from the int8 ONNX export once (cached in ~/.cache/kokoro_lab).
KOKORO_LAB_OFFLINE=1 "$VENV/bin/python" -c "
from kokoro_lab.original.checkpoint import rebuilt_checkpoint
print('setup: offline weights ready:', rebuilt_checkpoint())"
