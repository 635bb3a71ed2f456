"""Figures for the conversion and fp16 chapters: bucket limits, op histograms, size against quality."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import matplotlib.pyplot as plt


def plot_token_limit(limit, title: str | None = None):
    """Frames the duration predictor asks for, against tokens, per voice, with the bucket's limits.

    ``limit`` is a :class:`kokoro_lab.coreml.buckets.TokenLimit`.
    """
    fig, ax = plt.subplots(figsize=(7, 3.6))
    by_voice = defaultdict(list)
    for n, voice, frames in limit.measurements:
        by_voice[voice].append((n, frames))
    for voice, points in sorted(by_voice.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, "o", ms=3, label=voice)
    ax.axhline(limit.max_frames, color="k", lw=1, label=f"MAX_FRAMES = {limit.max_frames}")
    ax.axvline(limit.max_tokens, color="C3", ls="--", lw=1, label=f"MAX_TOKENS = {limit.max_tokens}")
    ax.set_xlabel("tokens (boundaries included)")
    ax.set_ylabel("predicted frames (40 per second)")
    ax.set_title(title or f"{limit.seconds:g} s bucket: measured frames per text and voice")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_op_histogram(ops: Sequence, top: int = 20, title: str = "ops in the saved program"):
    """Horizontal bars: the ``top`` most frequent op types, split by output dtype.

    ``ops`` are :class:`kokoro_lab.coreml.inspection.OpInfo` (constants are skipped).
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    for op in ops:
        if op.type == "const":
            continue
        counts[op.type][op.dtypes[0] if op.dtypes else "none"] += 1
    order = sorted(counts, key=lambda t: sum(counts[t].values()), reverse=True)[:top][::-1]
    dtypes = sorted({d for c in counts.values() for d in c})
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(order) + 1.2))
    left = [0] * len(order)
    for i, dtype in enumerate(dtypes):
        widths = [counts[t][dtype] for t in order]
        ax.barh(order, widths, left=left, color=f"C{i}", label=dtype)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.set_xlabel("ops")
    ax.set_title(title)
    ax.legend(title="output dtype", fontsize=8)
    fig.tight_layout()
    return fig


def plot_size_quality(rows: Sequence[dict], title: str = "size against quality"):
    """Scatter of ``size_mb`` against ``log_mel_db`` (distance to fp32), one labelled point per row."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, r in enumerate(rows):
        ax.scatter(r["size_mb"], r["log_mel_db"], color=f"C{i}", s=40)
        ax.annotate(
            r["variant"],
            (r["size_mb"], r["log_mel_db"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    ax.set_xlabel("package size (MB)")
    ax.set_ylabel("log-mel distance to fp32 (dB)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_phase_error(t, errors: dict[str, Sequence[float]], title: str = "sin(phase) stored in float16"):
    """|sin error| over time, one line per label; NaN (overflowed) stretches are shaded."""
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 3))
    for i, (label, err) in enumerate(errors.items()):
        err = np.asarray(err)
        ax.plot(t, err, lw=0.6, color=f"C{i}", label=label)
        bad = np.isnan(err)
        if bad.any():
            ax.axvspan(t[int(np.argmax(bad))], t[-1], color=f"C{i}", alpha=0.1)
    ax.set_xscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("|sin error|")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
