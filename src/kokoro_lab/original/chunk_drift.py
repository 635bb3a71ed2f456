"""Does speech rush or fade towards the end of a long chunk? The last second against the rest.

Two numbers per chunk, from its own durations and audio:

* ``rate_ratio``: the mean predicted duration of a phoneme (sounds only: no pauses, no stress
  marks) before the last second of speech, divided by the mean within it (without the very last
  sound, whose frames run into the final pause). Above 1: the end is spoken faster (rushed);
  below 1: slower (Kokoro, like a reader, lengthens a phrase's last sounds, so some slowing is
  normal).
* ``level_change_db``: the RMS level of the loud 5 ms frames (≥ -60 dBFS) of the last second,
  minus that of the rest. Below 0: the end is quieter (fading).

Compare long chunks with short ones: the drift that matters is what long chunks add.
``bench/seams.py`` measures it (``bench/results/seams.json``, four packed chunks of at least 120
tokens and four short ones per voice): the end of a long chunk is a little faster than the end
of a short one (median rate ratio about 1.0–1.2 against 0.8–0.9) and 1–3 dB quieter. A slight
rush and fade.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import LEVEL_HOP, QUIET_DBFS, frame_levels_db
from ..config import SAMPLE_RATE, SAMPLES_PER_FRAME
from .text import vocab
from .timestamps import NON_SOUNDS, STRESS


@dataclass(frozen=True)
class EndingDrift:
    """The last second of a chunk's speech against the rest of it."""

    rate_ratio: float  # mean phoneme duration before / in the last second (> 1: rushed)
    level_change_db: float  # level of the last second − level before (< 0: fading)
    speech_s: float  # seconds from the first to the last sound


def _level_db(frames_db: np.ndarray) -> float:
    loud = frames_db[frames_db >= QUIET_DBFS]
    return float(10 * np.log10(np.mean(10 ** (loud / 10)))) if len(loud) else float("nan")


def ending_drift(
    audio: np.ndarray,
    tokens: Sequence[int],
    durations: np.ndarray,
    last_s: float = 1.0,
    sample_rate: int = SAMPLE_RATE,
) -> EndingDrift:
    """Measure one chunk, as synthesized (before any seam trimming).

    Args:
        audio: the chunk's audio [T] float32.
        tokens: its input ids ``[0, *ids, 0]``.
        durations: frames per token [L], aligned with ``tokens``.
        last_s: the length of the end that is compared with the rest.

    Raises:
        ValueError: the chunk has less than ``2 * last_s`` of speech.
    """
    names = {i: c for c, i in vocab().items()}
    edges = np.concatenate([[0], np.cumsum(durations)]) * SAMPLES_PER_FRAME  # [L + 1] samples
    sounds = [k for k, t in enumerate(tokens) if t and names[t] not in NON_SOUNDS and names[t] not in STRESS]
    start, end = edges[sounds[0]], edges[sounds[-1] + 1]
    if end - start < 2 * last_s * sample_rate:
        raise ValueError(f"The chunk has {(end - start) / sample_rate:.2f} s of speech; need {2 * last_s} s.")
    cut = end - last_s * sample_rate
    centre = {k: (edges[k] + edges[k + 1]) / 2 for k in sounds}
    before = [durations[k] for k in sounds if centre[k] < cut]
    after = [durations[k] for k in sounds[:-1] if centre[k] >= cut]  # the last sound holds the final pause
    levels = frame_levels_db(audio)  # [frames]
    frame = np.arange(len(levels)) * LEVEL_HOP
    rest = levels[(frame >= start) & (frame < cut)]
    last = levels[(frame >= cut) & (frame < end)]
    return EndingDrift(
        float(np.mean(before) / np.mean(after)),
        _level_db(last) - _level_db(rest),
        float(end - start) / sample_rate,
    )
