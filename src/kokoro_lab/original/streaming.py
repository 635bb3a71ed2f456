"""Streaming synthesis: audio chunk by chunk, each out as soon as the model has spoken it.

:func:`stream` runs the long-text path (:mod:`kokoro_lab.original.chunking`) one chunk at a
time and yields every chunk's audio with its word timings. Consecutive chunks are joined as
:func:`kokoro_lab.original.seams.join` does, so each yield holds the pause before its chunk's
sound (built from the previous chunk's quiet tail and its own quiet head) and the sound itself;
the last also holds the final quiet tail. The yields concatenate to exactly
:func:`kokoro_lab.original.long_text.synthesize_long`'s audio, which is made from them.

Every chunk is synthesized from ``seed`` afresh, so a chunk's audio depends only on its own
text (and voice, speed, seed, weights): that is what lets an interrupted run reuse finished
chunks (:mod:`kokoro_lab.original.resume`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..config import SAMPLE_RATE
from .checkpoint import CheckpointSource
from .chunking import DEFAULT_MAX_PHONEMES, Chunk, plan_chunks
from .mixing import resolve_voice
from .model import load_kmodel
from .resume import ChunkParts
from .seams import quiet_edges, seam_kind, seam_pause, seam_piece
from .text import tokenize
from .timestamps import WordTiming, word_timings
from .voices import DEFAULT_VOICE, style_for


@dataclass
class AudioChunk:
    """One chunk of a stream: the samples to play next, and what they say."""

    audio: np.ndarray  # [n] float32 at 24 kHz: the pause before the chunk's sound, then the sound
    start: int  # the stream sample at which ``audio`` starts
    index: int  # the chunk's number, from 0
    chunk: Chunk  # its text, phonemes and word alignment
    tokens: list[int]  # model input ids, boundary zeros included
    durations: np.ndarray  # frames per token, aligned with ``tokens``
    words: list[WordTiming] = field(default_factory=list)  # seconds from the start of the stream
    offset: int = 0  # the stream sample of the chunk's own sample 0 (its quiet head may be cut)
    cached: bool = False  # read from a parts folder instead of synthesized
    source: CheckpointSource | None = None
    sample_rate: int = SAMPLE_RATE

    @property
    def end(self) -> int:
        return self.start + len(self.audio)


def speak_chunk(
    model: torch.nn.Module, pack: torch.Tensor, phonemes: str, speed: float, seed: int
) -> tuple[np.ndarray, list[int], np.ndarray]:
    """One model call from ``seed``. → (audio [T] float32, ids [L] with boundaries, durations [L])."""
    ids = [0, *tokenize(phonemes), 0]
    ref_s = style_for(pack, len(ids) - 2)  # [1, 256]
    with torch.random.fork_rng(devices=[]), torch.inference_mode():
        torch.manual_seed(seed)
        wav, pred_dur = model.forward_with_tokens(torch.tensor([ids], dtype=torch.long), ref_s, speed)
    return wav.reshape(-1).numpy().astype(np.float32), ids, pred_dur.reshape(-1).numpy().astype(np.int64)


def _clamped(words: list[WordTiming], lo: int, hi: int, sr: int) -> list[WordTiming]:
    """Keep word times inside the chunk's sound: a last phoneme's frames often run into the pause."""
    lo_s, hi_s = lo / sr, hi / sr
    out = []
    for w in words:
        start = min(max(w.start_s, lo_s), hi_s)
        out.append(replace(w, start_s=start, end_s=min(max(w.end_s, start), hi_s)))
    return out


def stream(
    text: str | Iterable[Chunk],
    voice: str = DEFAULT_VOICE,
    speed: float = 1.0,
    lang: str = "a",
    seed: int = 0,
    checkpoint: str | None = None,
    max_phonemes: int = DEFAULT_MAX_PHONEMES,
    parts: ChunkParts | None = None,
    progress: Callable[[AudioChunk], None] | None = None,
) -> Iterator[AudioChunk]:
    """Speak ``text`` chunk by chunk, yielding each chunk's audio as soon as it is ready.

    Args:
        text: the text, or chunks already planned with
            :func:`~kokoro_lab.original.chunking.plan_chunks` (to count them first).
        voice: a voice name, a ``.pt`` path or a mix such as ``"jf_alpha:0.7,jm_kumo:0.3"``.
        speed: > 0; 2.0 speaks twice as fast (pauses at the seams shrink alike).
        lang: Kokoro language code.
        seed: every chunk is synthesized from this seed.
        checkpoint: an explicit ``.pth``; by default resolved automatically.
        max_phonemes: tokens per chunk at most (when ``text`` is a string).
        parts: finished chunks to reuse and to keep (:class:`~kokoro_lab.original.resume.ChunkParts`).
        progress: called with each :class:`AudioChunk` before it is yielded.

    Yields:
        :class:`AudioChunk`, one per chunk; their ``audio`` concatenates to the whole speech.
    """
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed}.")
    pack = resolve_voice(voice)
    chunks = iter(plan_chunks(text, lang, max_phonemes) if isinstance(text, str) else text)
    current = next(chunks, None)
    if current is None:
        raise ValueError("There are no chunks to speak.")
    model, source = load_kmodel(checkpoint)
    position, tail, previous = 0, np.zeros(0, np.float32), None
    for index in itertools.count():
        following = next(chunks, None)  # looked up first: the last chunk also carries its tail
        found = parts.load(current) if parts is not None else None
        if found is not None:
            audio, durations = found
            ids = [0, *tokenize(current.phonemes), 0]
        else:
            audio, ids, durations = speak_chunk(model, pack, current.phonemes, speed, seed)
            if parts is not None:
                parts.save(current, audio, durations)
        head, tail_len = quiet_edges(audio)
        if previous is None:
            piece = audio[:head]  # the stream starts with the first chunk's own quiet head
        else:
            kind = seam_kind(previous.phonemes, previous.ends_sentence)
            piece, _ = seam_piece(tail, audio[:head], seam_pause(len(tail), head, kind, speed))
        sound_end = len(audio) - tail_len
        body = audio[head:] if following is None else audio[head:sound_end]
        out = np.concatenate([piece, body]).astype(np.float32)
        offset = position + len(piece) - head  # where the chunk's sample 0 would be
        words = word_timings(current.alignment, [current.phonemes], [ids], [durations], [offset])
        words = [replace(w, chunk=index) for w in words]
        words = _clamped(words, offset + head, offset + sound_end, SAMPLE_RATE)
        item = AudioChunk(
            out, position, index, current, ids, durations, words, offset, found is not None, source
        )
        if progress is not None:
            progress(item)
        yield item
        position += len(out)
        tail, previous = audio[sound_end:], current
        if following is None:
            return
        current = following
