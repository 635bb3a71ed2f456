"""Compressed weights kept on disk, so a k-means that took a minute is not run again.

Grouped palettes run coremltools' k-means once per group of 16 output channels: the recommended
variant takes about a minute and a half on two cores, every time. The result depends only on the
weights and the scheme (coremltools' k-means is seeded), so :class:`CompressionCache` stores it in
the user cache (``KOKORO_LAB_CACHE``), under a fingerprint of the weights that would be
compressed: another checkpoint, or fine-tuned weights, get a file of their own.

The file holds float16 tensors (the emulated weights are float16 values) and a checksum; it is
written atomically and read with ``weights_only=True``. A file that fails its checksum is refused
with a message, never used.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import cache_dir
from ..torch_files import CorruptFileError, load_torch_file, save_torch_file, tensor_checksum
from .schemes import Scheme
from .weight_compression import effective_weight, weight_targets

FORMAT = 1


def weights_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of every weight Core ML would compress, as the model computes it."""
    with torch.no_grad():
        weights = {name: effective_weight(module, attr) for name, module, attr in weight_targets(model)}
    return tensor_checksum(weights)[:16]


class CompressionCache(dict):
    """A ``cache`` for :func:`~kokoro_lab.coreml.weight_compression.compressed_weights`, backed by a file.

    Keys are ``(weight name, Scheme)``, values the decompressed weights. Entries found on disk are
    loaded at construction; :meth:`save` writes the file again when entries were added.

    Args:
        model: the model whose weights are compressed (its fingerprint names the file).
        directory: where the file goes; default ``<cache_dir>/compressed_weights``.
    """

    def __init__(self, model: torch.nn.Module, directory: str | Path | None = None):
        super().__init__()
        self.fingerprint = weights_fingerprint(model)
        folder = Path(directory) if directory is not None else cache_dir() / "compressed_weights"
        self.path = folder / f"{self.fingerprint}.pt"
        self._stored = 0
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        fix = "it will be rebuilt on the next run"
        payload = load_torch_file(self.path, "compressed-weight cache", fix)
        tensors = payload.get("tensors", {})
        if payload.get("format") != FORMAT or payload.get("fingerprint") != self.fingerprint:
            raise CorruptFileError(f"{self.path} was written for other weights or another format; delete it.")
        if tensor_checksum(tensors) != payload.get("checksum"):
            raise CorruptFileError(f"{self.path} fails its checksum; delete it ({fix}).")
        schemes = payload["schemes"]
        for key, t in tensors.items():
            name, index = key.rsplit("|", 1)
            self[(name, Scheme(**schemes[int(index)]))] = t.float()
        self._stored = len(self)

    def save(self) -> Path | None:
        """Write every entry to the file (atomically); nothing when no entry was added."""
        if len(self) == self._stored:
            return None
        schemes = sorted({scheme for _, scheme in self}, key=repr)
        index = {scheme: i for i, scheme in enumerate(schemes)}
        tensors = {f"{name}|{index[scheme]}": t.to(torch.float16) for (name, scheme), t in self.items()}
        payload = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "schemes": [vars(s) for s in schemes],
            "tensors": tensors,
            "checksum": tensor_checksum(tensors),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_torch_file(payload, self.path)
        self._stored = len(self)
        return self.path
