"""A check of word timings against the audio itself, with no speech recogniser.

Where the text puts a pause between two words (a comma, a full stop, …), the boundary between
their timings should fall inside a quiet stretch of the audio. :func:`check_pauses` tests that
for every such pair: the midpoint between the first word's end and the second word's start must
lie in a stretch of at least ``min_quiet_s`` below -60 dBFS, give or take ``tolerance_s`` (one
duration frame is 25 ms). Word pairs with no mark between them are the control: there the
check holds far less often, since running speech has only short closures.

Measured on 2026-12-06 over 5 texts of 4 sample sentences × 3 voices (jf_alpha, jm_kumo,
jf_nezumi): 87 % of the 84 marked boundaries hold (every sentence end; the 11 misses are all
commas, 9 of them jf_alpha's, a voice that barely pauses at commas), against 20 % of the 537
unmarked ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import quiet_stretches
from ..config import SAMPLE_RATE
from .timestamps import WordTiming

PAUSE_MARKS = ",;:.!?…—"


@dataclass(frozen=True)
class PauseBoundary:
    """The boundary between two consecutive words, and whether it falls in a quiet stretch."""

    left: str
    right: str
    boundary_s: float  # midway between ``left``'s end and ``right``'s start
    quiet_s: tuple[float, float] | None  # the quiet stretch it falls in, if any
    marked: bool  # the text puts a pause mark after ``left``

    @property
    def holds(self) -> bool:
        return self.quiet_s is not None


def has_pause_mark(word: str) -> bool:
    """True if ``word`` ends with a pause mark (closing quotes and brackets skipped)."""
    return word.rstrip("\"')]”’")[-1:] in PAUSE_MARKS


def check_pauses(
    words: Sequence[WordTiming],
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    min_quiet_s: float = 0.05,
    tolerance_s: float = 0.025,
) -> list[PauseBoundary]:
    """Check every boundary between consecutive words of ``audio`` ([T] float).

    Returns:
        One :class:`PauseBoundary` per pair of consecutive words, marked or not; the check is
        about the ``marked`` ones (the others are the control).
    """
    quiet = [(a / sample_rate, b / sample_rate) for a, b in quiet_stretches(audio, min_seconds=min_quiet_s)]
    out = []
    for left, right in zip(words, words[1:], strict=False):
        mid = (left.end_s + right.start_s) / 2
        hit = next((q for q in quiet if q[0] - tolerance_s <= mid <= q[1] + tolerance_s), None)
        out.append(PauseBoundary(left.word, right.word, mid, hit, has_pause_mark(left.word)))
    return out


def pause_agreement(boundaries: Sequence[PauseBoundary], marked: bool = True) -> float:
    """Fraction of the (un)marked boundaries that fall in a quiet stretch (nan if there are none)."""
    chosen = [b.holds for b in boundaries if b.marked == marked]
    return float(np.mean(chosen)) if chosen else float("nan")
