"""A small "new speaker" corpus that Kokoro-82M speaks itself, cached with a checksum.

The real task (seed document 004) is 32k Luxembourgish recordings; none are available here.
Kokoro's own voice ``jm_kumo`` stands in for the new speaker: for each sentence we keep the
tokens, the durations it used, its audio and the F0 that ``librosa.pyin`` measures in that audio,
exactly the fields a recorded corpus would provide after forced alignment and pitch tracking.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..config import SAMPLES_PER_FRAME, cache_dir
from ..torch_files import CorruptFileError, load_torch_file, save_torch_file, tensor_checksum
from .data import F0_FMAX, F0_FMIN, F0_FRAME_LENGTH, FinetuneItem, f0_from_audio

CORPUS_FORMAT = "kokoro_lab.finetune.corpus"
CORPUS_VERSION = 2

# Short sentences (about 1–2 s each), written for this project (public domain).
SENTENCES: tuple[str, ...] = (
    "The door was open.",
    "Bring me the red cup.",
    "It rained all night.",
    "The dog ran home.",
    "We like warm bread.",
    "Is the shop closed?",
    "She sang a song.",
    "The sky is clear.",
    "Turn off the light.",
    "He lost his keys.",
    "The tea is cold.",
    "Birds fly south.",
    "Where is the train?",
    "I read a book.",
    "The milk is fresh.",
    "Call me tomorrow.",
    "The road is long.",
    "My hands are cold.",
    "Open the window.",
    "The lake was calm.",
    "They came back late.",
    "What a lovely day!",
    "The soup smells good.",
    "Wait for me here.",
    "The clock stopped.",
    "We walked to school.",
    "The box is heavy.",
    "Snow fell at dawn.",
    "He fixed the bike.",
    "Can you hear it?",
    "The cat is asleep.",
    "Leave the lamp on.",
    "The boat sailed away.",
    "Her coat is blue.",
    "The bell rang twice.",
    "Please sit down.",
)


@dataclass
class SpeakerCorpus:
    """Parallel lists, one entry per utterance: text, phonemes, ids, durations, F0 and audio."""

    sentences: list[str]
    phonemes: list[str]
    input_ids: list[torch.Tensor]  # [L] long, boundary zeros included
    durations: list[torch.Tensor]  # [L] long frames
    f0: list[torch.Tensor]  # [F] Hz (0 = unvoiced), F = durations.sum()
    audio: list[torch.Tensor]  # [600 F] float32
    voice: str
    seed: int

    def __len__(self) -> int:
        return len(self.sentences)

    def checksum(self) -> str:
        """SHA-256 over the text, phonemes and every tensor."""
        h = hashlib.sha256("\n".join(self.sentences + self.phonemes).encode())
        h.update(tensor_checksum(self.input_ids + self.durations + self.f0 + self.audio).encode())
        return h.hexdigest()

    def split(self, n_val: int, seed: int = 0) -> tuple[list[int], list[int]]:
        """A seeded split into (training indices, held-out indices) with ``n_val`` held out."""
        if not 0 < n_val < len(self):
            raise ValueError(f"n_val must be in 1..{len(self) - 1}, got {n_val}.")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)).tolist()
        return sorted(order[n_val:]), sorted(order[:n_val])

    def items(self, speaker: str | torch.Tensor, indices: Sequence[int] | None = None) -> list[FinetuneItem]:
        """:class:`FinetuneItem` s whose ``speaker_embedding`` is ``speaker``.

        Args:
            speaker: a voice name (each item gets that pack's row for its phoneme count, as
                synthesis does) or one ``ref_s`` [256] or [1, 256] for every item.
            indices: which utterances; ``None`` = all.
        """
        from ..original.voices import load_voice, style_for

        pack = load_voice(speaker) if isinstance(speaker, str) else None
        out = []
        for i in range(len(self)) if indices is None else indices:
            ids = self.input_ids[i]
            emb = style_for(pack, ids.numel() - 2) if pack is not None else speaker
            out.append(
                FinetuneItem(
                    name=self.sentences[i],
                    input_ids=ids,
                    speaker_embedding=emb.reshape(-1).float(),
                    gt_duration=self.durations[i],
                    gt_f0=self.f0[i],
                    gt_audio=self.audio[i],
                )
            )
        return out


def corpus_key(sentences: Sequence[str], voice: str, seed: int) -> dict:
    """Everything a cached corpus depends on; the cache file name carries its hash."""
    return {
        "format": CORPUS_FORMAT,
        "version": CORPUS_VERSION,
        "voice": voice,
        "seed": seed,
        "sentences_sha256": hashlib.sha256("\n".join(sentences).encode()).hexdigest(),
        "f0": {"hop": SAMPLES_PER_FRAME, "fmin": F0_FMIN, "fmax": F0_FMAX, "frame_length": F0_FRAME_LENGTH},
    }


def default_cache_path(sentences: Sequence[str], voice: str, seed: int) -> Path:
    """``cache_dir()/finetune/corpus_<voice>_<hash of the key>.pt``."""
    digest = hashlib.sha256(
        json.dumps(corpus_key(sentences, voice, seed), sort_keys=True).encode()
    ).hexdigest()
    folder = cache_dir() / "finetune"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"corpus_{voice}_{digest[:16]}.pt"


def save_corpus(corpus: SpeakerCorpus, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``corpus`` atomically with its key and checksum."""
    payload = {
        "key": corpus_key(corpus.sentences, corpus.voice, corpus.seed),
        "sentences": corpus.sentences,
        "phonemes": corpus.phonemes,
        "input_ids": corpus.input_ids,
        "durations": corpus.durations,
        "f0": corpus.f0,
        "audio": corpus.audio,
        "voice": corpus.voice,
        "seed": corpus.seed,
        "sha256": corpus.checksum(),
    }
    return save_torch_file(payload, path, overwrite)


def load_corpus(path: str | os.PathLike) -> SpeakerCorpus:
    """Read and verify a corpus written by :func:`save_corpus`.

    Raises:
        CorruptFileError: unreadable, of another format, or failing its checksum.
    """
    fix = "delete it and run build_speaker_corpus again"
    raw = load_torch_file(path, "fine-tuning corpus", fix)
    key = raw.get("key", {})
    if key.get("format") != CORPUS_FORMAT or key.get("version") != CORPUS_VERSION:
        raise CorruptFileError(f"{path} is not a version-{CORPUS_VERSION} fine-tuning corpus; {fix}.")
    fields = ("sentences", "phonemes", "input_ids", "durations", "f0", "audio", "voice", "seed")
    corpus = SpeakerCorpus(**{k: raw[k] for k in fields})
    if corpus.checksum() != raw.get("sha256"):
        raise CorruptFileError(f"The corpus {path} fails its checksum (damaged file); {fix}.")
    if key != corpus_key(corpus.sentences, corpus.voice, corpus.seed):
        raise CorruptFileError(f"The corpus {path} was made with other settings ({key}); {fix}.")
    return corpus


def build_speaker_corpus(
    sentences: Sequence[str] = SENTENCES,
    voice: str = "jm_kumo",
    seed: int = 0,
    cache_path: str | os.PathLike | None = None,
    model=None,
    progress: bool = True,
    rebuild: bool = False,
) -> SpeakerCorpus:
    """Have Kokoro speak ``sentences`` with ``voice``; keep ids, durations, pyin F0 and audio.

    Loaded from the cache when a valid one exists for the same sentences, voice, seed and F0
    settings (the file name carries a hash of them); otherwise built and written atomically.

    Args:
        sentences: English text, one utterance each.
        voice: the "new speaker".
        seed: utterance ``i`` is synthesized under ``torch.manual_seed(seed + i)``.
        cache_path: ``None`` = :func:`default_cache_path`.
        model: a ``kokoro.KModel`` or the pair from ``load_kmodel()``; ``None`` loads it.
        progress: a tqdm bar while building.
        rebuild: ignore an existing cache.

    Raises:
        CorruptFileError: the cache exists but is damaged (delete it or pass ``rebuild=True``).
    """
    from tqdm.auto import tqdm

    from ..original.model import load_kmodel
    from ..original.stages import run_stages
    from ..original.text import phonemize, tokenize
    from ..original.voices import load_voice, style_for

    sentences = list(sentences)
    if not sentences:
        raise ValueError("No sentences given; pass at least one.")
    path = Path(cache_path) if cache_path is not None else default_cache_path(sentences, voice, seed)
    if path.exists() and not rebuild:
        return load_corpus(path)
    model = model if model is not None else load_kmodel()
    model = model[0] if isinstance(model, tuple) else model
    pack = load_voice(voice)
    corpus = SpeakerCorpus([], [], [], [], [], [], voice, seed)
    for i, text in enumerate(tqdm(sentences, desc=f"speaking ({voice})", disable=not progress)):
        phonemes = phonemize(text)
        ids = tokenize(phonemes)
        input_ids = torch.tensor([[0, *ids, 0]], dtype=torch.long)  # [1, L]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + i)
            stages = run_stages(model, input_ids, style_for(pack, len(ids)))
        durations = stages.pred_dur.long().reshape(-1).clone()  # [L]
        audio = stages.audio.reshape(-1).float().clone()  # [600 F]
        if audio.numel() != SAMPLES_PER_FRAME * int(durations.sum()):
            raise RuntimeError(f"Kokoro returned {audio.numel()} samples for {int(durations.sum())} frames.")
        corpus.sentences.append(text)
        corpus.phonemes.append(phonemes)
        corpus.input_ids.append(input_ids[0].clone())
        corpus.durations.append(durations)
        corpus.f0.append(f0_from_audio(audio))
        corpus.audio.append(audio)
    save_corpus(corpus, path, overwrite=True)
    return corpus
