"""An educational Transformer TTS, trained on a corpus that Kokoro-82M speaks (teacher → student).

One concept per module: :mod:`.config` (sizes and presets), :mod:`.positional_encoding`,
:mod:`.layers` (attention and Transformer blocks), :mod:`.model` (encoder, duration predictor,
length regulator, causal mel decoder), :mod:`.checkpoint`, :mod:`.data` (the teacher-made corpus),
:mod:`.training`, :mod:`.plots` and :mod:`.vocoder` (Griffin–Lim).
"""

from .checkpoint import CorruptFileError, load_checkpoint, load_model, read_checkpoint, save_checkpoint
from .config import TransformerTTSConfig, kokoro_vocab_size
from .data import (
    Batch,
    Corpus,
    TTSDataset,
    build_corpus,
    collate,
    load_corpus,
    log_mel,
    save_corpus,
    synthetic_corpus,
)
from .model import InferenceOutput, TransformerTTS, TTSOutput, length_regulate, pick_device
from .sentences import SENTENCES
from .training import evaluate, train, tts_loss

__all__ = [
    "SENTENCES",
    "Batch",
    "Corpus",
    "CorruptFileError",
    "InferenceOutput",
    "TTSDataset",
    "TTSOutput",
    "TransformerTTS",
    "TransformerTTSConfig",
    "build_corpus",
    "collate",
    "evaluate",
    "kokoro_vocab_size",
    "length_regulate",
    "load_checkpoint",
    "load_corpus",
    "load_model",
    "log_mel",
    "pick_device",
    "read_checkpoint",
    "save_checkpoint",
    "save_corpus",
    "synthetic_corpus",
    "train",
    "tts_loss",
]
