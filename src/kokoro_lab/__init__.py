"""kokoro-lab: Kokoro-82M explained stage by stage, rewritten for CoreML, and converted."""

from .checkpoint import CheckpointSource, resolve_checkpoint
from .config import SAMPLE_RATE, SAMPLES_PER_FRAME, load_config
from .model import load_kmodel
from .synthesis import SynthesisResult, synthesize
from .text import TextTooLongError, phonemize, split_phonemes, tokenize, vocab
from .voices import list_voices, load_voice

__version__ = "0.1.0"

__all__ = [
    "SAMPLES_PER_FRAME",
    "SAMPLE_RATE",
    "CheckpointSource",
    "SynthesisResult",
    "TextTooLongError",
    "list_voices",
    "load_config",
    "load_kmodel",
    "load_voice",
    "phonemize",
    "resolve_checkpoint",
    "split_phonemes",
    "synthesize",
    "tokenize",
    "vocab",
]
