"""Fine-tuning Kokoro-82M: data format, losses, a training loop, and style vectors for new speakers.

One concept per module: :mod:`.data` (the seed's item format, validation, F0 from audio, padded
batches), :mod:`.losses`, :mod:`.model` (Kokoro's forward pass in training mode, teacher-forced),
:mod:`.checkpoint`, :mod:`.training` (the seeded, resumable loop), :mod:`.evaluate`,
:mod:`.style_fit` (a ``ref_s`` by gradient descent, also from recordings), :mod:`.corpus` (a
speaker corpus spoken by Kokoro itself) and :mod:`.plots`. For recorded corpora: :mod:`.alignment`
(durations by DTW against Kokoro's reading), :mod:`.recordings` (an LJSpeech-style folder → items),
:mod:`.espeak_speech` (eSpeak NG's speech with its phoneme timings, a ground truth),
:mod:`.new_language` (Luxembourgish: text, coverage, mapping) and :mod:`.vocab_extension`.
"""

from .alignment import Alignment, AlignmentError, align, boundary_errors
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
from .new_language import MAPPING, MAPPING_TABLE, NEW_SOUNDS, Coverage, MappingRow, coverage, texts, to_kokoro
from .recordings import (
    CorpusFormatError,
    RecordedCorpus,
    RecordingError,
    Skipped,
    item_from_recording,
    load_recorded_corpus,
    read_metadata,
)
from .style_fit import StyleFit, fit_style, nearest_voice, pca_2d, style_from_audio, voice_vectors
from .training import FinetuneConfig, finetune, finetune_loss
from .vocab_extension import VocabularyError, extend_vocabulary, load_extended_model, save_extended_model

__all__ = [
    "Alignment",
    "AlignmentError",
    "CorpusFormatError",
    "Coverage",
    "FinetuneBatch",
    "FinetuneConfig",
    "FinetuneDataset",
    "FinetuneItem",
    "InvalidItemError",
    "KokoroForTraining",
    "MAPPING",
    "MAPPING_TABLE",
    "MAX_DUR",
    "MappingRow",
    "NEW_SOUNDS",
    "Prediction",
    "RecordedCorpus",
    "RecordingError",
    "SENTENCES",
    "STFT_RESOLUTIONS",
    "Scores",
    "Skipped",
    "SpeakerCorpus",
    "StyleFit",
    "UnknownModuleError",
    "VocabularyError",
    "align",
    "boundary_errors",
    "build_speaker_corpus",
    "cap_durations",
    "collate",
    "coverage",
    "duration_loss",
    "extend_vocabulary",
    "f0_from_audio",
    "f0_loss",
    "finetune",
    "finetune_loss",
    "fit_style",
    "freeze",
    "item_from_recording",
    "load_checkpoint",
    "load_extended_model",
    "load_recorded_corpus",
    "log_mel_l1",
    "multi_resolution_stft_loss",
    "nearest_voice",
    "pca_2d",
    "predict",
    "read_checkpoint",
    "read_metadata",
    "save_checkpoint",
    "save_extended_model",
    "score",
    "style_from_audio",
    "texts",
    "to_kokoro",
    "trainable_copy",
    "validate_item",
    "voice_vectors",
]
