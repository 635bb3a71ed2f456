"""Fixed-shape buckets for the CoreML model: how many tokens fit in so many seconds of audio.

A CoreML model has fixed shapes, so it is converted once per *bucket*: ``max_frames`` duration
frames of audio (40 per second, 600 samples each) and ``max_tokens`` phoneme tokens (the two 0
boundaries included). ``max_frames`` follows from the seconds; ``max_tokens`` is *measured*: how
many tokens of real English text the duration predictor stretches over at most ``max_frames``
frames, for the slowest-speaking offline voice at speed 1, with a safety margin.

The constants in :data:`BUCKETS` were measured with :func:`measure_token_limit` on
:data:`SAMPLE_TEXTS` (see the comment there); ``tests/test_coreml_convert.py`` re-checks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import FRAMES_PER_SECOND, MAX_PHONEME_TOKENS, SAMPLES_PER_FRAME

if TYPE_CHECKING:
    import torch

SAFETY_MARGIN = 0.10  # the worst measured text must fit in max_frames / (1 + margin)

# Twenty varied English sentences: statements, questions, exclamations, lists with pauses,
# numbers spelled out, long words. Concatenations of them give texts of 10 to 500 tokens.
SAMPLE_TEXTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "Could you please send me the report before Friday afternoon?",
    "On a quiet morning, the river carried small boats past the old mill.",
    "Seventeen engineers gathered in the basement to debug the failing build.",
    "Wow, that was absolutely incredible!",
    "She bought apples, pears, three lemons, and a loaf of sourdough bread.",
    "Photosynthesis converts sunlight, water, and carbon dioxide into sugar and oxygen.",
    "I'm not sure whether we should turn left here, or keep going straight.",
    "The meeting has been moved to room four hundred and twelve.",
    "Rain fell softly on the tin roof all night long.",
    "Honestly, I think the second draft reads much better than the first one.",
    "Mount Everest rises more than eight thousand eight hundred meters above sea level.",
    "Please remember to water the plants while I'm away.",
    "The orchestra tuned their instruments as the lights slowly dimmed.",
    "Why do cats always knock things off the table?",
    "Our train leaves at half past six, so we should hurry.",
    "Extraordinary claims require extraordinary evidence, according to the famous saying.",
    "He whispered the password, and the heavy door creaked open.",
    "Thank you for calling; your call is important to us.",
    "Tomorrow's forecast calls for sunshine in the morning and thunderstorms by evening.",
)


@dataclass(frozen=True)
class Bucket:
    """One fixed input/output shape: ``max_tokens`` tokens in, ``max_frames`` × 600 samples out."""

    name: str
    seconds: float
    max_tokens: int  # boundaries included: at most max_tokens - 2 phoneme tokens
    max_frames: int

    @property
    def max_samples(self) -> int:
        return self.max_frames * SAMPLES_PER_FRAME

    @property
    def max_phonemes(self) -> int:
        """Phoneme tokens a text may have (the two boundaries excluded)."""
        return self.max_tokens - 2


def frames_for(seconds: float) -> int:
    """Duration frames in ``seconds`` of audio (40 per second)."""
    return int(round(seconds * FRAMES_PER_SECOND))


# max_tokens measured on 2026-11-22 with measure_token_limit(seconds) over sample_texts() (91
# texts of 11 to 497 tokens), all 5 offline voices, speed 1, SAFETY_MARGIN 10 %. Worst rate near
# each limit, in frames per token (boundaries included): 2s 5.64 (jf_nezumi, short texts pause
# most), 5s 4.30 (jf_gongitsune), 10s 3.49 (jf_gongitsune), 15s 3.39 (jf_nezumi).
BUCKETS: dict[str, Bucket] = {
    b.name: b
    for b in (
        Bucket("2s", 2.0, max_tokens=12, max_frames=frames_for(2.0)),  # tiny: tests and CI
        Bucket("5s", 5.0, max_tokens=42, max_frames=frames_for(5.0)),
        Bucket("10s", 10.0, max_tokens=104, max_frames=frames_for(10.0)),
        Bucket("15s", 15.0, max_tokens=160, max_frames=frames_for(15.0)),
    )
}


def get_bucket(name: str) -> Bucket:
    """The bucket called ``name``; ``ValueError`` names the valid choices."""
    try:
        return BUCKETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown bucket {name!r}; choose one of {', '.join(BUCKETS)}.") from None


def bucket_for(n_phonemes: int) -> Bucket:
    """The smallest bucket whose ``max_tokens`` holds ``n_phonemes`` tokens plus the boundaries."""
    for b in sorted(BUCKETS.values(), key=lambda b: b.max_tokens):
        if n_phonemes + 2 <= b.max_tokens:
            return b
    raise ValueError(
        f"{n_phonemes} phoneme tokens fit no bucket (the largest holds {max(BUCKETS.values(), key=lambda b: b.max_tokens).max_phonemes}); split the text."
    )


@dataclass(frozen=True)
class TextSample:
    """A measurement text and its phoneme token ids (boundaries excluded)."""

    text: str
    ids: tuple[int, ...]

    @property
    def n_tokens(self) -> int:
        """Tokens with the two boundaries, as ``max_tokens`` counts them."""
        return len(self.ids) + 2


def sample_texts(sentences: Sequence[str] = SAMPLE_TEXTS) -> list[TextSample]:
    """Phonemized measurement texts, shortest first.

    Every sentence alone, its first half (short texts for small buckets), and runs of 2 to 11
    consecutive sentences; texts over Kokoro's 510 tokens are dropped.
    """
    from ..original.text import phonemize, tokenize, vocab

    v = vocab()
    n = len(sentences)
    texts: list[str] = []
    for i, s in enumerate(sentences):
        words = s.split()
        texts.append(" ".join(words[: max(2, len(words) // 2)]))
        for k in (1, 2, 3, 4, 6, 8, 11):
            if k == 1 or i % (1 if k <= 3 else 4) == 0:  # fewer of the long runs: they cost most
                texts.append(" ".join(sentences[(i + j) % n] for j in range(k)))
    samples = []
    for text in dict.fromkeys(texts):  # unique, in order
        phonemes = phonemize(text)
        if sum(p in v for p in phonemes) <= MAX_PHONEME_TOKENS:
            samples.append(TextSample(text, tuple(tokenize(phonemes))))
    return sorted(samples, key=lambda s: s.n_tokens)


def predicted_frames(model, ids: Sequence[int], ref_s: torch.Tensor, speed: float = 1.0) -> int:
    """Total duration frames the predictor gives ``ids`` (boundaries excluded) — no decoder.

    Runs :meth:`KokoroCompleteCoreML.durations` unpadded, i.e. exactly what the converted model
    computes for this text in any bucket (exact mode is padding-independent).
    """
    import torch

    from ..rewrite.model import pad_inputs

    km = _duration_module(model)
    input_ids, attention_mask = pad_inputs(ids, len(ids) + 2)
    with torch.inference_mode():
        _, pred_dur = km.durations(input_ids, ref_s, attention_mask, torch.tensor([float(speed)]))
    return int(pred_dur.sum())


_DURATION_MODULES: dict[int, object] = {}


def _duration_module(model):
    from ..rewrite.model import KokoroCompleteCoreML

    key = id(model)
    if key not in _DURATION_MODULES:  # wrapping is cheap, but keep one per model
        _DURATION_MODULES.clear()
        _DURATION_MODULES[key] = KokoroCompleteCoreML(model, MAX_PHONEME_TOKENS + 2, 1).eval()
    return _DURATION_MODULES[key]


@dataclass(frozen=True)
class TokenLimit:
    """Result of :func:`measure_token_limit`."""

    seconds: float
    max_frames: int
    max_tokens: int  # boundaries included
    worst_voice: str  # the voice with the most frames per token near the limit
    worst_rate: float  # its frames per token there
    measurements: tuple[tuple[int, str, int], ...]  # (n_tokens, voice, frames) for each text × voice


def measure_token_limit(
    seconds: float,
    texts: Iterable[TextSample] | None = None,
    voices: Sequence[str] | None = None,
    model=None,
    margin: float = SAFETY_MARGIN,
) -> TokenLimit:
    """The largest ``max_tokens`` whose texts fit ``seconds`` of audio at speed 1, with a margin.

    Each text is run through the duration predictor only, for every voice; texts are taken
    shortest first and the search stops once even the fastest voice overflows. ``m`` tokens
    (boundaries included) are accepted when

    * every measured text of at most ``m`` tokens fits: ``frames · (1 + margin) ≤ max_frames``, and
    * extrapolating the worst rate among texts of ``m/2 .. m`` tokens to ``m`` tokens fits too:
      ``m · max(frames / n_tokens) · (1 + margin) ≤ max_frames`` (so a gap between measured
      lengths cannot hide an overflow), with at least one text in that range.

    Args:
        seconds: bucket length; ``max_frames = 40 · seconds``.
        texts: measurement texts (default :func:`sample_texts`).
        voices: voice names (default the 5 offline voices).
        model: a ``kokoro.KModel`` (default: loaded with ``disable_complex=True``).
        margin: relative safety margin on the frames.

    Raises:
        ValueError: no measured length fits (the texts are too long for the bucket).
    """
    max_frames = frames_for(seconds)
    rows = measure_frames(texts, voices, model, stop_frames=max_frames / (1 + margin))
    return token_limit(rows, seconds, margin)


def measure_frames(
    texts: Iterable[TextSample] | None = None,
    voices: Sequence[str] | None = None,
    model=None,
    stop_frames: float | None = None,
) -> list[tuple[int, str, int]]:
    """``(n_tokens, voice, frames)`` for each text × voice, shortest text first.

    Stops after the first text that even the fastest voice stretches over more than
    ``stop_frames`` frames: longer texts cannot fit either.
    """
    from ..original.model import load_kmodel
    from ..original.voices import OFFLINE_VOICES, load_voice, style_for

    texts = sample_texts() if texts is None else sorted(texts, key=lambda s: s.n_tokens)
    voices = tuple(OFFLINE_VOICES if voices is None else voices)
    if model is None:
        model, _ = load_kmodel(disable_complex=True)
    packs = {v: load_voice(v) for v in voices}  # once: loading a pack verifies its checksum
    rows: list[tuple[int, str, int]] = []
    for sample in texts:
        frames = {
            v: predicted_frames(model, sample.ids, style_for(packs[v], len(sample.ids))) for v in voices
        }
        rows.extend((sample.n_tokens, v, f) for v, f in frames.items())
        if stop_frames is not None and min(frames.values()) > stop_frames:
            break
    return rows


def token_limit(
    rows: Sequence[tuple[int, str, int]], seconds: float, margin: float = SAFETY_MARGIN
) -> TokenLimit:
    """The rule of :func:`measure_token_limit` applied to measured ``(n_tokens, voice, frames)``."""
    max_frames = frames_for(seconds)
    budget = max_frames / (1 + margin)

    def accepted(m: int) -> tuple[float, str] | None:
        if any(f > budget for n, _, f in rows if n <= m):
            return None
        near = [(f / n, v) for n, v, f in rows if m / 2 <= n <= m]
        if not near:
            return None
        rate, voice = max(near)
        return (rate, voice) if m * rate <= budget else None

    best = None
    longest = max((n for n, _, _ in rows), default=0)
    for m in range(3, min(longest, MAX_PHONEME_TOKENS + 2) + 1):
        if (hit := accepted(m)) is not None:
            best = (m, *hit)
    if best is None:
        raise ValueError(
            f"No measured text length fits {seconds} s ({max_frames} frames) with a "
            f"{margin:.0%} margin; add shorter texts."
        )
    m, rate, voice = best
    return TokenLimit(seconds, max_frames, m, voice, rate, tuple(rows))


def check_bucket(
    bucket: Bucket, model=None, voices: Sequence[str] | None = None, n_texts: int = 2
) -> list[tuple[int, str, int]]:
    """Re-measure ``bucket`` cheaply: the ``n_texts`` longest sample texts it admits, every voice.

    Returns ``(n_tokens, voice, frames)``; every ``frames`` must be at most
    ``max_frames / (1 + SAFETY_MARGIN)`` if the constant is still right.
    """
    fitting = [s for s in sample_texts() if s.n_tokens <= bucket.max_tokens]
    return measure_frames(fitting[-n_texts:], voices, model)


__all__ = [
    "BUCKETS",
    "SAFETY_MARGIN",
    "SAMPLE_TEXTS",
    "Bucket",
    "TextSample",
    "TokenLimit",
    "bucket_for",
    "check_bucket",
    "frames_for",
    "get_bucket",
    "measure_frames",
    "measure_token_limit",
    "predicted_frames",
    "sample_texts",
    "token_limit",
]
