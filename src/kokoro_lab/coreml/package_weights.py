"""The weights inside an ML program: which constants they are, which KModel parameter each one is,
and their values after decompression, to check the torch emulation of a compression against the
package coremltools writes.

Tracing renames most weights (a weight-normalised convolution's folded ``g·v/‖v‖`` becomes
``weight_15_to_fp16``, an LSTM's gate-reordered matrix ``concat_9_to_fp16``), so the constants are
matched to parameters by value (:func:`match_weights`): same element count, closest sorted values
(which a reordering of rows does not change), then the row-block order for an LSTM's gates.
Constants are keyed by the ops that read them and as which input (:func:`consumer_key`), which a
compression pass keeps: it replaces the constant, not its readers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import permutations

import numpy as np

from .compress import WEIGHT_THRESHOLD

# op type → the inputs that are weights (anything else a constant feeds is data: masks, ramps)
WEIGHT_INPUTS: dict[str, frozenset[str]] = {
    "conv": frozenset({"weight"}),
    "conv_transpose": frozenset({"weight"}),
    "linear": frozenset({"weight"}),
    "lstm": frozenset({"weight_ih", "weight_hh", "weight_ih_back", "weight_hh_back"}),
    "gather": frozenset({"x"}),  # an embedding table
    "matmul": frozenset({"x", "y"}),
}
DECOMPRESSED_BY = ("constexpr_lut_to_dense", "constexpr_affine_dequantize", "constexpr_blockwise_shift_scale")


def load_program(mlmodel):
    """The pymil ``Program`` of an ``MLModel`` (or ``.mlpackage`` path), as coremltools' passes see it."""
    from .coremltools_import import load_coremltools

    ct = load_coremltools()
    from coremltools.converters.mil.frontend.milproto import load as milproto_load
    from coremltools.models import utils as model_utils

    if not hasattr(mlmodel, "get_spec"):
        mlmodel = ct.models.MLModel(str(mlmodel), skip_model_load=True)
    return model_utils._convert_model_spec_to_pymil_prog(
        mlmodel, mlmodel.get_spec().specificationVersion, milproto_load.load
    )


def consumer_key(var) -> tuple[tuple[str, str], ...]:
    """(reader op name, input name) of every op that reads ``var``, sorted: a constant's identity."""
    pairs = set()
    for child in var.child_ops:
        for name, value in child.inputs.items():
            if value is var:
                pairs.add((child.name, name))
    return tuple(sorted(pairs))


def _ops(prog) -> Iterator:
    def walk(block):
        for op in block.operations:
            for b in op.blocks:
                yield from walk(b)
            yield op

    for function in prog.functions.values():
        yield from walk(function)


def _is_weight_use(var) -> bool:
    uses = [
        (child.op_type, name)
        for child in var.child_ops
        for name, value in child.inputs.items()
        if value is var
    ]
    return bool(uses) and all(name in WEIGHT_INPUTS.get(op_type, ()) for op_type, name in uses)


def weight_const_names(prog) -> list[str]:
    """Names of the float ``const`` ops that are weights a compression pass would take: more than
    ``WEIGHT_THRESHOLD`` elements, at least 2-D, and read only as a weight (see ``WEIGHT_INPUTS``)."""
    names = []
    for op in _ops(prog):
        if op.op_type != "const":
            continue
        val = op.outputs[0].val
        if (
            isinstance(val, np.ndarray)
            and val.dtype in (np.float16, np.float32)
            and val.ndim >= 2
            and val.size > WEIGHT_THRESHOLD
            and _is_weight_use(op.outputs[0])
        ):
            names.append(op.name)
    return names


def compressed_consts(prog) -> dict[str, list[str]]:
    """Constants (any, weights or not) that a compression replaced: const name → constexpr op types.

    A compressed constant is the output of a chain of ``constexpr_*`` ops; the name is the first
    op's, minus the pass's suffix (``_palettized``, ``_quantized``).
    """
    found: dict[str, list[str]] = {}
    for op in _ops(prog):
        if op.op_type.startswith("constexpr_") and not any(
            c.op_type.startswith("constexpr_") for c in op.outputs[-1].child_ops
        ):
            base = op.name
            for suffix in ("_palettized_pcs", "_palettized", "_quantized"):
                base = base.removesuffix(suffix)
            found.setdefault(base, []).append(op.op_type)
    return found


def program_weights(prog) -> dict[tuple, np.ndarray]:
    """Every weight the program reads, by :func:`consumer_key`: plain constants as they are, and
    compressed ones decompressed (run ``coremltools.optimize.coreml.decompress_weights`` first)."""
    out = {}
    for op in _ops(prog):
        if op.op_type == "const" and _is_weight_use(op.outputs[0]):
            val = op.outputs[0].val
            if isinstance(val, np.ndarray) and val.ndim >= 2 and val.size > WEIGHT_THRESHOLD:
                out[consumer_key(op.outputs[0])] = val
    return out


def read_weights(mlmodel) -> dict[tuple, np.ndarray]:
    """The weights of a (compressed) ML program, decompressed, by :func:`consumer_key`.

    Works on Linux: coremltools turns each ``constexpr_*`` op back into a ``const`` in Python.
    """
    from .coremltools_import import load_coremltools

    ct = load_coremltools()
    import coremltools.optimize.coreml as cto

    if not hasattr(mlmodel, "get_spec"):
        mlmodel = ct.models.MLModel(str(mlmodel), skip_model_load=True)
    return program_weights(load_program(cto.decompress_weights(mlmodel)))


@dataclass(frozen=True)
class WeightMatch:
    """One program constant and the KModel parameter it holds."""

    torch_name: str  # e.g. "decoder.generator.ups.0.weight" (weight norm: the effective weight)
    const_name: str
    key: tuple  # consumer_key of the constant
    row_blocks: tuple[int, ...] | None  # LSTM: torch's row block i is the constant's block row_blocks[i]
    sorted_distance: float  # max |sorted(const) − sorted(torch)|: 0 when the values are the same

    def to_program_layout(self, w: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """A torch-layout weight ``w`` in the constant's layout (same shape, rows reordered)."""
        if self.row_blocks is None:
            return w.reshape(shape)
        blocks = np.split(w, len(self.row_blocks), axis=0)
        out = [None] * len(blocks)
        for i, j in enumerate(self.row_blocks):
            out[j] = blocks[i]
        return np.concatenate(out, axis=0).reshape(shape)


def torch_weights(model) -> dict[str, np.ndarray]:
    """The effective float16 value of every weight a compression takes, by KModel parameter name."""
    import torch

    from .weight_compression import effective_weight, weight_targets

    return {
        name: effective_weight(module, attr).to(torch.float16).numpy()
        for name, module, attr in weight_targets(model)
    }


def _row_blocks(const: np.ndarray, w: np.ndarray, n: int = 4) -> tuple[int, ...] | None:
    """The order of ``n`` row blocks (an LSTM's four gates) that turns ``w`` into ``const``."""
    if const.shape[0] % n:
        return None
    cb, wb = np.split(const.astype(np.float32), n), np.split(w.reshape(const.shape).astype(np.float32), n)
    best = min(permutations(range(n)), key=lambda p: sum(np.abs(cb[p[i]] - wb[i]).max() for i in range(n)))
    return tuple(best)


def match_weights(prog, model, weights: dict[str, np.ndarray] | None = None) -> dict[tuple, WeightMatch]:
    """Find each weight constant's KModel parameter, by value (see the module docstring).

    Args:
        prog: an uncompressed program (:func:`load_program`).
        model: the ``KModel`` it was converted from.
        weights: :func:`torch_weights` of ``model``, if already computed.

    Returns:
        consumer key → :class:`WeightMatch`, for every weight constant that matched a parameter
        (ALBERT's position table is sliced and folded at conversion, so it is not among them).
    """
    weights = torch_weights(model) if weights is None else weights
    by_size: dict[int, list[str]] = {}
    for name, w in weights.items():
        by_size.setdefault(w.size, []).append(name)
    sorted_torch = {n: np.sort(w.astype(np.float32), axis=None) for n, w in weights.items()}
    names = set(weight_const_names(prog))
    matches = {}
    for op in _ops(prog):
        if op.op_type != "const" or op.name not in names:
            continue
        const = op.outputs[0].val
        candidates = by_size.get(const.size, [])
        if not candidates:
            continue
        s = np.sort(const.astype(np.float32), axis=None)
        name = min(candidates, key=lambda n: float(np.abs(sorted_torch[n] - s).max()))
        distance = float(np.abs(sorted_torch[name] - s).max())
        w = weights[name]
        same = w.shape == const.shape and float(np.abs(w.astype(np.float32) - const).max()) <= distance + 1e-3
        blocks = None if same else _row_blocks(const, w)
        matches[consumer_key(op.outputs[0])] = WeightMatch(
            name, op.name, consumer_key(op.outputs[0]), blocks, distance
        )
    return matches


@dataclass(frozen=True)
class WeightDifference:
    """The emulated and the packaged value of one weight."""

    torch_name: str
    const_name: str
    numel: int
    max_abs: float
    max_rel: float  # max |emulated − package| / max |package|
    equal_fraction: float  # elements that are bit-for-bit the same


def compare_weights(
    package_weights: dict[tuple, np.ndarray],
    emulated: dict[str, np.ndarray],
    matches: dict[tuple, WeightMatch],
) -> list[WeightDifference]:
    """Compare decompressed package weights with emulated ones (torch layout, by parameter name)."""
    rows = []
    for key, match in matches.items():
        if key not in package_weights:
            continue
        p = package_weights[key].astype(np.float32)
        e = match.to_program_layout(emulated[match.torch_name], p.shape).astype(np.float32)
        diff = np.abs(e - p)
        rows.append(
            WeightDifference(
                match.torch_name,
                match.const_name,
                p.size,
                float(diff.max()),
                float(diff.max() / max(float(np.abs(p).max()), 1e-12)),
                float(np.mean(diff == 0)),
            )
        )
    return rows
