"""Audio helpers shared by every part of the book: WAV output and the log-mel spectrogram."""

from __future__ import annotations

import os
import struct
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


QUIET_DBFS = -60.0  # Kokoro's pauses sit near -140 dBFS and its speech above -45 dBFS; -60 splits them
LEVEL_HOP = 120  # 5 ms at 24 kHz


def frame_levels_db(audio: np.ndarray, hop: int = LEVEL_HOP) -> np.ndarray:
    """RMS level of consecutive ``hop``-sample frames in dB re full scale. [T] → [T // hop]."""
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    n = len(audio) // hop
    frames = audio[: n * hop].reshape(n, hop)  # [frames, hop]
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def quiet_stretches(
    audio: np.ndarray,
    threshold_db: float = QUIET_DBFS,
    min_seconds: float = 0.0,
    sample_rate: int = SAMPLE_RATE,
) -> list[tuple[int, int]]:
    """[start, stop) sample ranges where every 5 ms frame is below ``threshold_db`` dBFS.

    Args:
        audio: [T] float audio.
        threshold_db: frames quieter than this count as silence.
        min_seconds: drop stretches shorter than this.
        sample_rate: Hz.

    Returns:
        The stretches in order, in samples, each a whole number of 5 ms frames.
    """
    quiet = np.concatenate([[False], frame_levels_db(audio) < threshold_db, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))  # starts and stops, alternating
    runs = [(int(a) * LEVEL_HOP, int(b) * LEVEL_HOP) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    return [(a, b) for a, b in runs if b - a >= min_seconds * sample_rate]


STREAM_SIZE = 0xFFFFFFFF  # a WAV header's "size unknown": what ffmpeg and sox write to a pipe


def pcm16(audio: np.ndarray) -> bytes:
    """Mono float audio as little-endian 16-bit PCM bytes (clipped to ±1, scaled by 32767 as libsndfile does)."""
    audio = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
    return np.rint(audio * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int = SAMPLE_RATE, n_samples: int | None = None) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV file.

    Args:
        sample_rate: Hz.
        n_samples: the number of samples that follow; None for a stream of unknown length,
            whose RIFF and data sizes are then 0xFFFFFFFF (players read until the pipe closes).
    """
    data = STREAM_SIZE if n_samples is None else 2 * n_samples
    riff = STREAM_SIZE if n_samples is None else 36 + data
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, 2 * sample_rate, 2, 16)  # PCM, mono, 16-bit
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )
