"""Measured pitch: F0 from audio with ``librosa.pyin``, and its agreement with ``F0_pred``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import SAMPLE_RATE

F0_HOP = 300  # F0_pred has 2 values per 600-sample frame: 80 per second


def pyin_f0(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    hop: int = F0_HOP,
    fmin: float = 50.0,
    fmax: float = 600.0,
    frame_length: int = 1024,
) -> np.ndarray:
    """F0 in Hz per ``hop`` samples (NaN where pyin finds no voicing). Frame i is centred on
    sample ``hop·i + hop/2``, the centre of the model's i-th F0 frame. The 1024-sample (43 ms)
    window follows Kokoro's fast pitch movements better than librosa's 2048 default.
    """
    import librosa

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if audio.size < 4 * hop:
        raise ValueError(f"Audio of {audio.size} samples is too short for pitch tracking.")
    shifted = np.pad(audio, (0, hop))[hop // 2 :]  # so frame i is centred on hop·i + hop/2
    f0, voiced, _ = librosa.pyin(
        shifted, fmin=fmin, fmax=fmax, sr=sample_rate, frame_length=frame_length, hop_length=hop, center=True
    )
    n = int(np.ceil(audio.size / hop))
    f0 = np.where(voiced, f0, np.nan)[:n]
    return np.pad(f0, (0, n - f0.size), constant_values=np.nan)


@dataclass(frozen=True)
class F0Agreement:
    """How closely a predicted F0 curve matches one measured from the audio, on voiced frames."""

    voiced_frames: int  # frames voiced in both
    median_abs_cents: float
    mean_abs_hz: float
    within_50_cents: float  # fraction of voiced frames within a quarter tone
    voicing_agreement: float  # fraction of all frames where both call it voiced or both unvoiced


def f0_agreement(F0_pred: np.ndarray, measured: np.ndarray, voiced_threshold: float = 50.0) -> F0Agreement:
    """Compare ``F0_pred`` [T] (Hz) with a measured F0 [T'] (NaN unvoiced) over their common frames.

    Kokoro's source is voiced above 10 Hz, but predicted values below ~50 Hz only occur on the
    slopes into and out of unvoiced sounds, so they are not counted as voiced here.
    """
    n = min(len(F0_pred), len(measured))
    pred, meas = np.asarray(F0_pred, dtype=np.float64)[:n], np.asarray(measured, dtype=np.float64)[:n]
    pred_voiced, meas_voiced = pred > voiced_threshold, np.isfinite(meas)
    both = pred_voiced & meas_voiced
    if not both.any():
        raise ValueError("No frame is voiced in both curves; nothing to compare.")
    cents = 1200 * np.abs(np.log2(meas[both] / pred[both]))
    return F0Agreement(
        voiced_frames=int(both.sum()),
        median_abs_cents=float(np.median(cents)),
        mean_abs_hz=float(np.mean(np.abs(meas[both] - pred[both]))),
        within_50_cents=float(np.mean(cents <= 50)),
        voicing_agreement=float(np.mean(pred_voiced == meas_voiced)),
    )
