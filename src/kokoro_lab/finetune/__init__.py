"""Fine-tuning Kokoro-82M: data format, losses, a training loop, and style vectors for new speakers.

One concept per module: :mod:`.data` (the seed's item format, validation, F0 from audio, padded
batches), :mod:`.losses`, :mod:`.model` (Kokoro's forward pass in training mode, teacher-forced),
:mod:`.checkpoint`, :mod:`.training` (the seeded, resumable loop), :mod:`.evaluate`,
:mod:`.style_fit` (a ``ref_s`` by gradient descent), :mod:`.corpus` (a speaker corpus spoken by
Kokoro itself) and :mod:`.plots`.
"""

from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from .corpus import SENTENCES, SpeakerCorpus, build_speaker_corpus
from .data import (
    MAX_DUR,
    FinetuneBatch,
    FinetuneDataset,
    FinetuneItem,
    InvalidItemError,
    cap_durations,
    collate,
    f0_from_audio,
    validate_item,
)
from .evaluate import Prediction, Scores, predict, score
from .losses import STFT_RESOLUTIONS, duration_loss, f0_loss, log_mel_l1, multi_resolution_stft_loss
from .model import KokoroForTraining, UnknownModuleError, freeze, trainable_copy
from .style_fit import StyleFit, fit_style, nearest_voice, pca_2d, voice_vectors
from .training import FinetuneConfig, finetune, finetune_loss

__all__ = [
    "MAX_DUR",
    "SENTENCES",
    "STFT_RESOLUTIONS",
    "FinetuneBatch",
    "FinetuneConfig",
    "FinetuneDataset",
    "FinetuneItem",
    "InvalidItemError",
    "KokoroForTraining",
    "Prediction",
    "Scores",
    "SpeakerCorpus",
    "StyleFit",
    "UnknownModuleError",
    "build_speaker_corpus",
    "cap_durations",
    "collate",
    "duration_loss",
    "f0_from_audio",
    "f0_loss",
    "finetune",
    "finetune_loss",
    "fit_style",
    "freeze",
    "load_checkpoint",
    "log_mel_l1",
    "multi_resolution_stft_loss",
    "nearest_voice",
    "pca_2d",
    "predict",
    "read_checkpoint",
    "save_checkpoint",
    "score",
    "trainable_copy",
    "validate_item",
    "voice_vectors",
]
