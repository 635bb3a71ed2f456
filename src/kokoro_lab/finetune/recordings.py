"""A recorded corpus → fine-tuning items: read, resample, phonemize, align, measure F0, validate, cache.

The folder format is LJSpeech's, which most TTS corpora follow or convert to::

    corpus/
      metadata.csv      # one line per recording: id|text   (a third column, the normalised
      wavs/<id>.wav     #  text, is used instead of the second when present)

Every recording goes through :func:`item_from_recording`: 24 kHz mono, leading and trailing
silence trimmed, text → phonemes (optionally mapped onto Kokoro's symbols) → tokens, durations by
:func:`~kokoro_lab.finetune.alignment.align`, F0 by pyin at Kokoro's frame rate, and the seed's
validation. A recording that fails any step is skipped with its id and the reason, and
:func:`load_recorded_corpus` reports every skip (never a silent drop). The items are cached
atomically with a checksum, keyed by the metadata, every audio file's hash and the settings.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import SAMPLE_RATE, SAMPLES_PER_FRAME, cache_dir
from ..torch_files import CorruptFileError, load_torch_file, save_torch_file, tensor_checksum
from .alignment import (
    ALIGNER_VERSION,
    FEATURE_HOP,
    MAX_PATH_COST,
    MAX_TEMPO_RATIO,
    Alignment,
    AlignmentError,
    align,
)
from .data import (
    F0_FMAX,
    F0_FMIN,
    F0_FRAME_LENGTH,
    MAX_DUR,
    FinetuneItem,
    InvalidItemError,
    cap_durations,
    f0_from_audio,
    validate_item,
)

RECORDED_FORMAT = "kokoro_lab.finetune.recordings"
RECORDED_VERSION = 1
TRIM_DB = 40  # silence is anything 40 dB below the recording's peak
TRIM_MARGIN_S = 0.1  # silence kept at each end, like the pauses Kokoro's boundary tokens hold


class CorpusFormatError(ValueError):
    """The corpus folder or its metadata.csv is not in the expected format."""


class RecordingError(ValueError):
    """One recording cannot become an item; the message names it, the problem and the fix."""


@dataclass
class Skipped:
    """A recording left out, and why."""

    id: str
    reason: str


@dataclass
class RecordedCorpus:
    """The items made from a corpus folder, their phonemes, and the recordings skipped."""

    items: list[FinetuneItem]
    phonemes: list[str]
    skipped: list[Skipped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def report(self) -> str:
        """One line per skipped recording (or a line saying none were)."""
        head = f"{len(self.items)} items, {len(self.skipped)} recordings skipped"
        return "\n".join([head, *(f"  {s.id}: {s.reason}" for s in self.skipped)])


def read_metadata(folder: str | os.PathLike) -> list[tuple[str, str]]:
    """``[(id, text), ...]`` from ``folder/metadata.csv`` (``id|text`` or ``id|text|normalised``).

    Raises:
        CorpusFormatError: no such folder or file, or a line without a ``|``.
    """
    path = Path(folder) / "metadata.csv"
    if not Path(folder).is_dir():
        raise CorpusFormatError(f"{folder} is not a folder; give the corpus folder that holds metadata.csv.")
    if not path.is_file():
        raise CorpusFormatError(
            f"{path} is missing; a corpus folder holds metadata.csv (lines 'id|text') and wavs/<id>.wav."
        )
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for n, row in enumerate(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2 or not row[0].strip():
                raise CorpusFormatError(f"{path}, line {n}: expected 'id|text', got {'|'.join(row)[:60]!r}.")
            rows.append(
                (row[0].strip(), row[-1].strip() if len(row) >= 3 and row[-1].strip() else row[1].strip())
            )
    if not rows:
        raise CorpusFormatError(f"{path} lists no recordings; add lines 'id|text'.")
    return rows


def read_recording(path: str | os.PathLike, name: str) -> np.ndarray:
    """The recording at ``path`` as [T] float32 at 24 kHz mono, silence trimmed at both ends.

    Raises:
        RecordingError: the file is missing, unreadable, or silent.
    """
    import librosa

    path = Path(path)
    if not path.is_file():
        raise RecordingError(
            f"Recording {name!r}: {path} is missing; add it or remove the line from metadata.csv."
        )
    try:
        with warnings.catch_warnings():  # librosa's fallback notices; a failure is reported below
            warnings.simplefilter("ignore")
            y, _ = librosa.load(path, sr=SAMPLE_RATE, mono=True)
    except Exception as e:  # soundfile and audioread raise many kinds
        raise RecordingError(
            f"Recording {name!r}: {path} cannot be read as audio ({type(e).__name__}: {e}); convert it to WAV."
        ) from None
    return trim_silence(y, name)


def speech_bounds(y: np.ndarray) -> tuple[int, int]:
    """(first, last + 1) sample that :func:`trim_silence` keeps: speech plus ``TRIM_MARGIN_S`` each side."""
    import librosa

    _, (start, end) = librosa.effects.trim(np.asarray(y, dtype=np.float32).reshape(-1), top_db=TRIM_DB)
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return max(0, int(start) - margin), min(len(y), int(end) + margin)


def trim_silence(y: np.ndarray, name: str) -> np.ndarray:
    """Cut leading and trailing silence from [T] samples, keeping ``TRIM_MARGIN_S`` at each end.

    Raises:
        RecordingError: the audio is empty, silent or not finite.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size == 0 or not np.isfinite(y).all() or float(np.abs(y).max()) == 0.0:
        raise RecordingError(f"Recording {name!r} is empty, silent or not finite; check the file.")
    start, end = speech_bounds(y)
    return y[start:end]


@dataclass
class Prepared:
    """One recording made into an item, with its phonemes and its alignment."""

    item: FinetuneItem
    phonemes: str
    alignment: Alignment


def item_from_recording(
    model,
    name: str,
    audio: np.ndarray | torch.Tensor,
    text: str,
    speaker_embedding: torch.Tensor | Callable[[int], torch.Tensor],
    lang: str = "a",
    symbol_map: Callable[[str], str] | None = None,
    ref_s: torch.Tensor | Callable[[int], torch.Tensor] | None = None,
    vocab_size: int = 178,
) -> Prepared:
    """One (24 kHz audio, text) pair → a validated :class:`FinetuneItem`.

    Args:
        model: a ``kokoro.KModel`` (it reads the text for the alignment).
        name: the item's name in messages.
        audio: [T] float samples at 24 kHz (already trimmed; see :func:`read_recording`).
        text: what is said.
        speaker_embedding: the item's ``ref_s`` [1, 256], or a function of the phoneme count
            (e.g. ``lambda n: style_for(pack, n)``).
        lang: the language code for :func:`~kokoro_lab.original.text.phonemize`.
        symbol_map: maps the phonemes onto Kokoro's vocabulary (e.g. Luxembourgish's table).
        ref_s: the voice Kokoro reads with for the alignment (default: ``speaker_embedding``).
        vocab_size: tokens allowed (178, or more with an extended vocabulary).

    Raises:
        RecordingError: naming the item: empty text, no known phonemes, audio too short for its
            phonemes, or an alignment or item that fails its checks.
    """
    from ..original.text import phonemize, tokenize

    if not isinstance(text, str) or not text.strip():
        raise RecordingError(f"Recording {name!r} has empty text; write what is said in metadata.csv.")
    try:
        phonemes = phonemize(text, lang)
        phonemes = symbol_map(phonemes) if symbol_map is not None else phonemes
        ids = torch.tensor([0, *tokenize(phonemes), 0], dtype=torch.long)  # [L]
    except ValueError as e:
        raise RecordingError(f"Recording {name!r}: {e}") from None

    def style(s):
        return (s(ids.numel() - 2) if callable(s) else s).reshape(1, -1).float()

    emb = style(speaker_embedding)
    y = torch.as_tensor(np.asarray(audio, dtype=np.float32)).reshape(-1)
    try:
        alignment = align(model, y, ids, style(ref_s) if ref_s is not None else emb)
    except AlignmentError as e:
        raise RecordingError(f"Recording {name!r}: {e}") from None
    F = alignment.n_frames
    durations, audio_capped = cap_durations(alignment.durations, y[: F * SAMPLES_PER_FRAME], MAX_DUR)
    item = FinetuneItem(
        name=name,
        input_ids=ids,
        speaker_embedding=emb.reshape(-1),
        gt_duration=durations,
        gt_f0=f0_from_audio(audio_capped),
        gt_audio=audio_capped,
    )
    try:
        validate_item(item, vocab_size=vocab_size)
    except InvalidItemError as e:
        raise RecordingError(f"Recording {name!r}: {e}") from None
    return Prepared(item, phonemes, alignment)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def corpus_key(folder: Path, rows: Sequence[tuple[str, str]], settings: dict) -> dict:
    """What a cached corpus depends on: the metadata, every audio file's hash, and the settings."""
    audio = {i: _sha256_file(p) if (p := folder / "wavs" / f"{i}.wav").is_file() else None for i, _ in rows}
    return {
        "format": RECORDED_FORMAT,
        "version": RECORDED_VERSION,
        "rows_sha256": hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest(),
        "audio_sha256": audio,
        "settings": settings,
        "alignment": {
            "version": ALIGNER_VERSION,
            "feature_hop": FEATURE_HOP,
            "max_tempo_ratio": MAX_TEMPO_RATIO,
            "max_path_cost": MAX_PATH_COST["logmel"],
            "trim_db": TRIM_DB,
            "trim_margin_s": TRIM_MARGIN_S,
        },
        "f0": {"fmin": F0_FMIN, "fmax": F0_FMAX, "frame_length": F0_FRAME_LENGTH},
    }


def _payload(corpus: RecordedCorpus, key: dict) -> dict:
    fields = ("name", "input_ids", "speaker_embedding", "gt_duration", "gt_f0", "gt_audio")
    items = [{f: getattr(it, f) for f in fields} for it in corpus.items]
    tensors = [t for it in items for t in it.values() if isinstance(t, torch.Tensor)]
    text = json.dumps([[it["name"] for it in items], corpus.phonemes, [vars(s) for s in corpus.skipped]])
    return {
        "key": key,
        "items": items,
        "phonemes": corpus.phonemes,
        "skipped": [vars(s) for s in corpus.skipped],
        "sha256": hashlib.sha256((tensor_checksum(tensors) + text).encode()).hexdigest(),
    }


def _from_payload(raw: dict, path: Path, key: dict) -> RecordedCorpus:
    fix = "delete it, or pass rebuild=True"
    if raw.get("key") != key:
        raise CorruptFileError(f"The corpus cache {path} was made from other files or settings; {fix}.")
    corpus = RecordedCorpus(
        [FinetuneItem(**it) for it in raw["items"]],
        list(raw["phonemes"]),
        [Skipped(**s) for s in raw["skipped"]],
    )
    if _payload(corpus, key)["sha256"] != raw.get("sha256"):
        raise CorruptFileError(f"The corpus cache {path} fails its checksum (damaged file); {fix}.")
    return corpus


def load_recorded_corpus(
    folder: str | os.PathLike,
    lang: str = "a",
    voice: str = "jf_alpha",
    symbol_map: Callable[[str], str] | None = None,
    model=None,
    cache: bool = True,
    rebuild: bool = False,
    progress: bool = True,
    vocab_size: int = 178,
) -> RecordedCorpus:
    """Every recording in an LJSpeech-style ``folder`` as a fine-tuning item (see the module docstring).

    Args:
        folder: holds ``metadata.csv`` and ``wavs/``.
        lang: the language code for ``phonemize`` (``"lb"`` for Luxembourgish).
        voice: the starting voice: the items' ``speaker_embedding`` rows and the voice Kokoro
            reads with to align them (a voice name or a mix such as ``"jf_alpha:0.5,jm_kumo:0.5"``).
        symbol_map: maps ``phonemize``'s output onto Kokoro's vocabulary (e.g.
            ``new_language.to_kokoro``); ``None`` keeps it as it is. Part of the cache key by name.
        model: a ``kokoro.KModel`` or ``load_kmodel()``'s pair; ``None`` loads it.
        cache: read and write ``cache_dir()/finetune/recorded_<hash>.pt``.
        rebuild: ignore an existing cache.
        progress: a tqdm bar.
        vocab_size: tokens allowed (more than 178 with an extended vocabulary).

    Returns:
        A :class:`RecordedCorpus`; a warning lists the skipped recordings, if any.

    Raises:
        CorpusFormatError: the folder or its metadata is malformed.
        ValueError: no recording could be used (the message lists why, per recording).
        CorruptFileError: a damaged cache file (delete it or pass ``rebuild=True``).
    """
    from tqdm.auto import tqdm

    from ..original.mixing import resolve_voice
    from ..original.model import load_kmodel
    from ..original.voices import style_for

    folder = Path(folder)
    rows = read_metadata(folder)
    map_name = None if symbol_map is None else f"{symbol_map.__module__}.{symbol_map.__qualname__}"
    settings = {"lang": lang, "voice": voice, "symbol_map": map_name, "vocab_size": vocab_size}
    key = corpus_key(folder, rows, settings)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "finetune" / f"recorded_{digest}.pt"
    if cache and path.exists() and not rebuild:
        corpus = _from_payload(load_torch_file(path, "recorded corpus cache", "delete it"), path, key)
        _warn_skipped(corpus)
        return corpus
    model = load_kmodel()[0] if model is None else model
    model = model[0] if isinstance(model, tuple) else model
    pack = resolve_voice(voice)
    corpus = RecordedCorpus([], [])
    for name, text in tqdm(rows, desc="aligning recordings", disable=not progress):
        try:
            audio = read_recording(folder / "wavs" / f"{name}.wav", name)
            prepared = item_from_recording(
                model,
                name,
                audio,
                text,
                lambda n: style_for(pack, n),
                lang,
                symbol_map,
                vocab_size=vocab_size,
            )
        except RecordingError as e:
            corpus.skipped.append(Skipped(name, str(e)))
            continue
        corpus.items.append(prepared.item)
        corpus.phonemes.append(prepared.phonemes)
    if not corpus.items:
        raise ValueError(f"No recording in {folder} could be used:\n{corpus.report()}")
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_torch_file(_payload(corpus, key), path, overwrite=True)
    _warn_skipped(corpus)
    return corpus


def _warn_skipped(corpus: RecordedCorpus) -> None:
    if corpus.skipped:
        warnings.warn(f"Skipped recordings:\n{corpus.report()}", stacklevel=3)
