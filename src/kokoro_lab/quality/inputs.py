"""Checks shared by the model-based measures: audio that is mono, finite, not empty, not silent
and at a known rate; and the one error for a measuring model that is missing.

The rule for sample rates, the same for every measure here: ``sample_rate`` states the rate of
the audio passed in (Kokoro's 24 kHz by default). Audio at any other rate is accepted and
resampled, never refused, and the result records the rate it came in at (``resampled_from``,
``None`` for 24 kHz audio). Each model then gets the rate it was trained on (16 kHz for Whisper
and for resemblyzer), resampled in one step from the input rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import SAMPLE_RATE

SILENCE_PEAK = 1e-4  # -80 dBFS: below this everywhere, a signal has nothing to transcribe or embed
MIN_SAMPLE_RATE = 8_000  # telephone speech; anything lower cannot hold intelligible speech


class ModelUnavailableError(RuntimeError):
    """A measuring model (ASR, speaker encoder) is not installed or does not load.

    The message names the package to install or the path to fix.
    """


@dataclass(frozen=True)
class CheckedAudio:
    """Audio ready for a model: mono float32 at the model's rate."""

    samples: np.ndarray  # [T] float32 at the model's rate
    resampled_from: int | None  # the input rate when it was not SAMPLE_RATE, else None


def check_audio(audio: np.ndarray, sample_rate: int, target_rate: int, name: str = "audio") -> CheckedAudio:
    """Validate ``audio`` and resample it from ``sample_rate`` to ``target_rate`` (Hz).

    Args:
        audio: mono samples, [T] (or [1, T], [1, 1, T]: singleton axes are dropped); floats in
            [-1, 1], or integer PCM, which is scaled to that range.
        sample_rate: the rate of ``audio`` in Hz.
        target_rate: the rate the model needs, in Hz.
        name: how error messages call this input ("audio", "reference").

    Returns:
        :class:`CheckedAudio` with ``samples`` [T'] float32, T' = T·target_rate/sample_rate.

    Raises:
        ValueError: for more than one channel, no samples, NaN or infinity, a silent signal, or
            a sample rate that is not an integer ≥ 8 kHz.
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ValueError(f"sample_rate must be an integer number of Hz, got {sample_rate!r}.")
    if sample_rate < MIN_SAMPLE_RATE:
        raise ValueError(
            f"sample_rate {sample_rate} Hz is below {MIN_SAMPLE_RATE} Hz; pass the rate the {name} "
            f"was recorded at (Kokoro's is {SAMPLE_RATE})."
        )
    y = np.asarray(audio)
    if y.ndim > 1:
        y = np.squeeze(y)
    if y.ndim != 1:
        raise ValueError(
            f"The {name} must be mono, shape [T]; got shape {list(np.shape(audio))}. "
            "Mix the channels down first, e.g. audio.mean(axis=0)."
        )
    if y.size == 0:
        raise ValueError(f"The {name} is empty (0 samples); there is nothing to measure.")
    if np.issubdtype(y.dtype, np.integer):  # int16 PCM from a WAV file: full scale is ±1
        y = y / float(np.iinfo(y.dtype).max)
    y = y.astype(np.float32)
    if not np.isfinite(y).all():
        raise ValueError(f"The {name} contains NaN or infinite samples; the synthesis that made it failed.")
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE_PEAK:
        raise ValueError(
            f"The {name} is silent (peak {peak:.1e}, below {SILENCE_PEAK:.0e} = -80 dBFS); "
            "there is no speech to measure."
        )
    resampled_from = None if sample_rate == SAMPLE_RATE else int(sample_rate)
    if sample_rate != target_rate:
        import librosa

        y = librosa.resample(y, orig_sr=int(sample_rate), target_sr=target_rate).astype(np.float32)
    return CheckedAudio(y, resampled_from)
