"""Kokoro-82M configuration and the constants shared across the package."""

from __future__ import annotations

import functools
import json
import os
from importlib import resources
from pathlib import Path

SAMPLE_RATE = 24_000  # Hz
SAMPLES_PER_FRAME = 600  # one duration frame = 600 samples = 25 ms, i.e. 40 frames per second
FRAMES_PER_SECOND = SAMPLE_RATE // SAMPLES_PER_FRAME
MAX_PHONEME_TOKENS = 510  # ALBERT's 512 positions minus the two boundary tokens
STYLE_DIM = 256  # ref_s: [:128] decoder style, [128:] prosody-predictor style
REPO_ID = "hexgrad/Kokoro-82M"


@functools.cache
def load_config() -> dict:
    """Return Kokoro-82M's ``config.json`` (shipped with the package; identical to the hub's)."""
    text = resources.files("kokoro_lab").joinpath("data", "config.json").read_text("utf-8")
    return json.loads(text)


def config_path() -> Path:
    """Path of the packaged ``config.json`` (``kokoro.KModel`` takes a path)."""
    return Path(str(resources.files("kokoro_lab").joinpath("data", "config.json")))


def cache_dir() -> Path:
    """The user cache directory for rebuilt weights (``KOKORO_LAB_CACHE`` overrides it)."""
    base = os.environ.get("KOKORO_LAB_CACHE")
    if base:
        path = Path(base)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(xdg) / "kokoro_lab"
    path.mkdir(parents=True, exist_ok=True)
    return path
