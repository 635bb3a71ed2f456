"""Memory around ``torch.jit.trace`` and traced graphs: glibc's heap and TorchScript's executor.

Measured with ``bench/trace_memory.py`` (child processes, ``bench/results/trace_memory.json``):

* Tracing the 10 s single graph peaked at ~6.6 GB against ~1.4 GB for the same forward pass in
  eager mode, and the process kept the 6.6 GB afterwards. The tracer holds nothing: ``malloc_trim``
  after the trace returns the RSS to 1.1 GB. It is glibc's heap. Blocks above the *mmap
  threshold* are mapped and unmapped one by one; below it they come from the heap, and glibc
  raises the threshold to the size of every mapped block freed, up to 32 MiB, so the generator's
  8-25 MB activations soon live in the heap. The tracer allocates a small graph node for every op
  between them; the long-lived nodes pin the heap's pages, so freed activations are neither
  returned to the system nor merged into blocks large enough for the next ones, and the heap
  grows by every activation of the pass. With a fixed 128 KiB threshold (:func:`mapped_blocks`)
  the peak is that of eager mode. ``MALLOC_ARENA_MAX=2`` does not help: there is one heap.
* Running a traced module, the profiling executor's second (optimised) run peaked at ~2.5 GB, or
  ~1.2 GB in some processes. The legacy executor (:func:`legacy_executor`) computes the same
  bits at ~1.1 GB in every process; :func:`mapped_blocks` at ~0.9 GB, but a page fault per new
  block makes it slower; ``torch.jit.optimized_execution(False)`` is worse (~6 GB: nothing is
  freed before the end of the graph).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import sys
from collections.abc import Iterator

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
SMALL_THRESHOLD = 128 * 1024  # glibc's initial threshold: blocks above it are mapped
LARGE_THRESHOLD = 32 * 1024 * 1024  # glibc's largest dynamic threshold (64-bit)


@functools.cache
def _glibc():
    """The C library if it is glibc (it has ``malloc_trim``), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def trim_heap() -> bool:
    """Collect garbage and hand the heap's free pages back to the system (glibc). → whether it could."""
    gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@contextlib.contextmanager
def mapped_blocks(threshold: int = SMALL_THRESHOLD) -> Iterator[None]:
    """Within the block, glibc maps every allocation above ``threshold`` bytes on its own.

    Freed tensors then go straight back to the system instead of fragmenting the heap between
    the tracer's small objects. On exit the threshold is set to glibc's largest dynamic value
    (a fixed threshold cannot be made dynamic again) and the heap is trimmed. Elsewhere than
    glibc, it does nothing.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(M_MMAP_THRESHOLD, threshold)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, LARGE_THRESHOLD)
        trim_heap()


@contextlib.contextmanager
def legacy_executor() -> Iterator[None]:
    """Within the block, traced graphs run on TorchScript's legacy executor (no profiling runs)."""
    import torch

    previous = torch._C._jit_set_profiling_executor(False)
    try:
        yield
    finally:
        torch._C._jit_set_profiling_executor(previous)


__all__ = ["legacy_executor", "mapped_blocks", "trim_heap"]
