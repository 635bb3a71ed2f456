"""The Core ML weight compressions applied to the PyTorch weights, to hear what they cost.

Core ML predictions run only on macOS, so the quality of a compressed package cannot be measured
here by running it. Instead the compression is applied to the torch weights, in place and
reversibly, with coremltools' own functions (:func:`compress_array`): the weights are rounded to
float16 as in an fp16 program, then compressed and decompressed exactly as
``coremltools.optimize.coreml`` does for each ``const`` (k-means tables with the same k-means,
the same block sizes, the same output-channel axis: 1 for a transposed convolution, 0 otherwise).
Every scheme of :mod:`.schemes` is available, per tensor or per layer group (a :class:`Variant`).
``tests/test_compression_schemes.py`` compares the result with the weights read back from a
compressed package.

As in the conversion, only weights with more than ``WEIGHT_THRESHOLD`` elements are compressed,
and for weight-normalised convolutions the effective weight ``g · v / ‖v‖`` is (tracing folds it
into one constant).

:func:`quantize_int8` and :func:`palettize` are the two classic transforms written out in torch,
for reading; the emulation does not use them.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .compress import WEIGHT_THRESHOLD
from .schemes import LINEAR, MODES, Scheme, Variant, get_variant

__all__ = [
    "MODES",
    "CompressedWeight",
    "compress_array",
    "compress_tensor",
    "compressed_megabytes",
    "compressed_weights",
    "palettize",
    "quantize_int8",
    "weight_axes",
    "weight_targets",
]


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


def compress_tensor(w: torch.Tensor, mode: str | Scheme, out_axis: int = 0, in_axis: int = 1) -> torch.Tensor:
    """``w`` after compression by ``mode`` (a variant name or a :class:`Scheme`) and back to floats.

    Args:
        w: a weight [C_out, C_in, ...] (or [C_in, C_out, K] for a transposed convolution, with
            ``out_axis=1, in_axis=0``).
        mode: a variant name without per-layer overrides ("int8", "grouped4", …) or a scheme.

    Returns:
        The decompressed weight, same shape and dtype; unchanged where coremltools would leave it
        (a dimension that does not divide into the groups or blocks).
    """
    scheme = mode if isinstance(mode, Scheme) else get_variant(mode).default
    if scheme is None:
        return w.clone()
    out = compress_array(w.detach().to(torch.float16).numpy(), scheme, out_axis, in_axis)
    return torch.from_numpy(out.astype(np.float32)).to(w.dtype)


def compress_array(w16: np.ndarray, scheme: Scheme, out_axis: int = 0, in_axis: int = 1) -> np.ndarray:
    """coremltools' own compression of the float16 array ``w16`` [any shape], decompressed.

    The same functions ``palettize_weights`` / ``linear_quantize_weights`` call on each ``const``
    of an fp16 program, with the block sizes they infer, so the emulated weights are the package's.
    """
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before any submodule
    # the graph passes themselves, whose static methods compress one array
    from coremltools.optimize.coreml import _quantization_passes as cto

    sizes = scheme.block_sizes(w16.shape, out_axis, in_axis)
    if sizes is None:
        return w16
    if scheme.method == LINEAR:
        with np.errstate(invalid="ignore", divide="ignore"):  # an all-zero channel: scale 0, stays 0
            params = cto.linear_quantize_weights.blockwise_compress_by_dtype(
                w16, f"int{scheme.nbits}", "LINEAR_SYMMETRIC", sizes
            )
        return w16 if params is None else cto.linear_quantize_weights.decompress(params).astype(np.float16)
    with _quiet_kmeans():
        params = cto.palettize_weights.blockwise_compress(w16, "KMEANS", scheme.nbits, sizes)
    if params is None:
        return w16
    if scheme.lut_dtype == "int8":  # joint compression: the tables quantized per tensor
        lut = params.lut
        with np.errstate(invalid="ignore", divide="ignore"):
            q = cto.linear_quantize_weights.blockwise_compress_by_dtype(
                lut, "int8", "LINEAR_SYMMETRIC", [0] * lut.ndim
            )
        params = params._replace(lut=cto.linear_quantize_weights.decompress(q).astype(lut.dtype))
    return cto.palettize_weights.decompress(params).astype(np.float16)


@contextlib.contextmanager
def _quiet_kmeans() -> Iterator[None]:
    """One thread for scikit-learn's k-means (coremltools' choice for tables of < 10,000 values),
    so it does not compete with torch, and none of its notices: a group with fewer distinct
    values than entries gets a shorter table (ConvergenceWarning), which is what is wanted."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@dataclass
class CompressedWeight:
    """One weight the compression touches."""

    name: str
    numel: int
    rel_error: float  # ‖w' − w‖ / ‖w‖ (w: the float32 weight)
    scheme: str = ""  # the scheme's label; "" when the weight stays float16


def weight_axes(module: torch.nn.Module) -> tuple[int, int]:
    """(output-channel axis, input-channel axis) of a module's weight, as coremltools picks them:
    a transposed convolution's weight is [C_in, C_out, K], every other one has C_out first."""
    if isinstance(module, torch.nn.modules.conv._ConvTransposeNd):
        return 1, 0
    return 0, 1


def weight_targets(model: torch.nn.Module) -> Iterator[tuple[str, torch.nn.Module, str]]:
    """(parameter name, module, attribute) of every weight that Core ML would compress.

    A weight qualifies with at least two dimensions and more than ``WEIGHT_THRESHOLD`` elements
    (coremltools skips 1-D constants); a weight-normalised one is named ``<module>.weight`` and
    its attribute is ``weight_v``.
    """
    for mname, module in model.named_modules():
        if hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            if module.weight_v.numel() > WEIGHT_THRESHOLD:
                yield f"{mname}.weight", module, "weight_v"  # weight norm: compress g·v/‖v‖
            continue
        for pname, p in module.named_parameters(recurse=False):
            if p.dim() >= 2 and p.numel() > WEIGHT_THRESHOLD:
                yield f"{mname}.{pname}", module, pname


_targets = weight_targets  # the name the first chapters' code used


def _weight_norm_dim(module: torch.nn.Module) -> int:
    for hook in module._forward_pre_hooks.values():
        if type(hook).__name__ == "WeightNorm":
            return hook.dim
    return 0


def effective_weight(module: torch.nn.Module, attr: str) -> torch.Tensor:
    """The weight the module computes with: ``g·v/‖v‖`` for a weight-normalised one."""
    if attr == "weight_v":
        return torch._weight_norm(module.weight_v, module.weight_g, _weight_norm_dim(module)).detach()
    return getattr(module, attr).detach()


@contextlib.contextmanager
def compressed_weights(
    model: torch.nn.Module, mode: str | Variant, cache: dict | None = None
) -> Iterator[list[CompressedWeight]]:
    """Within the block, ``model``'s large weights are the compressed ones; restored after.

    Args:
        model: a ``KModel`` (or any module; per-layer overrides need KModel parameter names).
        mode: a variant name from :data:`kokoro_lab.coreml.schemes.VARIANTS` ("int8",
            "palettize4", "grouped4", …) or a :class:`Variant`.
        cache: optional dict, reused across calls, of compressed tensors by (name, scheme): the
            k-means of a grouped palette takes seconds to a minute, a lookup nothing.

    Yields:
        One :class:`CompressedWeight` per weight, with its relative error.

    Raises:
        ValueError: an unknown variant name (the message lists them).
    """
    variant = get_variant(mode)
    saved: list[tuple[torch.nn.Module, str, torch.Tensor]] = []
    report: list[CompressedWeight] = []
    try:
        with torch.no_grad():
            for name, module, attr in list(weight_targets(model)):
                scheme = variant.scheme_for(name) if variant.overrides else variant.default
                w = effective_weight(module, attr).clone()
                if scheme is None:
                    new = w.to(torch.float16).to(w.dtype)  # the package stores it in float16
                else:
                    key = (name, scheme)
                    new = cache.get(key) if cache is not None else None
                    if new is None:
                        new = compress_tensor(w, scheme, *weight_axes(module))
                        if cache is not None:
                            cache[key] = new
                if attr == "weight_v":  # weight-normalised: set v and g so that g·v/‖v‖ = new
                    dim = _weight_norm_dim(module)
                    v, g = module.weight_v, module.weight_g
                    saved += [
                        (module, "weight_v", v.detach().clone()),
                        (module, "weight_g", g.detach().clone()),
                    ]
                    # a channel that is all zeros (some are, in the checkpoint) keeps its v, with
                    # g = 0, to avoid 0/0
                    norm = torch.norm_except_dim(new, 2, dim)
                    v.copy_(torch.where(norm > 0, new, v))
                    g.copy_(norm)
                else:
                    p = getattr(module, attr)
                    saved.append((module, attr, p.detach().clone()))
                    p.copy_(new)
                rel = float((new - w).norm() / w.norm().clamp(min=1e-12))
                report.append(CompressedWeight(name, w.numel(), rel, scheme.label if scheme else ""))
        yield report
    finally:
        with torch.no_grad():
            for module, attr, value in reversed(saved):
                getattr(module, attr).copy_(value)


def compressed_megabytes(model: torch.nn.Module, mode: str | Variant | None, float_bytes: int = 2) -> float:
    """Weight storage in MB: compressed weights as their scheme stores them (indices or integers
    plus tables or scales, :meth:`Scheme.stored_bytes`), every other parameter at ``float_bytes``.

    An estimate over all of the model's parameters; :func:`kokoro_lab.coreml.sizes.package_megabytes`
    estimates a package (only what the traced program keeps, plus its other constants).
    """
    variant = None if mode is None else get_variant(mode)
    targets = {id(getattr(m, a)): (n, m) for n, m, a in weight_targets(model)}
    total = 0.0
    for p in model.parameters():
        if id(p) in targets and variant is not None:
            name, module = targets[id(p)]
            scheme = variant.scheme_for(name) if variant.overrides else variant.default
            total += (
                scheme.stored_bytes(tuple(p.shape), *weight_axes(module))
                if scheme
                else p.numel() * float_bytes
            )
        else:
            total += p.numel() * float_bytes
    return total / 1e6
