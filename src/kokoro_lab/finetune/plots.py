"""Figures for the fine-tuning chapter: loss curves, F0 against the target, spectrograms, voice map."""

from __future__ import annotations

import numpy as np

from ..config import FRAMES_PER_SECOND, SAMPLE_RATE

LOSS_LABELS = {
    "loss": "total (weighted)",
    "duration": "duration MSE (frames²)",
    "f0": "F0 MSE (Hz², voiced)",
    "mel": "log-mel L1",
    "stft": "multi-resolution STFT",
}


def plot_losses(history: dict[str, list[float]], title: str | None = None):
    """One panel per loss term of a ``finetune`` or ``fit_style`` history (log scale where positive)."""
    import matplotlib.pyplot as plt

    keys = [k for k in LOSS_LABELS if history.get(k) and max(history[k]) > 0]
    fig, axes = plt.subplots(1, len(keys), figsize=(2.6 * len(keys), 2.6), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        ax.plot(history["step"], history[key], lw=1.2)
        ax.set(title=LOSS_LABELS[key], xlabel="step", yscale="log")
        ax.title.set_fontsize(9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_f0_comparison(target: np.ndarray, curves: dict[str, np.ndarray], ax=None, title: str | None = None):
    """Predicted F0 curves ``{label: [F]}`` against the target's pyin F0 [F] (0 = unvoiced, not drawn)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2.8))
    t = np.arange(len(target)) / FRAMES_PER_SECOND
    ax.plot(t, np.where(target > 0, target, np.nan), "k.", ms=5, label="target (pyin)")
    for label, f0 in curves.items():
        ax.plot(np.arange(len(f0)) / FRAMES_PER_SECOND, f0, lw=1.3, label=label)
    ax.set(xlabel="time (s)", ylabel="Hz", title=title or "F0 against the target")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_spectrograms(audios: dict[str, np.ndarray], title: str | None = None):
    """Log-mel spectrograms (dB) of ``{label: audio [T]}``, stacked on a shared colour scale."""
    import matplotlib.pyplot as plt

    from ..audio import MEL_HOP, log_mel_db

    mels = {k: log_mel_db(np.asarray(v)) for k, v in audios.items()}
    fig, axes = plt.subplots(len(mels), 1, figsize=(9, 1.9 * len(mels)), sharex=True, squeeze=False)
    for ax, (label, mel) in zip(axes[:, 0], mels.items(), strict=True):
        extent = (0, mel.shape[1] * MEL_HOP / SAMPLE_RATE, 0, mel.shape[0])
        im = ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=-80, vmax=0, extent=extent)
        ax.set_ylabel("mel band")
        ax.set_title(label, fontsize=9)
    axes[-1, 0].set_xlabel("time (s)")
    fig.colorbar(im, ax=axes[:, 0].tolist(), shrink=0.8, label="dB")
    if title:
        fig.suptitle(title)
    return fig


def plot_voice_map(
    vectors: dict[str, np.ndarray],
    fitted: np.ndarray,
    start: np.ndarray | None = None,
    title: str | None = None,
):
    """A 2-D PCA of every voice's ``ref_s`` rows, with the fitted vector (and its start) placed among them.

    Args:
        vectors: ``{voice: [N, 256]}`` rows (e.g. for the corpus's phoneme counts).
        fitted: [256] the fitted ``ref_s``. start: [256] where the fit began.
    """
    import matplotlib.pyplot as plt

    from .style_fit import pca_2d

    rows = np.concatenate([np.asarray(v) for v in vectors.values()])  # [sum N, 256]
    _, ax = plt.subplots(figsize=(6, 4.5))
    for name, v in vectors.items():
        xy = pca_2d(np.asarray(v), fit_on=rows)
        ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.5, label=name)
    extra = {"fitted ref_s": (fitted, "*", 220)} | (
        {"start of the fit": (start, "X", 90)} if start is not None else {}
    )
    for label, (vec, marker, size) in extra.items():
        xy = pca_2d(np.asarray(vec).reshape(1, -1), fit_on=rows)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, marker=marker, c="k", label=label)
    ax.set(
        xlabel="PC 1", ylabel="PC 2", title=title or "voices (ref_s rows) on their first two principal axes"
    )
    ax.legend(fontsize=8)
    return ax


def plot_alignment(
    audio: np.ndarray,
    durations,
    tokens: list[str],
    truth: np.ndarray | None = None,
    title: str | None = None,
):
    """Token durations drawn over the recording's log-mel spectrogram.

    Args:
        audio: [600 F] the recording. durations: [L] frames per token (summing to F).
        tokens: [L] the tokens' symbols (the 0 boundaries as ``""``).
        truth: optional [L-1] reference starts of tokens 1..L-1 in frames (NaN = unknown), drawn
            as ticks on the top edge.
    """
    import matplotlib.pyplot as plt

    from ..audio import MEL_HOP, log_mel_db

    mel = log_mel_db(np.asarray(audio))
    edges = np.concatenate([[0], np.cumsum(np.asarray(durations))]) / FRAMES_PER_SECOND  # [L+1] s
    _, ax = plt.subplots(figsize=(10, 3.2))
    extent = (0, mel.shape[1] * MEL_HOP / SAMPLE_RATE, 0, mel.shape[0])
    top = float(mel.max())  # the recording's own level: eSpeak is far louder than Kokoro
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", vmin=top - 70, vmax=top, extent=extent)
    for x in edges[1:-1]:
        ax.axvline(x, color="w", lw=0.7, alpha=0.8)
    for a, b, tok in zip(edges[:-1], edges[1:], tokens, strict=True):
        if tok.strip():
            ax.text((a + b) / 2, mel.shape[0] * 0.82, tok, color="w", ha="center", fontsize=10)
    if truth is not None:
        known = np.asarray(truth)[np.isfinite(truth)] / FRAMES_PER_SECOND
        ax.plot(
            known, np.full(known.shape, mel.shape[0] - 1), "v", c="cyan", ms=6, label="eSpeak's own starts"
        )
        ax.legend(loc="lower right", fontsize=8)
    ax.set(xlabel="time (s)", ylabel="mel band", title=title or "token durations over the recording")
    return ax


def plot_dtw_path(path: np.ndarray, synthesis_durations, n_frames: int, title: str | None = None):
    """The DTW path (recording time against Kokoro's reading), with the reading's token boundaries.

    Args:
        path: [N, 2] (reading step, recording step) over the speech, 120 samples per step from
            the start of each signal. synthesis_durations: [L] frames per token of the reading.
        n_frames: the recording's frames.
    """
    import matplotlib.pyplot as plt

    from .alignment import FEATURE_HOP

    step = FEATURE_HOP / SAMPLE_RATE
    reading_s = float(np.sum(np.asarray(synthesis_durations))) / FRAMES_PER_SECOND
    recording_s = n_frames / FRAMES_PER_SECOND
    _, ax = plt.subplots(figsize=(6, 4.5))
    for x in np.cumsum(np.asarray(synthesis_durations))[:-1] / FRAMES_PER_SECOND:
        ax.axvline(x, color="0.85", lw=0.6, zorder=0)
    ax.plot(path[:, 0] * step, path[:, 1] * step, lw=1.8, label="DTW path through the speech")
    start, end = path[0] * step, path[-1] * step
    ax.plot([0, start[0]], [0, start[1]], "C1--", lw=1.2, label="silences, matched linearly")
    ax.plot([end[0], reading_s], [end[1], recording_s], "C1--", lw=1.2)
    ax.plot([0, reading_s], [0, reading_s], "k:", lw=0.8, label="same tempo")
    ax.set(
        xlabel="Kokoro's reading (s); grey: its token boundaries",
        ylabel="recording (s)",
        xlim=(0, reading_s),
        ylim=(0, recording_s),
        title=title or "where each moment of the reading falls in the recording",
    )
    ax.legend(loc="upper left", fontsize=8)
    return ax
