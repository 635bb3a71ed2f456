"""Torch files that can be trusted: atomic saves, safe loads (``weights_only=True``), checksums.

Three things can go wrong when a file is read back, and each gets its own message: the file is
missing, it is unreadable (truncated, overwritten, not a torch file), or its contents fail their
checksum. Callers add the fourth, a file written for another model or settings.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from .atomic import atomic_path


class CorruptFileError(ValueError):
    """A checkpoint or cache file cannot be read or fails its checksum."""


def tensor_checksum(tensors: dict[str, torch.Tensor] | list[torch.Tensor]) -> str:
    """SHA-256 over the names, shapes, dtypes and bytes of ``tensors`` (a dict is taken in key order)."""
    h = hashlib.sha256()
    items = sorted(tensors.items()) if isinstance(tensors, dict) else enumerate(tensors)
    for name, t in items:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_torch_file(path: str | os.PathLike, what: str, fix: str) -> dict:
    """``torch.load(path, weights_only=True)`` that turns any failure into a message naming the file.

    Args:
        path: the file. what: what it is ("checkpoint", "corpus cache"). fix: what to do about a
            bad file ("retrain", "rebuild it with build_corpus").

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: the file cannot be unpickled or does not hold a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No {what} at {path}; check the path ({fix} to create it).")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip errors, unpickling errors, EOF, ... all mean the same to a reader
        raise CorruptFileError(
            f"Cannot read the {what} {path} ({type(err).__name__}: {err}). The file is truncated, "
            f"corrupt or not a {what}; delete it and {fix}."
        ) from err
    if not isinstance(obj, dict):
        raise CorruptFileError(f"{path} holds a {type(obj).__name__}, not a {what}; delete it and {fix}.")
    return obj


def check_format(obj: dict, path: str | os.PathLike, what: str, fmt: str, version: int, fix: str) -> dict:
    """``obj`` if its ``"format"`` and ``"version"`` are ``fmt`` and ``version``.

    Raises:
        CorruptFileError: naming the file, what it should be, what it holds, and ``fix``.
    """
    if obj.get("format") != fmt or obj.get("version") != version:
        raise CorruptFileError(
            f"{path} is not a version-{version} {what} (format {obj.get('format')!r}, "
            f"version {obj.get('version')!r}); {fix}."
        )
    return obj


def save_torch_file(payload: dict, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """``torch.save(payload)`` to ``path`` atomically: a crash mid-write leaves any old file intact."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)
    return Path(path)
