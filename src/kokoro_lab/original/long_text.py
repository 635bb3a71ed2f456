"""Long text in one call: the streamed chunks of :func:`~kokoro_lab.original.streaming.stream`, joined."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .chunking import DEFAULT_MAX_PHONEMES, Chunk
from .mixing import resolve_voice
from .resume import ChunkParts
from .streaming import AudioChunk, stream
from .synthesis import SynthesisResult
from .voices import DEFAULT_VOICE, style_for


def synthesize_long(
    text: str | Iterable[Chunk],
    voice: str = DEFAULT_VOICE,
    speed: float = 1.0,
    lang: str = "a",
    seed: int = 0,
    checkpoint: str | None = None,
    max_phonemes: int = DEFAULT_MAX_PHONEMES,
    parts: ChunkParts | None = None,
    progress: Callable[[AudioChunk], None] | None = None,
) -> SynthesisResult:
    """Speak text of any length: sentences, packed into chunks that fit a bucket, joined at natural pauses.

    Args:
        text: the text (or chunks from :func:`~kokoro_lab.original.chunking.plan_chunks`).
        voice: a voice name, a ``.pt`` path or a mix such as ``"jf_alpha:0.7,jm_kumo:0.3"``.
        speed: > 0; 2.0 speaks twice as fast.
        lang: Kokoro language code.
        seed: every chunk is synthesized from this seed (equal inputs give equal bits).
        checkpoint: an explicit ``.pth``; by default resolved automatically.
        max_phonemes: tokens per chunk at most (default: the 15 s bucket's ``max_phonemes``).
        parts: finished chunks to reuse and keep (see :mod:`kokoro_lab.original.resume`).
        progress: called with each :class:`~kokoro_lab.original.streaming.AudioChunk` as it is done.

    Returns:
        A :class:`~kokoro_lab.original.synthesis.SynthesisResult`: ``audio`` [T], per chunk its
        ``phonemes``, ``tokens``, ``durations``, ``alignment`` method and ``starts`` (the sample of
        its own sample 0), and ``words`` across all chunks. ``texts`` holds the chunks' text.

    Raises:
        ValueError: the text is empty or only punctuation; bad voice, speed or limit.
    """
    pieces = list(stream(text, voice, speed, lang, seed, checkpoint, max_phonemes, parts, progress))
    pack = resolve_voice(voice)
    return SynthesisResult(
        audio=np.concatenate([p.audio for p in pieces]).astype(np.float32),
        phonemes=[p.chunk.phonemes for p in pieces],
        tokens=[p.tokens for p in pieces],
        durations=[p.durations for p in pieces],
        voice=voice,
        speed=speed,
        source=pieces[0].source,
        ref_s=[style_for(pack, len(p.tokens) - 2) for p in pieces],
        words=[w for p in pieces for w in p.words],
        alignment=[p.chunk.alignment.method for p in pieces],
        starts=[p.offset for p in pieces],
        texts=[p.chunk.text for p in pieces],
    )
