"""Shape checks that run in eager mode and vanish from a ``torch.jit.trace`` graph."""

from __future__ import annotations

import torch


def check_shape(t: torch.Tensor, expected: tuple[int | None, ...], name: str) -> torch.Tensor:
    """Raise if ``t``'s shape differs from ``expected`` (``None`` matches any size); return ``t``.

    Skipped while tracing, so the converted graph holds no trace of it.
    """
    if torch.jit.is_tracing():
        return t
    actual = tuple(t.shape)
    if len(actual) != len(expected) or any(
        e is not None and e != a for e, a in zip(expected, actual, strict=True)
    ):
        want = "[" + ", ".join("*" if e is None else str(e) for e in expected) + "]"
        raise AssertionError(f"{name} should have shape {want}, got {list(actual)}")
    return t
