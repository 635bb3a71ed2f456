"""Is it speech at all? Spectral flatness, low-band energy and voicing, against noise and tones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import SAMPLE_RATE


@dataclass(frozen=True)
class SpeechStats:
    """Measurements that separate speech from noise, tones and silence."""

    spectral_flatness: float  # mean over active frames; white noise ≈ 0.5, speech < 0.1
    energy_below_4k: float  # fraction of spectral energy under 4 kHz
    voiced_fraction: float  # fraction of frames with a pitch (pYIN)
    rms: float

    def is_speech_like(self) -> bool:
        """The thresholds the project's tests use: flatness < 0.1, ≥ 95 % below 4 kHz, voiced ≥ 20 %."""
        return self.spectral_flatness < 0.1 and self.energy_below_4k >= 0.95 and self.voiced_fraction >= 0.2


def speech_stats(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> SpeechStats:
    """Measure how speech-like a signal is (see :class:`SpeechStats`).

    Flatness is averaged over the active frames (within 40 dB of the loudest), so leading and
    trailing silence, which is noise-like, does not count against the speech in between.
    """
    import librosa

    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if y.size < 2048 or not np.isfinite(y).all():
        raise ValueError("Audio is shorter than 2048 samples or not finite; cannot measure it.")
    spec = np.abs(librosa.stft(y, n_fft=1024, hop_length=256))
    frame_power = (spec**2).sum(axis=0)
    active = frame_power >= frame_power.max() * 1e-4
    flat = librosa.feature.spectral_flatness(S=spec)[0]
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=1024)
    power = spec**2
    below = float(power[freqs < 4000].sum() / max(power.sum(), 1e-20))
    _, voiced, _ = librosa.pyin(y, fmin=60, fmax=500, sr=sample_rate, frame_length=2048, hop_length=600)
    return SpeechStats(
        float(flat[active].mean()), below, float(np.mean(voiced)), float(np.sqrt(np.mean(y**2)))
    )
