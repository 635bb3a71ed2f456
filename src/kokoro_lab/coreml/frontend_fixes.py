"""Fixes to coremltools 9.0's TorchScript frontend, installed only while converting.

Each fix replaces (or adds) one op translation in coremltools' registry; :func:`torch_frontend_fixes`
puts the originals back afterwards, so importing this module changes nothing.

* ``new_ones`` (transformers' bidirectional attention mask calls ``q_idx.new_ones((), dtype=bool)``)
  has no translation: "PyTorch convert function for op 'new_ones' not implemented".
* ``__or__`` on booleans has none either (``(k == 0) | (k == nyquist)`` in the STFT).
* ``clamp`` with one bound fills the other with a float32 constant and promotes integer inputs
  to float32. Index arithmetic then becomes float (``gather`` refuses float indices) and, worse,
  the valid frame count and ``audio_length_samples`` would leave int32 — and in an fp16 model
  become float16, which cannot count to 384,000. The fix keeps integers integer.
* ``remainder`` lowers ``x % 1`` to ``x - floor_div(x, 1) * 1``, and the ``noop_elimination``
  pass then drops ``floor_div(x, 1)`` as if it were ``x``: the result is ``x - x = 0``. The sine
  source's ``rad = (f0 · h / sr) % 1`` would be all zeros and the harmonic excitation silent.
  The fix lowers float remainders to ``x - floor(x / y) · y``, which no pass mistranslates.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import numpy as np


def _new_ones(context, node):
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import NUM_TO_NUMPY_DTYPE, _get_inputs

    inputs = _get_inputs(context, node)
    size = inputs[1]
    dtype = inputs[2] if len(inputs) > 2 else None
    np_dtype = np.float32
    if dtype is not None and dtype.val is not None:
        np_dtype = NUM_TO_NUMPY_DTYPE[int(dtype.val)]
    dims = list(size) if isinstance(size, (list, tuple)) else None
    if dims is not None and all(d.val is not None for d in dims):
        shape = [int(d.val) for d in dims]
    elif dims is None and size.val is not None:
        shape = [int(d) for d in np.asarray(size.val).reshape(-1)]
    else:
        raise NotImplementedError("new_ones with a shape known only at run time is not supported.")
    context.add(mb.const(val=np.ones(shape, dtype=np_dtype), name=node.name))


def _bool_or(context, node):
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.mil import types

    x, y = _get_inputs(context, node, expected=2)
    if not (types.is_bool(x.dtype) and types.is_bool(y.dtype)):
        raise NotImplementedError(f"'|' is supported on booleans only, got {x.dtype} and {y.dtype}.")
    context.add(mb.logical_or(x=x, y=y, name=node.name))


def _clamp(context, node):
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs, promote_input_dtypes
    from coremltools.converters.mil.mil import types

    inputs = _get_inputs(context, node, expected=[1, 2, 3])
    x = inputs[0]
    integer = types.is_int(x.dtype)
    info, kind = (np.iinfo(np.int32), np.int32) if integer else (np.finfo(np.float32), np.float32)
    lo = inputs[1] if len(inputs) > 1 and inputs[1] is not None else mb.const(val=kind(info.min))
    hi = inputs[2] if len(inputs) > 2 and inputs[2] is not None else mb.const(val=kind(info.max))
    x, lo, hi = promote_input_dtypes([x, lo, hi])
    if lo.val is not None and hi.val is not None and lo.val >= hi.val:  # torch: everything is max
        context.add(mb.fill(shape=mb.shape(x=x), value=hi.val, name=node.name))
        return
    if lo.val is None or hi.val is None or not types.is_float(x.dtype):
        res = mb.maximum(x=mb.minimum(x=x, y=hi), y=lo, name=node.name)
    else:
        res = mb.clip(x=x, alpha=lo, beta=hi, name=node.name)
    context.add(res)


def _remainder(context, node, original):
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs, promote_input_dtypes
    from coremltools.converters.mil.mil import types

    inputs = _get_inputs(context, node)
    x, y = promote_input_dtypes([inputs[0], inputs[1]])
    if not types.is_float(x.dtype):
        return original(context, node)  # integer floor_div by 1 really is the identity
    quotient = mb.floor(x=mb.real_div(x=x, y=y), name=node.name + "_floor")
    context.add(mb.sub(x=x, y=mb.mul(x=quotient, y=y), name=node.name))


@contextlib.contextmanager
def torch_frontend_fixes(quiet: bool = False) -> Iterator[None]:
    """Install the fixes above (and, with ``quiet``, silence coremltools' progress bars)."""
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before any submodule
    from coremltools.converters.mil.frontend.torch import ops as torch_ops
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY
    from coremltools.converters.mil.mil.passes import pass_pipeline
    from coremltools.optimize.coreml import _post_training_quantization as ptq
    from coremltools.optimize.coreml import _quantization_passes as passes  # the compression bars

    table = _TORCH_OPS_REGISTRY.name_to_func_mapping
    fixes = {
        "new_ones": _new_ones,
        "or": _bool_or,
        "clamp": _clamp,
        "remainder": functools.partial(_remainder, original=table.get("remainder")),
    }
    saved = {name: table.get(name) for name in fixes}
    bars = [(torch_ops, "_tqdm"), (pass_pipeline, "tqdm"), (ptq, "tqdm"), (passes, "tqdm")]
    saved_bars = [getattr(mod, attr) for mod, attr in bars]
    ct_logger = logging.getLogger("coremltools")
    saved_level = ct_logger.level
    try:
        table.update(fixes)
        if quiet:
            for (mod, attr), bar in zip(bars, saved_bars, strict=True):
                setattr(mod, attr, functools.partial(bar, disable=True))
            # and its per-op notices ("Saving value type of int64 into … int32"), errors still show
            ct_logger.setLevel(logging.ERROR)
        yield
    finally:
        for name, func in saved.items():
            if func is None:
                table.pop(name, None)
            else:
                table[name] = func
        for (mod, attr), bar in zip(bars, saved_bars, strict=True):
            setattr(mod, attr, bar)
        ct_logger.setLevel(saved_level)
