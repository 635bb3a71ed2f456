"""hexgrad's Kokoro-82M as shipped: weights, voices, text front-end, reference synthesis, stages.

The model itself is the official ``kokoro.KModel``; this subpackage finds (or rebuilds) its
weights and voices offline and runs it, whole or stage by stage, and around it what users of
Kokoro ask for most: word timestamps, long text, voice mixing and streaming.
"""

from .checkpoint import CheckpointSource, resolve_checkpoint
from .chunking import Chunk, plan_chunks
from .long_text import synthesize_long
from .mixing import parse_mix, resolve_voice
from .model import load_kmodel
from .sentences import split_sentences
from .stages import Stages, run_stages
from .streaming import AudioChunk, stream
from .synthesis import SynthesisResult, synthesize
from .text import TextTooLongError, phonemize, split_phonemes, tokenize, vocab
from .timestamps import WordTiming
from .voices import list_voices, load_voice, style_for

__all__ = [
    "AudioChunk",
    "CheckpointSource",
    "Chunk",
    "Stages",
    "SynthesisResult",
    "TextTooLongError",
    "WordTiming",
    "list_voices",
    "load_kmodel",
    "load_voice",
    "parse_mix",
    "phonemize",
    "plan_chunks",
    "resolve_checkpoint",
    "resolve_voice",
    "run_stages",
    "split_phonemes",
    "split_sentences",
    "stream",
    "style_for",
    "synthesize",
    "synthesize_long",
    "tokenize",
    "vocab",
]
