"""The Core ML weight compressions applied to the PyTorch weights, to hear what they cost.

Core ML predictions run only on macOS, so the quality of a compressed package cannot be measured
here by running it. Instead the same transforms that ``coremltools.optimize.coreml`` applies
(:mod:`kokoro_lab.coreml.compress`) are applied to the torch weights, in place and reversibly:

* ``int8``: symmetric linear quantization with one scale per output channel;
* ``palettize6`` / ``palettize4``: a k-means look-up table of 64 / 16 values per tensor
  (the optimal 1-D k-means that coremltools ships and uses on float16 weights).

As in the conversion, only weights with at least ``WEIGHT_THRESHOLD`` elements are compressed, and
for weight-normalised convolutions the effective weight ``g · v / ‖v‖`` is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .compress import WEIGHT_THRESHOLD

MODES = ("int8", "palettize6", "palettize4")
BITS = {"int8": 8, "palettize6": 6, "palettize4": 4}


def quantize_int8(w: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 per output channel (dim 0), dequantized: w [C, ...] → same shape."""
    flat = w.reshape(w.shape[0], -1)  # [C, K]
    scale = flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127.0  # [C, 1]
    q = torch.round(flat / scale).clamp(-127, 127)
    return (q * scale).reshape(w.shape)


def palettize(w: torch.Tensor, nbits: int) -> torch.Tensor:
    """Replace every value by the nearest of 2**nbits k-means centroids (one table per tensor).

    As coremltools does for an fp16 program: the weights are float16, k-means runs on their
    distinct values weighted by their counts, and the table is stored in float16.
    """
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before any submodule
    from coremltools._deps import _kmeans1d as kmeans1d  # the weighted 1-D k-means coremltools ships

    bits = w.detach().reshape(-1).half().numpy().view(np.uint16)  # [N] float16 bit patterns
    counts = np.bincount(bits, minlength=65536)  # one bin per float16 value: O(N), no sort
    present = np.flatnonzero(counts)
    distinct = present.astype(np.uint16).view(np.float16).astype(np.float64)
    order = np.argsort(distinct)  # bit patterns are not in numeric order
    k = min(2**nbits, distinct.size)
    result = kmeans1d.cluster(distinct[order], k, weights=counts[present][order])
    table = np.asarray(result.centroids, dtype=np.float16).astype(np.float64)  # [k]
    lookup = np.zeros(65536, dtype=np.float64)
    lookup[present[order]] = table[np.asarray(result.clusters)]
    out = lookup[bits]
    return torch.from_numpy(out).to(w.dtype).reshape(w.shape)


def compress_tensor(w: torch.Tensor, mode: str) -> torch.Tensor:
    """``w`` after the ``mode`` compression and back to floats."""
    if mode == "int8":
        return quantize_int8(w)
    if mode in ("palettize6", "palettize4"):
        return palettize(w, BITS[mode])
    raise ValueError(f"Unknown compression {mode!r}; choose one of {', '.join(MODES)}.")


@dataclass
class CompressedWeight:
    """One weight the compression touches."""

    name: str
    numel: int
    rel_error: float  # ‖w' − w‖ / ‖w‖


def _targets(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Module, str]]:
    """(qualified name, module, attribute) of every weight that Core ML would compress."""
    for mname, module in model.named_modules():
        if hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            if module.weight_v.numel() >= WEIGHT_THRESHOLD:
                yield f"{mname}.weight", module, "weight_v"  # weight norm: compress g·v/‖v‖
            continue
        for pname, p in module.named_parameters(recurse=False):
            if p.dim() >= 2 and p.numel() >= WEIGHT_THRESHOLD:
                yield f"{mname}.{pname}", module, pname


def _weight_norm_dim(module: torch.nn.Module) -> int:
    for hook in module._forward_pre_hooks.values():
        if type(hook).__name__ == "WeightNorm":
            return hook.dim
    return 0


@contextlib.contextmanager
def compressed_weights(model: torch.nn.Module, mode: str) -> Iterator[list[CompressedWeight]]:
    """Within the block, ``model``'s large weights are the ``mode``-compressed ones; restored after.

    Yields the list of compressed weights with their relative errors.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown compression {mode!r}; choose one of {', '.join(MODES)}.")
    saved: list[tuple[torch.nn.Module, str, torch.Tensor]] = []
    report: list[CompressedWeight] = []
    try:
        with torch.no_grad():
            for name, module, attr in list(_targets(model)):
                if attr == "weight_v":  # weight-normalised: compress the effective weight
                    dim = _weight_norm_dim(module)
                    v, g = module.weight_v, module.weight_g
                    w = torch._weight_norm(v, g, dim)
                    new = compress_tensor(w, mode)
                    saved += [
                        (module, "weight_v", v.detach().clone()),
                        (module, "weight_g", g.detach().clone()),
                    ]
                    # g·v/‖v‖ with v = new and g = ‖new‖ gives back new; a channel that is all
                    # zeros (some are, in the checkpoint) keeps its v, with g = 0, to avoid 0/0
                    norm = torch.norm_except_dim(new, 2, dim)
                    v.copy_(torch.where(norm > 0, new, v))
                    g.copy_(norm)
                else:
                    p = getattr(module, attr)
                    w = p.detach().clone()
                    new = compress_tensor(w, mode)
                    saved.append((module, attr, w))
                    p.copy_(new)
                report.append(
                    CompressedWeight(name, w.numel(), float((new - w).norm() / w.norm().clamp(min=1e-12)))
                )
        yield report
    finally:
        with torch.no_grad():
            for module, attr, value in reversed(saved):
                getattr(module, attr).copy_(value)


def compressed_megabytes(model: torch.nn.Module, mode: str | None, float_bytes: int = 2) -> float:
    """Weight storage in MB: compressed weights at their bit width (plus tables or scales), the
    rest at ``float_bytes`` per value. An estimate of the package's weight file, not its size."""
    targets = {id(getattr(m, a)) for _, m, a in _targets(model)}
    total = 0.0
    for p in model.parameters():
        if id(p) in targets and mode is not None:
            bits = BITS[mode]
            extra = p.shape[0] * float_bytes if mode == "int8" else (2**bits) * float_bytes
            total += p.numel() * bits / 8 + extra
        else:
            total += p.numel() * float_bytes
    return total / 1e6
