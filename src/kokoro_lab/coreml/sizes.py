"""Package size from a compression scheme: what the weights cost, plus the rest of the package.

:func:`weight_megabytes` adds up the weights as the traced program stores them: each compressed
weight as its scheme stores it (:meth:`~kokoro_lab.coreml.schemes.Scheme.stored_bytes`: packed
indices or integers plus tables or scales), everything else in float16. It skips what the program
does not hold as a parameter: ALBERT's pooler (unused by Kokoro, dropped by tracing), its
position table (sliced to the bucket and folded with other constants) and the ``weight_g`` of
weight-normalised layers (folded into the one effective weight).

A package also holds other constants (position ramps, the STFT's masks, float32 island
constants) that grow with the bucket. :func:`package_megabytes` takes them from a measured fp16
package of the same bucket: its size minus its float16 weights. ``bench/package_check.py``
compares the result with compressed packages written by coremltools.
"""

from __future__ import annotations

import torch

from .schemes import FLOAT16_BYTES, Variant, get_variant
from .weight_compression import weight_axes, weight_targets

PROGRAM_DROPS = ("bert.pooler.", "bert.embeddings.position_embeddings.")


def weight_megabytes(model: torch.nn.Module, mode: str | Variant | None) -> float:
    """MB of ``model``'s weights in a package compressed with ``mode`` (None: plain float16)."""
    variant = None if mode is None else get_variant(mode)
    targets = {id(getattr(m, a)): (n, m) for n, m, a in weight_targets(model)}
    folded = {id(m.weight_g) for _, m, a in weight_targets(model) if a == "weight_v"}
    total = 0.0
    for pname, p in model.named_parameters():
        if pname.startswith(PROGRAM_DROPS) or id(p) in folded:
            continue
        scheme = None
        if id(p) in targets and variant is not None:
            name, module = targets[id(p)]
            scheme = variant.scheme_for(name) if variant.overrides else variant.default
        if scheme is None:
            total += p.numel() * FLOAT16_BYTES
        else:
            total += scheme.stored_bytes(tuple(p.shape), *weight_axes(targets[id(p)][1]))
    return total / 1e6


def package_megabytes(model: torch.nn.Module, mode: str | Variant | None, fp16_package_mb: float) -> float:
    """Estimated MB of a package compressed with ``mode``, given the measured size of the plain
    fp16 package of the same bucket (``bench/results/conversion.json``)."""
    other = fp16_package_mb - weight_megabytes(model, None)
    return weight_megabytes(model, mode) + other
