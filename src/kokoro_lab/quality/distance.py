"""Log-mel distance between two renderings of the same utterance, plain and DTW-aligned."""

from __future__ import annotations

import numpy as np

from ..audio import log_mel_db
from ..config import SAMPLE_RATE


def log_mel_distance(a: np.ndarray, b: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Mean absolute log-mel difference in dB between two signals (trimmed to the shorter one)."""
    n = min(len(a), len(b))
    return float(np.mean(np.abs(log_mel_db(a[:n], sample_rate) - log_mel_db(b[:n], sample_rate))))


def aligned_log_mel_distance(a: np.ndarray, b: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """Mean absolute log-mel difference in dB after aligning the frames with DTW.

    Robust to a phoneme lasting a frame longer in one signal, which shifts everything after it
    and makes :func:`log_mel_distance` measure the shift rather than the sound.
    """
    import librosa

    A, B = log_mel_db(a, sample_rate), log_mel_db(b, sample_rate)  # [80, Ta], [80, Tb]
    _, path = librosa.sequence.dtw(X=A, Y=B, metric="euclidean")  # [(i, j), ...] end to start
    return float(np.mean(np.abs(A[:, path[:, 0]] - B[:, path[:, 1]])))
