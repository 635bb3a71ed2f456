"""Audio helpers shared by every part of the book: WAV output and the log-mel spectrogram."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_path
from .config import SAMPLE_RATE

MEL_BANDS = 80
MEL_N_FFT = 2048
MEL_HOP = 300  # 12.5 ms
DB_FLOOR = -80.0  # dB re full scale; quieter bins are clipped so silence does not dominate


def write_wav(
    path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE, overwrite: bool = False
) -> Path:
    """Write mono float audio as 16-bit PCM WAV, atomically.

    Raises:
        OutputExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: the audio is empty or not finite.
    """
    import soundfile as sf

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise ValueError("Audio is empty or contains NaN/inf; nothing was written.")
    with atomic_path(path, overwrite) as tmp:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


def log_mel_db(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """80-band log-mel power spectrogram in dB re 1.0, floored at -80 dB. Shape [80, frames]."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=np.asarray(audio, dtype=np.float32),
        sr=sample_rate,
        n_fft=MEL_N_FFT,
        hop_length=MEL_HOP,
        n_mels=MEL_BANDS,
    )
    return np.maximum(librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), DB_FLOOR)
