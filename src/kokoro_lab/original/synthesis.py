"""Reference synthesis: text in, 24 kHz audio out, through the official ``kokoro.KModel``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import SAMPLE_RATE
from .checkpoint import CheckpointSource
from .mixing import resolve_voice
from .model import load_kmodel
from .text import phonemize, split_phonemes, tokenize
from .timestamps import WordTiming, align_words, word_timings
from .voices import DEFAULT_VOICE, style_for


@dataclass
class SynthesisResult:
    """Audio and the intermediate results a reader wants to inspect."""

    audio: np.ndarray  # [T] float32 at 24 kHz
    phonemes: list[str]  # one string per chunk
    tokens: list[list[int]]  # model input ids per chunk, boundary zeros included
    durations: list[np.ndarray]  # frames per token per chunk, aligned with ``tokens``
    voice: str
    speed: float
    source: CheckpointSource
    sample_rate: int = SAMPLE_RATE
    ref_s: list[torch.Tensor] = field(default_factory=list)  # [1, 256] per chunk
    words: list[WordTiming] = field(default_factory=list)  # every word of the text, in order
    alignment: list[str] = field(default_factory=list)  # per chunk: how words were mapped to tokens
    starts: list[int] = field(default_factory=list)  # per chunk: the sample of its sample 0 in ``audio``
    texts: list[str] = field(default_factory=list)  # per chunk: the words it speaks

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def synthesize(
    text: str,
    voice: str = DEFAULT_VOICE,
    speed: float = 1.0,
    lang: str = "a",
    split: bool = True,
    seed: int = 0,
    checkpoint: str | None = None,
    progress=None,
) -> SynthesisResult:
    """Speak ``text`` with the official ``kokoro.KModel``.

    Args:
        text: what to say.
        voice: a voice name (see :func:`kokoro_lab.original.voices.list_voices`), a ``.pt`` path,
            or a mix such as ``"jf_alpha:0.7,jm_kumo:0.3"`` (:mod:`kokoro_lab.original.mixing`).
        speed: > 0; 2.0 speaks twice as fast.
        lang: Kokoro language code for the phonemizer (``"a"`` American English by default).
        split: split phonemes over 510 tokens at punctuation; otherwise raise ``TextTooLongError``.
        seed: seeds kokoro's random source phase and noise, so equal inputs give equal bits.
        checkpoint: an explicit ``.pth`` path; by default the source is resolved automatically.
        progress: an optional callable ``(done, total)`` called after each chunk.

    Returns:
        A :class:`SynthesisResult` with ``audio`` of shape [T] and ``words``: each word's start
        and end from the predicted durations, mapped to tokens as
        :func:`~kokoro_lab.original.timestamps.align_words` describes (the way used is in
        ``alignment``, one entry per chunk).
    """
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}.")
    pack = resolve_voice(voice)
    phonemes = phonemize(text, lang)
    chunks = split_phonemes(phonemes) if split else [phonemes]
    token_lists = [tokenize(c) for c in chunks]  # raises on empty / too long
    model, source = load_kmodel(checkpoint)
    audio, tokens, durations, styles = [], [], [], []
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        for i, ids in enumerate(token_lists):
            ref_s = style_for(pack, len(ids))  # [1, 256]
            input_ids = torch.tensor([[0, *ids, 0]], dtype=torch.long)  # [1, L]
            wav, pred_dur = model.forward_with_tokens(input_ids, ref_s, speed)
            audio.append(wav.reshape(-1).numpy())
            tokens.append([0, *ids, 0])
            durations.append(pred_dur.reshape(-1).numpy().astype(np.int64))
            styles.append(ref_s)
            if progress is not None:
                progress(i + 1, len(token_lists))
    starts = np.cumsum([0, *map(len, audio[:-1])]).tolist()
    alignment = align_words(text, phonemes, lang)
    words = word_timings(alignment, chunks, tokens, durations, starts)
    return SynthesisResult(
        audio=np.concatenate(audio).astype(np.float32),
        phonemes=chunks,
        tokens=tokens,
        durations=durations,
        voice=voice,
        speed=speed,
        source=source,
        ref_s=styles,
        words=words,
        alignment=[alignment.method] * len(chunks),
        starts=starts,
        texts=[" ".join(w.word for w in words if w.chunk == i) for i in range(len(chunks))],
    )
