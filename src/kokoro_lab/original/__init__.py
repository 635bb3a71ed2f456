"""hexgrad's Kokoro-82M as shipped: weights, voices, text front-end, reference synthesis, stages.

The model itself is the official ``kokoro.KModel``; this subpackage finds (or rebuilds) its
weights and voices offline and runs it, whole or stage by stage.
"""

from .checkpoint import CheckpointSource, resolve_checkpoint
from .model import load_kmodel
from .stages import Stages, run_stages
from .synthesis import SynthesisResult, synthesize
from .text import TextTooLongError, phonemize, split_phonemes, tokenize, vocab
from .voices import list_voices, load_voice, style_for

__all__ = [
    "CheckpointSource",
    "Stages",
    "SynthesisResult",
    "TextTooLongError",
    "list_voices",
    "load_kmodel",
    "load_voice",
    "phonemize",
    "resolve_checkpoint",
    "run_stages",
    "split_phonemes",
    "style_for",
    "synthesize",
    "tokenize",
    "vocab",
]
