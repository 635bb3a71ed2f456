"""Where the model must stay float32: the island markers of the fp16 program.

The rewrite marks four blocks with :func:`fp32_island`. They are part of the model's definition:
the phase accumulator, the source STFT, the inverse STFT and the length arithmetic lose too much
in float16. The marker does nothing by itself and tracing ignores it; the fp16 emulation
(:mod:`kokoro_lab.coreml.fp16_emulation`) reads the open islands, and the converter
(:mod:`kokoro_lab.coreml.islands`) keeps the same ops in float32 in the Core ML program.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

ISLANDS = ("phase", "source_stft", "istft", "length")

_state = threading.local()


def islands_open() -> list[str]:
    """The islands open on this thread, innermost last."""
    if not hasattr(_state, "open"):
        _state.open = []
    return _state.open


@contextlib.contextmanager
def fp32_island(name: str) -> Iterator[None]:
    """Mark a block that the fp16 program keeps in float32 (see :mod:`kokoro_lab.coreml.islands`)."""
    if name not in ISLANDS:
        raise ValueError(f"Unknown island {name!r}; choose one of {', '.join(ISLANDS)}.")
    stack = islands_open()
    stack.append(name)
    try:
        yield
    finally:
        stack.pop()
