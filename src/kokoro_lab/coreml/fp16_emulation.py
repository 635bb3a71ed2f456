"""Float16 emulated in PyTorch on the CPU: what a Core ML fp16 program would compute.

Every floating-point tensor an op reads or produces, weights included, is rounded to float16
and back (``x.half().float()``). The op itself computes in float32, as Core ML's
fp16 kernels accumulate in wider precision; what is lost is what float16 storage loses between
ops: an 11-bit mantissa and nothing above 65,504 (larger values become ``inf``).

Inside :func:`fp32_island` blocks nothing is rounded. The model marks its float32 islands with
that context manager; it costs nothing when no emulation is active, and tracing ignores it.

Typical use::

    with emulate_fp16(plan="mixed"):  # or plan="naive": no islands at all
        audio, *_ = module(*inputs)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

from ..rewrite.precision import ISLANDS, fp32_island, islands_open  # noqa: F401  (fp32_island re-exported)

PLANS = ("naive", "mixed")
FP16_MAX = 65504.0


def _round(x):
    if isinstance(x, torch.Tensor) and x.is_floating_point() and x.dtype != torch.float16:
        return x.to(torch.float16).to(x.dtype)
    return x


class _WeightCache:
    """Rounded copies of parameters, made once per block instead of at every use."""

    def __init__(self):
        self.copies: dict[int, tuple[int, torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x):
        if not isinstance(x, torch.nn.Parameter):
            return _round(x)
        hit = self.copies.get(id(x))
        if hit is None or hit[0] != x._version or hit[1] is not x:
            hit = (x._version, x, _round(x.detach()))
            self.copies[id(x)] = hit
        return hit[2]


class Fp16Mode(TorchFunctionMode):
    """Rounds every floating-point result to float16, except inside the islands in ``keep``."""

    def __init__(self, keep: tuple[str, ...] = ()):
        super().__init__()
        self.keep = frozenset(keep)
        self.rounded_ops = 0
        self.first_overflow: str | None = None  # the first op whose float16 result was not finite
        self._inputs = _WeightCache()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.keep.intersection(islands_open()):
            return func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if not (name.endswith("_") and not name.endswith("__")):  # in-place ops write into self
            args, kwargs = tree_map(self._inputs, (args, kwargs))  # weights and inputs are float16
        out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor):
            rounded = _round(out)
        elif isinstance(out, (tuple, list)) and not isinstance(out, torch.Size):
            rounded = tree_map(_round, out)  # e.g. an LSTM's (output, (h, c))
        else:
            return out  # sizes, numbers, attribute reads
        self.rounded_ops += 1
        if self.first_overflow is None:
            first = rounded[0] if isinstance(rounded, (tuple, list)) else rounded
            if (
                isinstance(first, torch.Tensor)
                and first.is_floating_point()
                and not torch.isfinite(first).all()
            ):
                self.first_overflow = getattr(func, "__qualname__", None) or getattr(
                    func, "__name__", str(func)
                )
        return rounded


def _check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise ValueError(
            f"Unknown plan {plan!r}; use 'naive' (float16 everywhere) or 'mixed' (float32 islands)."
        )


@contextlib.contextmanager
def emulate_fp16(plan: str = "mixed") -> Iterator[Fp16Mode]:
    """Within the block, every op's floating result is rounded to float16.

    ``plan="mixed"`` keeps the four islands (:data:`ISLANDS`) in float32, as the converted fp16
    program does; ``plan="naive"`` rounds everything.
    """
    _check_plan(plan)
    mode = Fp16Mode(ISLANDS if plan == "mixed" else ())
    with mode:
        yield mode


@dataclass
class AudioHealth:
    """How much of an audio signal is usable."""

    samples: int
    nan: int
    inf: int
    first_bad_second: float | None  # where the first NaN/inf sample is, if any

    @property
    def bad_fraction(self) -> float:
        return (self.nan + self.inf) / max(self.samples, 1)


def audio_health(audio, sample_rate: int = 24000) -> AudioHealth:
    """Count NaN and infinite samples in ``audio`` [T] (any shape is flattened)."""
    a = np.asarray(audio, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(a)
    first = int(np.argmax(bad)) / sample_rate if bad.any() else None
    return AudioHealth(a.size, int(np.isnan(a).sum()), int(np.isinf(a).sum()), first)


def fp16_phase_error(f0_hz: float, seconds: float, sample_rate: int = 24000) -> tuple[np.ndarray, np.ndarray]:
    """A constant-F0 phase ramp accumulated in float32 and in float16.

    Returns ``(t, error)``: seconds [T] and ``|sin(phase16) − sin(phase32)|`` [T] (NaN where the
    float16 phase overflowed).
    """
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    phase32 = (2 * np.pi * f0_hz * t).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        phase16 = phase32.astype(np.float16)
        err = np.abs(np.sin(phase16.astype(np.float32)) - np.sin(phase32))
    return t, err
