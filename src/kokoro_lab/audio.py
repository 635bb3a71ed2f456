"""Audio helpers: WAV output, log-mel spectrograms, and speech-likeness measurements."""

from __future__ import annotations

import os
from dataclasses import dataclass
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
