"""Figures for the Transformer TTS chapter: loss curves and mel comparisons."""

from __future__ import annotations

import torch


def plot_losses(history: dict[str, list[float]], ax=None, title: str | None = None):
    """Each loss term of :func:`~kokoro_lab.transformer_tts.training.train` over the steps (log scale)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    for key in ("loss", "mel_l1", "duration_mse", "stop_bce"):
        if history.get(key):
            ax.plot(history["step"], history[key], label=key, lw=1.5 if key == "loss" else 1.0)
    ax.set(xlabel="step", ylabel="loss", yscale="log", title=title or "training losses")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_mels(mels: dict[str, torch.Tensor], title: str | None = None):
    """Side-by-side mels ``{label: [T, n_mels]}`` on a shared colour scale (time on the x-axis)."""
    import matplotlib.pyplot as plt

    arrays = {k: v.detach().cpu().float().numpy().T for k, v in mels.items()}  # [n_mels, T]
    vmin = min(a.min() for a in arrays.values())
    vmax = max(a.max() for a in arrays.values())
    fig, axes = plt.subplots(len(arrays), 1, figsize=(9, 2.2 * len(arrays)), squeeze=False)
    for ax, (label, a) in zip(axes[:, 0], arrays.items(), strict=True):
        im = ax.imshow(a, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax)
        ax.set(ylabel="mel band", title=label)
    axes[-1, 0].set_xlabel("frame (25 ms)")
    fig.colorbar(im, ax=axes[:, 0].tolist(), shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig
