"""Is it still Kokoro? One voice speaks a set of sentences; the audio is scored against the text and
against a reference rendering.

* :class:`Speaker` renders sentences with ``KokoroCompleteCoreML`` (the eager fast path by
  default, the padded bucket computation with ``padded=True``), optionally under fp16 emulation;
  compressed weights come from :func:`kokoro_lab.coreml.weight_compression.compressed_weights`.
* :func:`score` measures a rendering: Whisper's word and character error rates against the text
  (:func:`kokoro_lab.quality.intelligibility`), and, against a reference rendering of the same
  sentences, the DTW-aligned log-mel distance and the speaker similarity, each averaged over the
  sentences.

Everything is deterministic: the rewrite's sine source has no random phase, and Whisper decodes
greedily.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..config import SAMPLE_RATE

DEFAULT_VOICE = "jm_kumo"


@dataclass(frozen=True)
class Rendering:
    """One voice speaking a list of sentences."""

    label: str
    texts: tuple[str, ...]
    audio: tuple[np.ndarray, ...]  # one [T] float32 signal at 24 kHz per text
    seconds: float = 0.0  # wall time of the synthesis

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.audio):
            raise ValueError(f"{len(self.audio)} signals for {len(self.texts)} texts.")


@dataclass(frozen=True)
class QualityScore:
    """How one rendering compares with its text and with a reference rendering."""

    label: str
    sentences: int
    wer: float  # corpus word error rate, 0..(can exceed 1)
    cer: float
    log_mel_db: float | None = None  # mean aligned log-mel distance to the reference, dB
    speaker_similarity: float | None = None  # mean cosine to the reference's speaker, 0..1
    transcripts: tuple[str, ...] = field(default=(), repr=False)

    def as_row(self) -> dict:
        """The fields as a JSON-ready dict (without the transcripts)."""
        row = asdict(self)
        row.pop("transcripts")
        return row


class Speaker:
    """``KokoroCompleteCoreML`` speaking with one voice; see the module docstring.

    Args:
        model: ``kokoro_lab.load_kmodel(disable_complex=True)``'s model.
        voice: a voice name (default ``jm_kumo``).
        padded: run the padded computation of the converted graph in the smallest bucket that
            holds each sentence, instead of the eager fast path.
        pipeline: run the two-stage pipeline's padded computation instead
            (:class:`kokoro_lab.coreml.pipeline.KokoroPipeline`, each stage at the smallest bucket
            that fits).
    """

    def __init__(self, model, voice: str = DEFAULT_VOICE, padded: bool = False, pipeline: bool = False):
        from ..original.text import phonemize, tokenize
        from ..original.voices import load_voice

        if padded and pipeline:
            raise ValueError("Choose padded=True (the single graph) or pipeline=True, not both.")
        self.model, self.voice, self.padded = model, voice, padded
        self.pack = load_voice(voice)
        self._phonemize, self._tokenize = phonemize, tokenize
        self._modules: dict[str, torch.nn.Module] = {}
        self._pipeline = None
        if pipeline:
            from .pipeline import KokoroPipeline

            self._pipeline = KokoroPipeline.in_torch(model)

    def _module(self, n_tokens: int):
        from ..rewrite.model import KokoroCompleteCoreML
        from .buckets import bucket_for, get_bucket

        bucket = bucket_for(n_tokens) if self.padded else get_bucket("10s")
        if bucket.name not in self._modules:
            self._modules[bucket.name] = KokoroCompleteCoreML(
                self.model, bucket.max_tokens, bucket.max_frames, trim=not self.padded
            ).eval()
        return self._modules[bucket.name], bucket

    def tokens(self, text: str) -> list[int]:
        """Kokoro's phoneme token ids for ``text`` (American English)."""
        return self._tokenize(self._phonemize(text))

    def say(self, text: str) -> np.ndarray:
        """[T] float32 audio of ``text``, trimmed to its valid length."""
        from ..original.voices import style_for
        from ..rewrite.model import pad_inputs

        tokens = self.tokens(text)
        if self._pipeline is not None:
            out = self._pipeline.synthesize_tokens(tokens, style_for(self.pack, len(tokens)))
            return out.audio.numpy().astype(np.float32)
        module, bucket = self._module(len(tokens))
        ids, mask = pad_inputs(tokens, bucket.max_tokens)
        ref_s = style_for(self.pack, len(tokens))
        with torch.inference_mode():
            audio, length, _, overflow = module(ids, ref_s, torch.zeros(1, 9), mask, torch.ones(1))
        if int(overflow) > 0:
            raise ValueError(
                f"{text!r} needs {int(overflow)} frames more than the {bucket.name} bucket holds."
            )
        return audio.reshape(-1)[: int(length)].numpy().astype(np.float32)

    def render(
        self,
        texts: Sequence[str],
        label: str,
        context: Callable[[], contextlib.AbstractContextManager] | None = None,
    ) -> Rendering:
        """Speak every text, inside ``context()`` if given (e.g. ``lambda: emulate_fp16("mixed")``)."""
        import time

        t0 = time.perf_counter()
        with context() if context else contextlib.nullcontext():
            audio = tuple(self.say(t) for t in texts)
        return Rendering(label, tuple(texts), audio, time.perf_counter() - t0)


def score(rendering: Rendering, reference: Rendering | None = None, asr=None) -> QualityScore:
    """Score ``rendering`` against its texts (WER, CER) and against ``reference`` (log-mel, speaker).

    Args:
        rendering: the audio under test.
        reference: the same texts rendered by the reference path, or None for text-only scores.
        asr: a loaded Whisper (:func:`kokoro_lab.quality.load_asr_model`), default tiny.en.

    Raises:
        ValueError: the two renderings speak different texts.
    """
    from ..quality import aligned_log_mel_distance, intelligibility, speaker_similarity

    result = intelligibility(list(rendering.audio), list(rendering.texts), SAMPLE_RATE, model=asr)
    log_mel = similarity = None
    if reference is not None:
        if reference.texts != rendering.texts:
            raise ValueError("The reference rendering speaks other texts; render the same sentences.")
        pairs = list(zip(rendering.audio, reference.audio, strict=True))
        log_mel = float(np.mean([aligned_log_mel_distance(a, r) for a, r in pairs]))
        similarity = float(np.mean([speaker_similarity(a, r).cosine for a, r in pairs]))
    return QualityScore(
        rendering.label,
        len(rendering.texts),
        result.wer,
        result.cer,
        log_mel,
        similarity,
        tuple(s.transcript for s in result.sentences),
    )
