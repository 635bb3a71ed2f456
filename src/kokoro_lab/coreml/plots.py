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


FRONTIER_METRICS = {
    "wer": ("WER (%)", 100.0),
    "log_mel_db": ("log-mel distance to fp32 (dB)", 1.0),
    "speaker_similarity": ("speaker similarity to fp32", 1.0),
}


def plot_frontier(
    rows: Sequence[dict],
    metrics: Sequence[str] = ("wer", "log_mel_db", "speaker_similarity"),
    fp32_wer: float | None = None,
    highlight: str | None = None,
    title: str = "size against quality, per variant",
):
    """One panel per metric: package size (x) against the metric (y), a labelled point per row.

    Args:
        rows: dicts with ``name``, ``size_mb`` and the metrics (``bench/results/quality.json`` rows
            of the ``variants`` part); rows without a size are skipped.
        metrics: keys of :data:`FRONTIER_METRICS`.
        fp32_wer: drawn as a dashed line on the WER panel (float32's own WER).
        highlight: the name of a row to ring (the recommended variant).
    """
    points = [r for r in rows if r.get("size_mb") is not None]
    # one panel per row: the points crowd at the small sizes, and a page is narrow
    fig, axes = plt.subplots(len(metrics), 1, figsize=(7.5, 3.2 * len(metrics)), squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        label, scale = FRONTIER_METRICS[metric]
        for i, r in enumerate(points):
            if r.get(metric) is None:
                continue
            x, y = r["size_mb"], r[metric] * scale
            ax.scatter(x, y, color=f"C{i % 10}", s=30, zorder=3)
            if r["name"] == highlight:
                ax.scatter(x, y, s=160, facecolors="none", edgecolors="k", zorder=4)
            ax.annotate(r["name"], (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        if metric == "wer" and fp32_wer is not None:
            ax.axhline(100 * fp32_wer, color="k", ls="--", lw=0.8, label="fp32")
            ax.legend(fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("package size (MB, 5 s bucket)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_padded_fraction(points: dict[str, Sequence[tuple[float, float]]], title: str | None = None):
    """Padded share of the computed frames against seconds of audio, one line per configuration.

    ``points`` maps a label (a single-graph bucket, the pipeline) to ``(seconds, fraction)`` pairs.
    """
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for i, (label, pts) in enumerate(points.items()):
        xs, ys = zip(*sorted(pts), strict=True)
        style = {"lw": 2.2, "color": "k"} if "pipeline" in label else {"lw": 1.2, "color": f"C{i}"}
        ax.plot(xs, [100 * y for y in ys], label=label, **style)
    ax.set_xlabel("audio (s)")
    ax.set_ylabel("padded frames (% of computed)")
    ax.set_ylim(0, 100)
    ax.set_title(title or "how much of the computation is padding")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_ladder_tradeoff(rows: Sequence, chosen: float | None = None, title: str = "frame ladders"):
    """Rungs against the padded work (worst and mean), one point per ratio.

    ``rows`` are :class:`kokoro_lab.coreml.ladder.LadderRow` measured with a ``CostModel``.
    """
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    rungs = [r.rungs for r in rows]
    ax.plot(rungs, [r.worst_cost_ratio for r in rows], "o-", label="worst case")
    ax.plot(rungs, [r.mean_cost_ratio for r in rows], "s-", label="mean over 1–15 s")
    for r in rows:
        mark = " (chosen)" if chosen is not None and abs(r.ratio - chosen) < 1e-9 else ""
        ax.annotate(
            f"r = {r.ratio:g}{mark}",
            (r.rungs, r.worst_cost_ratio),
            textcoords="offset points",
            xytext=(4, 6),
            fontsize=8,
        )
    ax.set_xlabel("rungs (acoustic packages or functions)")
    ax.set_ylabel("padded work / unpadded work")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_path_cost(
    rows: Sequence[dict], paths: Sequence[str], title: str = "work against the official model"
):
    """CPU seconds as a multiple of the official model's, against seconds of audio, per path.

    ``rows`` are ``bench/results/pipeline.json`` rows (``audio_s``, ``path``, ``ratio_vs_official``).
    """
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for i, path in enumerate(paths):
        pts = sorted((r["audio_s"], r["ratio_vs_official"]) for r in rows if r["path"] == path)
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, "o-", ms=3, lw=1, color=f"C{i}", label=path)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.axhline(1.2, color="C3", lw=0.8, ls="--", label="goal: 1.2×")
    ax.set_xlabel("audio (s)")
    ax.set_ylabel("CPU seconds / official")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
