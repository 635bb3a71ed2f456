"""Joining separately synthesized chunks: what a seam sounds like, and the join we use.

Kokoro starts and ends every utterance in near-digital silence (about -140 dBFS: the boundary
tokens' frames), so plain concatenation never clicks. What it gets wrong is the *length* of the
pause: each chunk brings its own quiet tail (median 0.64 s, whatever its last mark) and quiet
head (0.36 s; longer for the slower voices), so a seam pauses about 1.0 s where one utterance
pauses 0.5–1.1 s between sentences and 0–0.7 s at a comma.

:func:`seam_metrics` measures a seam. :func:`join` is the join the long-text path uses: it
shortens the seam's quiet stretch by a measured amount (``SEAM_TRIM_S``; subtracting a constant
keeps what is voice-specific in the chunks' own quiet edges),
cutting only quiet audio, with 10 ms ramps where it cuts.
:func:`compare_joins` measures the alternatives (:func:`join_candidates`) against the pause the
same voice makes inside a single utterance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..audio import LEVEL_HOP, quiet_stretches
from ..config import SAMPLE_RATE, SAMPLES_PER_FRAME

# How much shorter a seam's quiet stretch is made than naive concatenation's, at speed 1: one
# constant per kind of seam, so what is voice-specific in the chunks' own quiet edges stays.
# bench/seams.py compares it with the other joins against the same voice's pause inside one
# utterance (bench/results/seams.json): it beats naive concatenation at both kinds of seam, and
# at sentence seams a 300 ms crossfade comes closer still for jf_alpha and jm_kumo. No join makes
# a level jump or a spectral-flux peak: every seam lies in audio below -70 dBFS.
SEAM_TRIM_S: dict[str, float] = {"sentence": 0.10, "clause": 0.50}
MIN_PAUSE_S = 0.05  # never less; also the pause after a cut between plain words (no mark)
CLAUSE_MARKS = ",;:—…"
FADE_S = 0.010  # a ramp where quiet audio is cut, so even a -60 dBFS cut cannot click
LEVEL_FLOOR_DB = -70.0  # 10 dB under the quiet threshold: level changes below it are inaudible


@dataclass(frozen=True)
class SeamMetrics:
    """How audible a join is: a jump in level, a burst of new spectrum, and the pause around it."""

    energy_jump_db: float  # |level of the 10 ms after − the 10 ms before|, levels floored at -70 dBFS
    flux_peak_db: float  # the largest spectral flux within ±20 ms (mean dB rise per bin per 5 ms)
    pause_s: float  # length of the quiet stretch (< -60 dBFS) holding the join; 0 if it is loud


def _level_db(x: np.ndarray) -> float:
    return max(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20), LEVEL_FLOOR_DB)


def spectral_flux_db(audio: np.ndarray, n_fft: int = 480, hop: int = LEVEL_HOP) -> np.ndarray:
    """Positive spectral flux per ``hop`` samples: the mean rise in dB per bin. [T] → [frames].

    Frame ``k`` covers samples ``[k * hop, k * hop + n_fft)``; value ``k`` compares frame ``k``
    with frame ``k - 1`` (value 0 is 0).
    """
    audio = np.asarray(audio, dtype=np.float64).reshape(-1)
    n = max(0, (len(audio) - n_fft) // hop + 1)
    if n == 0:
        return np.zeros(0)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]  # [frames, n_fft]
    spec = np.abs(np.fft.rfft(audio[idx] * np.hanning(n_fft), axis=1)) / (
        n_fft / 4
    )  # ~1 for a full-scale sine
    db = np.maximum(20 * np.log10(spec + 1e-20), LEVEL_FLOOR_DB)  # [frames, bins]
    return np.concatenate([[0.0], np.maximum(np.diff(db, axis=0), 0).mean(axis=1)])


def seam_metrics(audio: np.ndarray, join_sample: int, sample_rate: int = SAMPLE_RATE) -> SeamMetrics:
    """Measure the seam at ``join_sample`` of ``audio`` ([T] float, 24 kHz).

    Returns:
        :class:`SeamMetrics`; compare it with the same measures at a natural pause.
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if not 0 < join_sample < len(audio):
        raise ValueError(f"join_sample must be inside the audio (1..{len(audio) - 1}), got {join_sample}.")
    w = int(0.010 * sample_rate)
    jump = abs(
        _level_db(audio[join_sample : join_sample + w])
        - _level_db(audio[max(0, join_sample - w) : join_sample])
    )
    flux = spectral_flux_db(audio)
    # frame k is centred on k * hop + n_fft / 2 samples
    centres = np.arange(len(flux)) * LEVEL_HOP + 240
    near = np.abs(centres - join_sample) <= int(0.020 * sample_rate)
    pause = next((b - a for a, b in quiet_stretches(audio) if a <= join_sample < b), 0)
    return SeamMetrics(float(jump), float(flux[near].max(initial=0.0)), pause / sample_rate)


def quiet_edges(audio: np.ndarray) -> tuple[int, int]:
    """Samples of quiet (< -60 dBFS) audio at the start and at the end of ``audio``. → (head, tail)."""
    runs = quiet_stretches(audio)
    usable = len(audio) // LEVEL_HOP * LEVEL_HOP  # the frames the levels cover
    head = runs[0][1] if runs and runs[0][0] == 0 else 0
    tail = len(audio) - runs[-1][0] if runs and runs[-1][1] == usable else 0
    return min(head, len(audio)), min(tail, len(audio) - head)


def seam_kind(phonemes: str, ends_sentence: bool) -> str:
    """``"sentence"``, ``"clause"`` (the chunk ends with ``, ; : — …``) or ``"word"`` (no mark)."""
    if ends_sentence:
        return "sentence"
    return "clause" if phonemes.rstrip()[-1:] in CLAUSE_MARKS else "word"


def seam_pause(tail: int, head: int, kind: str, speed: float = 1.0, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples of pause for a seam between a quiet ``tail`` and a quiet ``head`` (samples)."""
    floor = int(round(MIN_PAUSE_S / speed * sample_rate))
    if kind == "word":
        return floor
    return max(floor, tail + head - int(round(SEAM_TRIM_S[kind] / speed * sample_rate)))


def _ramp(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.float32) / np.float32(n + 1)  # (0, 1), exclusive


def seam_piece(
    tail: np.ndarray, head: np.ndarray, pause: int, sample_rate: int = SAMPLE_RATE
) -> tuple[np.ndarray, int]:
    """The audio between two chunks' sounds: part of a's quiet ``tail``, silence, part of b's ``head``.

    Up to half of ``pause`` (samples) comes from the end of ``head``, the rest from the start of
    ``tail``; zeros fill in only when the two are together too short. A trimmed edge gets a
    10 ms ramp, so even a cut at -60 dBFS cannot click.

    Returns:
        (the piece [pause or more samples], samples dropped from the start of ``head``).
    """
    keep_head = min(len(head), pause // 2)
    keep_tail = min(len(tail), pause - keep_head)
    left = np.array(tail[:keep_tail], dtype=np.float32)
    right = np.array(head[len(head) - keep_head :], dtype=np.float32)
    fade = int(FADE_S * sample_rate)
    if keep_tail < len(tail) and (n := min(fade, keep_tail)):
        left[keep_tail - n :] *= _ramp(n)[::-1]
    if keep_head < len(head) and (n := min(fade, keep_head)):
        right[:n] *= _ramp(n)
    silence = np.zeros(max(0, pause - keep_head - keep_tail), np.float32)
    return np.concatenate([left, silence, right]), len(head) - keep_head


@dataclass(frozen=True)
class Joined:
    """Two chunks joined: the audio, where ``b``'s sample 0 falls in it, and the seam's edges."""

    audio: np.ndarray  # [T]
    b_offset: int  # may lie before the seam when part of b's quiet head was dropped
    seam: tuple[int, int]  # [start, stop) of the piece between a's sound and b's sound


def join(
    a: np.ndarray, b: np.ndarray, kind: str = "sentence", speed: float = 1.0, sample_rate: int = SAMPLE_RATE
) -> Joined:
    """Join two chunks, shortening the quiet stretch between their sounds as ``kind`` says.

    Args:
        a, b: the chunks' audio, [T_a] and [T_b] float32.
        kind: how ``a`` ends (:func:`seam_kind`): ``"sentence"``, ``"clause"`` or ``"word"``.
        speed: the speed they were spoken at (pauses scale with it).
    """
    _, tail = quiet_edges(a)
    head, _ = quiet_edges(b)
    pause = seam_pause(tail, head, kind, speed, sample_rate)
    piece, _ = seam_piece(a[len(a) - tail :], b[:head], pause, sample_rate)
    start = len(a) - tail
    audio = np.concatenate([a[:start], piece, b[head:]]).astype(np.float32)
    return Joined(audio, start + len(piece) - head, (start, start + len(piece)))


def join_candidates(a: np.ndarray, b: np.ndarray, kind: str) -> dict[str, tuple[np.ndarray, list[int]]]:
    """The joins compared: name → (joined audio, samples to measure the seam at; gaps: both edges)."""
    out: dict[str, tuple[np.ndarray, list[int]]] = {"naive concatenation": (np.concatenate([a, b]), [len(a)])}
    for ms in (100, 300):
        gap = np.zeros(int(ms * SAMPLE_RATE / 1000), np.float32)
        out[f"silence gap {ms} ms"] = (np.concatenate([a, gap, b]), [len(a), len(a) + len(gap)])
    for ms in (50, 300):
        n = int(ms * SAMPLE_RATE / 1000)
        ramp = np.linspace(0, 1, n, dtype=np.float32)
        mixed = a[len(a) - n :] * (1 - ramp) + b[:n] * ramp
        out[f"crossfade {ms} ms"] = (np.concatenate([a[: len(a) - n], mixed, b[n:]]), [len(a) - n // 2])
    joined = join(a, b, kind)
    out["quiet shortened (chosen)"] = (joined.audio, [(joined.seam[0] + joined.seam[1]) // 2])
    return out


# Pairs of chunks compared in the seam table: whole sentences, and a sentence cut at a comma.
SENTENCE_PAIRS: tuple[tuple[str, str], ...] = (
    (
        "The quick brown fox jumps over the lazy dog.",
        "Could you please send me the report before Friday afternoon?",
    ),
    (
        "Rain fell softly on the tin roof all night long.",
        "Please remember to water the plants while I'm away.",
    ),
    (
        "Wow, that was absolutely incredible!",
        "She bought apples, pears, three lemons, and a loaf of sourdough bread.",
    ),
)
CLAUSE_PAIRS: tuple[tuple[str, str], ...] = (
    ("On a quiet morning,", "the river carried small boats past the old mill."),
    ("He whispered the password,", "and the heavy door creaked open."),
    ("Our train leaves at half past six,", "so we should hurry."),
)


def _natural_seam(text_a: str, text_b: str, voice: str) -> tuple[np.ndarray, int] | None:
    """``a b`` spoken as one utterance, and the middle of its pause between them (None if it has none)."""
    from .chunking import count_tokens
    from .synthesis import synthesize
    from .text import phonemize

    whole = synthesize(f"{text_a} {text_b}", voice=voice)
    if len(whole.tokens) != 1 or not whole.phonemes[0].startswith(phonemize(text_a)):
        return None
    k = count_tokens(phonemize(text_a))  # the mark's index among the tokens [0, *ids, 0]
    edges = np.concatenate([[0], np.cumsum(whole.durations[0])]) * SAMPLES_PER_FRAME
    lo, hi = edges[k - 1], edges[k + 2]
    overlaps = [(min(b, hi) - max(a, lo), a, b) for a, b in quiet_stretches(whole.audio) if b > lo and a < hi]
    if not overlaps:  # no pause at the mark: measure at the mark itself
        return whole.audio, int(edges[k] + edges[k + 1]) // 2
    _, a, b = max(overlaps)
    return whole.audio, (a + b) // 2


def compare_joins(
    voices: Sequence[str] = ("jf_alpha", "jm_kumo"), pairs: Sequence[tuple[str, str]] | None = None
) -> list[dict]:
    """Seam metrics of every join in :func:`join_candidates`, and of the natural pause, per voice and pair.

    Returns:
        Rows ``{voice, kind ("sentence" or "comma"), join, energy_jump_db, flux_peak_db, pause_s,
        natural_pause_s, pause_error_s}``; ``join == "natural pause"`` rows are the reference.
    """
    from .synthesis import synthesize
    from .text import phonemize

    pairs = list(SENTENCE_PAIRS + CLAUSE_PAIRS) if pairs is None else list(pairs)
    rows = []
    for voice in voices:
        for text_a, text_b in pairs:
            kind = "sentence" if text_a.rstrip()[-1] in ".!?" else "comma"
            natural = _natural_seam(text_a, text_b, voice)
            if natural is None:
                continue
            ref = seam_metrics(*natural)
            a, b = synthesize(text_a, voice=voice).audio, synthesize(text_b, voice=voice).audio
            measured = {"natural pause": [ref]}
            seam = seam_kind(phonemize(text_a), kind == "sentence")
            for name, (audio, at) in join_candidates(a, b, seam).items():
                measured[name] = [seam_metrics(audio, s) for s in at]
            for name, ms in measured.items():
                rows.append(
                    {
                        "voice": voice,
                        "kind": kind,
                        "join": name,
                        "energy_jump_db": max(m.energy_jump_db for m in ms),
                        "flux_peak_db": max(m.flux_peak_db for m in ms),
                        "pause_s": ms[0].pause_s,
                        "natural_pause_s": ref.pause_s,
                        "pause_error_s": abs(ms[0].pause_s - ref.pause_s),
                    }
                )
    return rows
