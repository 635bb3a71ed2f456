"""Text normalised for scoring: Whisper's English normaliser, so "40" and "forty" are one word.

``whisper_normalizer`` packages the ``EnglishTextNormalizer`` of OpenAI's Whisper repository:
lower case, punctuation and filler words removed, contractions expanded ("it's" → "it is"),
British spellings made American, and spelled-out numbers written as digits ("forty" → "40").
It is the normaliser Whisper's own WER figures were computed with.
"""

from __future__ import annotations

import functools

from .inputs import ModelUnavailableError


@functools.cache
def _normalizer():
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError as e:
        raise ModelUnavailableError(
            "Scoring transcripts needs Whisper's text normaliser: pip install whisper-normalizer jiwer"
        ) from e
    return EnglishTextNormalizer()


def normalize_text(text: str) -> str:
    """``text`` as it is compared for WER and CER: "He is forty." → "he is 40"."""
    return " ".join(_normalizer()(text).split())
