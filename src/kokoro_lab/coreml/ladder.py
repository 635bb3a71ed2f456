"""Bucket ladders for the two-stage pipeline: token buckets for the text stage, frame buckets for
the acoustic stage, each a geometric series, and what a ratio costs in padding.

A fixed-shape stage always computes its whole bucket. With rungs ``F_k = F_{k-1} · r``, a text
that needs one frame more than a rung goes to the next one, so at most ``1 - 1/r`` of the frames
computed are padding (20 % at r = 1.25, 33 % at 1.5, 50 % at 2); a smaller ratio wastes less and
needs more rungs. :func:`ladder_table` puts numbers on that trade-off, from the measured seconds
per rung (:class:`CostModel`, written by ``bench/pipeline.py``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..config import FRAMES_PER_SECOND

LADDER_MIN_FRAMES = 40  # 1 s: shorter texts all share the first rung
LADDER_MAX_FRAMES = 600  # 15 s: the largest single-graph bucket; longer texts are split

# Chosen with choose_ratio from the acoustic stage's CPU seconds per frame count (bench/pipeline.py
# --parts ladder, one thread; ``ladder`` in bench/results/pipeline.json): padded work over the
# unpadded work of the same text, worst / mean over every length from 1 to 15 s:
#   r = 1.1: 29 rungs, 1.27 / 1.12 · r = 1.15: 20 rungs, 1.35 / 1.16 · r = 1.25: 14 rungs, 1.57 / 1.21
#   r = 1.5: 8 rungs, 1.68 / 1.31 · r = 2: 5 rungs, 2.36 / 1.58.
# 1.15 is the fewest rungs whose mean is within 5 % of the best (1.1's 1.12). The masks cost up to
# ~10 % even without padding (600 frames: 12.3 s padded, 11.3 s unpadded), and 600 frames cost
# 46 % more than 480 for 25 % more frames, which sets every ratio's worst case. Each rung is one
# more acoustic package to convert and store (or, in one multifunction package for iOS 18, one
# more function sharing the weights: bench/pipeline.py measures both).
FRAME_LADDER_RATIO = 1.15

# The text stage costs ~2 ms of CPU per token against ~16 ms per frame of the acoustic stage
# (3 to 6 frames per token), so a coarse ladder wastes little: doubling from 16 tokens, up to
# the 15 s bucket's 160 tokens (kokoro_lab.coreml.buckets), costs at most ~3 % of a text's work.
TEXT_LADDER_RATIO = 2.0
TEXT_MIN_TOKENS = 16
TEXT_MAX_TOKENS = 160


class LadderError(ValueError):
    """A text does not fit the largest bucket of a ladder; the message names the fix."""


class TextTooLongForPipeline(LadderError):
    """More tokens than the largest text bucket holds."""


class FrameOverflowError(LadderError):
    """The durations ask for more frames than the largest frame bucket holds."""


def geometric_ladder(lo: int, hi: int, ratio: float) -> tuple[int, ...]:
    """Rungs ``lo, ⌈lo·r⌉, ⌈lo·r²⌉, …`` up to ``hi`` (the last rung is ``hi`` itself).

    Each rung is rounded up from the previous rung times ``ratio``, so no step exceeds it by more
    than one unit.
    """
    if not ratio > 1:
        raise ValueError(f"ratio must be > 1, got {ratio}.")
    if not 1 <= lo <= hi:
        raise ValueError(f"need 1 ≤ lo ≤ hi, got {lo}, {hi}.")
    rungs = [lo]
    while rungs[-1] < hi:
        rungs.append(min(hi, math.ceil(rungs[-1] * ratio - 1e-9)))
    return tuple(rungs)


FRAME_BUCKETS: tuple[int, ...] = geometric_ladder(LADDER_MIN_FRAMES, LADDER_MAX_FRAMES, FRAME_LADDER_RATIO)
TEXT_BUCKETS: tuple[int, ...] = geometric_ladder(TEXT_MIN_TOKENS, TEXT_MAX_TOKENS, TEXT_LADDER_RATIO)


def text_bucket_for(n_tokens: int, buckets: Sequence[int] = TEXT_BUCKETS) -> int:
    """The smallest text bucket holding ``n_tokens`` tokens (boundaries included).

    Raises:
        TextTooLongForPipeline: more tokens than the largest bucket holds.
    """
    buckets = sorted(buckets)
    i = bisect.bisect_left(buckets, n_tokens)
    if i == len(buckets):
        raise TextTooLongForPipeline(
            f"{n_tokens - 2} phoneme tokens + 2 boundaries do not fit the largest text bucket "
            f"({buckets[-1]} tokens); split the text into sentences (kokoro_lab.split_phonemes) or "
            "use the long-text path (kokoro_lab.synthesize splits and joins)."
        )
    return buckets[i]


def frame_bucket_for(frames: int, buckets: Sequence[int] = FRAME_BUCKETS) -> int:
    """The smallest frame bucket holding ``frames`` duration frames.

    Raises:
        FrameOverflowError: more frames than the largest bucket holds (never truncated silently).
    """
    buckets = sorted(buckets)
    i = bisect.bisect_left(buckets, frames)
    if i == len(buckets):
        raise FrameOverflowError(
            f"the predicted durations need {frames} frames ({frames / FRAMES_PER_SECOND:.2f} s), "
            f"{frames - buckets[-1]} more than the largest frame bucket ({buckets[-1]} frames); "
            "split the text, raise the speed, or convert a larger frame bucket."
        )
    return buckets[i]


@dataclass(frozen=True)
class CostModel:
    """Measured seconds of the acoustic stage against frames, padded and unpadded.

    ``padded``: the stage built for F frames (its cost depends on F only); ``unpadded``: the same
    computation on exactly F valid frames, as the original model does. Between measured frame
    counts, seconds are interpolated linearly (and extrapolated from the two nearest points).
    """

    frames: tuple[int, ...]
    padded: tuple[float, ...]
    unpadded: tuple[float, ...]

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> CostModel:
        """From rows with ``frames``, ``padded_s`` and ``unpadded_s`` (bench/results/pipeline.json)."""
        rows = sorted(rows, key=lambda r: r["frames"])
        return cls(
            tuple(r["frames"] for r in rows),
            tuple(r["padded_s"] for r in rows),
            tuple(r["unpadded_s"] for r in rows),
        )

    def _at(self, values: Sequence[float], frames: float) -> float:
        xs = self.frames
        if len(xs) < 2:
            raise ValueError("a cost model needs at least two measured frame counts.")
        i = min(max(bisect.bisect_left(xs, frames), 1), len(xs) - 1)
        x0, x1, y0, y1 = xs[i - 1], xs[i], values[i - 1], values[i]
        return y0 + (y1 - y0) * (frames - x0) / (x1 - x0)

    def padded_s(self, frames: float) -> float:
        return self._at(self.padded, frames)

    def unpadded_s(self, frames: float) -> float:
        return self._at(self.unpadded, frames)


@dataclass(frozen=True)
class LadderRow:
    """One ratio's ladder and what it costs (see :func:`ladder_table`)."""

    ratio: float
    rungs: int
    ladder: tuple[int, ...]
    worst_padded_fraction: float  # of the frames computed, for texts of lo..hi frames
    mean_padded_fraction: float
    worst_cost_ratio: float | None  # padded / unpadded seconds, from a CostModel
    mean_cost_ratio: float | None


def ladder_table(
    ratios: Iterable[float] = (1.1, 1.15, 1.25, 1.5, 2.0),
    cost: CostModel | None = None,
    lo: int = LADDER_MIN_FRAMES,
    hi: int = LADDER_MAX_FRAMES,
) -> list[LadderRow]:
    """For each ratio: the rungs, the padded fraction (worst and mean), and with ``cost`` the
    padded work as a multiple of the unpadded work (worst and mean).

    Texts are taken to need every frame count from ``lo`` to ``hi`` equally often (1 to 15 s).
    """
    rows = []
    for r in ratios:
        ladder = geometric_ladder(lo, hi, r)
        fractions, costs = [], []
        for frames in range(lo, hi + 1):
            rung = frame_bucket_for(frames, ladder)
            fractions.append(1 - frames / rung)
            if cost is not None:
                costs.append(cost.padded_s(rung) / cost.unpadded_s(frames))
        rows.append(
            LadderRow(
                ratio=r,
                rungs=len(ladder),
                ladder=ladder,
                worst_padded_fraction=max(fractions),
                mean_padded_fraction=sum(fractions) / len(fractions),
                worst_cost_ratio=max(costs) if costs else None,
                mean_cost_ratio=sum(costs) / len(costs) if costs else None,
            )
        )
    return rows


LADDER_CANDIDATES = (1.1, 1.15, 1.25, 1.5, 2.0)  # the ratios bench/pipeline.py compares
MEAN_TOLERANCE = 0.05  # a finer ladder must save more than 5 % of the mean work to be worth its rungs


def choose_ratio(table: Sequence[LadderRow], tolerance: float = MEAN_TOLERANCE) -> float:
    """The largest ratio (fewest rungs) whose mean padded work is within ``tolerance`` of the
    smallest mean in ``table``: past it, more rungs buy less than ``tolerance``.

    ``table`` comes from :func:`ladder_table` with a :class:`CostModel`.
    """
    if not table or any(r.mean_cost_ratio is None for r in table):
        raise ValueError("choose_ratio needs a table measured with a CostModel.")
    best = min(r.mean_cost_ratio for r in table)
    return max(r.ratio for r in table if r.mean_cost_ratio <= best * (1 + tolerance))


__all__ = [
    "FRAME_BUCKETS",
    "FRAME_LADDER_RATIO",
    "LADDER_CANDIDATES",
    "LADDER_MAX_FRAMES",
    "LADDER_MIN_FRAMES",
    "TEXT_BUCKETS",
    "TEXT_LADDER_RATIO",
    "MEAN_TOLERANCE",
    "CostModel",
    "FrameOverflowError",
    "LadderError",
    "LadderRow",
    "TextTooLongForPipeline",
    "choose_ratio",
    "frame_bucket_for",
    "geometric_ladder",
    "ladder_table",
    "text_bucket_for",
]
