"""Figures and players the chapters share."""

from __future__ import annotations

import numpy as np

from ..audio import MEL_HOP, log_mel_db
from ..config import SAMPLE_RATE


def audio_player(audio: np.ndarray, sample_rate: int = SAMPLE_RATE):
    """An IPython audio player (embedded as a small 24 kHz WAV in the HTML book)."""
    from IPython.display import Audio

    return Audio(np.asarray(audio, dtype=np.float32), rate=sample_rate, normalize=True)


def plot_mel(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, ax=None, title: str | None = None):
    """Log-mel spectrogram (80 bands, dB) of ``audio`` over time in seconds."""
    import matplotlib.pyplot as plt

    mel = log_mel_db(audio, sample_rate)  # [80, frames]
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3))
    seconds = mel.shape[1] * MEL_HOP / sample_rate
    im = ax.imshow(mel, origin="lower", aspect="auto", extent=(0, seconds, 0, mel.shape[0]), cmap="magma")
    ax.set(xlabel="time (s)", ylabel="mel band", title=title or "log-mel spectrogram")
    ax.figure.colorbar(im, ax=ax, label="dB")
    return ax


def plot_waveform(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, ax=None, title: str | None = None):
    """The waveform over time in seconds."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2))
    t = np.arange(len(audio)) / sample_rate
    ax.plot(t, audio, lw=0.5)
    ax.set(xlabel="time (s)", ylabel="amplitude", title=title or "waveform", xlim=(0, t[-1] if len(t) else 1))
    return ax


def plot_durations(symbols: list[str], durations: np.ndarray, ax=None, title: str | None = None):
    """Bars of frames per token, labelled with the phoneme symbols (boundaries shown as ∅)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, len(symbols) * 0.22), 2.5))
    x = np.arange(len(symbols))
    ax.bar(x, durations, color="tab:blue")
    ax.set_xticks(x, [s if s.strip() else "␣" for s in symbols], fontsize=8)
    ax.set(ylabel="frames (25 ms)", title=title or "predicted duration per token")
    return ax


def token_symbols(tokens: list[int]) -> list[str]:
    """Phoneme symbol for each token id (0, the boundary, becomes ∅)."""
    from ..original.text import vocab

    inverse = {i: s for s, i in vocab().items()}
    return [inverse.get(t, "∅") if t else "∅" for t in tokens]


def plot_alignment(aln: np.ndarray, symbols: list[str], ax=None, title: str | None = None):
    """The one-hot alignment [L tokens, F frames] as a heatmap, rows labelled with phonemes."""
    import matplotlib.pyplot as plt

    aln = np.asarray(aln)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, max(3, len(symbols) * 0.16)))
    ax.imshow(aln, aspect="auto", origin="upper", cmap="Greys", interpolation="nearest")
    ax.set_yticks(np.arange(len(symbols)), [s if s.strip() else "␣" for s in symbols], fontsize=7)
    ax.set(xlabel="frame (25 ms)", ylabel="token", title=title or "alignment: which token each frame reads")
    return ax


def plot_f0(
    F0_pred: np.ndarray, measured: np.ndarray | None = None, frame_rate: float = 80.0, ax=None, title=None
):
    """Predicted F0 over time, with an F0 measured from the audio (NaN where unvoiced) on top."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(9, 2.8))
    t = np.arange(len(F0_pred)) / frame_rate
    ax.plot(t, F0_pred, label="F0_pred (model)", lw=1.2)
    if measured is not None:
        ax.plot(np.arange(len(measured)) / frame_rate, measured, ".", ms=3, label="pyin on the audio")
    ax.set(xlabel="time (s)", ylabel="Hz", title=title or "F0")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_harmonics(
    sines: np.ndarray, sample_rate: int = 24000, start: float = 0.0, ms: float = 20.0, ax=None
):
    """A window of the harmonic stack [T, H]: one trace per harmonic, offset for legibility."""
    import matplotlib.pyplot as plt

    sines = np.asarray(sines)
    a, b = int(start * sample_rate), int((start + ms / 1000) * sample_rate)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    t = np.arange(a, b) / sample_rate * 1000
    step = 2.2 * max(np.abs(sines[a:b]).max(), 1e-6)
    for h in range(sines.shape[1]):
        ax.plot(t, sines[a:b, h] + h * step, lw=0.8)
    ax.set_yticks(np.arange(sines.shape[1]) * step, [f"×{h + 1}" for h in range(sines.shape[1])])
    ax.set(xlabel="time (ms)", ylabel="harmonic", title="the harmonic stack: sin(k·φ), k = 1…9")
    return ax
