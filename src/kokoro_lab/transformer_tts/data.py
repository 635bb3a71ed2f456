"""A teacher-made corpus: Kokoro-82M speaks each sentence; we keep its tokens, durations and mels.

Kokoro is the teacher. For every sentence it gives the token ids (with the two 0 boundaries), the
number of 25 ms frames it spends on each token (``pred_dur``) and the audio. The audio becomes an
80-band log-mel spectrogram whose frames line up one-to-one with Kokoro's duration frames (hop 600
samples at 24 kHz), so ``mel.shape[0] == durations.sum()`` exactly. That is all a student model with
explicit durations needs: no forced aligner, no attention alignment to learn.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import SAMPLE_RATE, SAMPLES_PER_FRAME
from ..torch_files import CorruptFileError, load_torch_file, save_torch_file, tensor_checksum
from .sentences import SENTENCES

CORPUS_FORMAT = "kokoro_lab.transformer_tts.corpus"
CORPUS_VERSION = 1
# The log-mel analysis. Hop = Kokoro's duration frame, so mel frames and duration frames coincide.
MEL_SETTINGS = {
    "sample_rate": SAMPLE_RATE,
    "hop_length": SAMPLES_PER_FRAME,  # 600 samples = 25 ms
    "n_fft": 2048,
    "win_length": 1200,  # 50 ms window, two hops
    "n_mels": 80,
    "fmin": 0.0,
    "fmax": SAMPLE_RATE / 2,
    "log_floor": 1e-5,  # log(max(magnitude, floor)): silence sits at log(1e-5) ≈ -11.5
}


def log_mel(audio: np.ndarray, n_frames: int | None = None) -> torch.Tensor:
    """80-band natural-log magnitude mel spectrogram of 24 kHz ``audio``, shape [frames, 80].

    Frame ``t`` is centred on sample ``600·t + 300``, the middle of Kokoro's duration frame ``t``:
    the audio is reflect-padded by ``(n_fft - hop) / 2`` on both sides and analysed without
    librosa's own centring, which gives exactly ``len(audio) / 600`` frames.

    Args:
        audio: [N] float samples.
        n_frames: if given, crop or zero-pad (at the log floor) to this many frames; a difference
            of more than one frame means audio and durations disagree and raises.

    Raises:
        ValueError: ``n_frames`` differs from the analysed frame count by more than one.
    """
    import librosa

    s = MEL_SETTINGS
    pad = (s["n_fft"] - s["hop_length"]) // 2  # 724
    y = np.pad(np.asarray(audio, dtype=np.float32).reshape(-1), (pad, pad), mode="reflect")
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=s["sample_rate"],
        n_fft=s["n_fft"],
        hop_length=s["hop_length"],
        win_length=s["win_length"],
        n_mels=s["n_mels"],
        fmin=s["fmin"],
        fmax=s["fmax"],
        power=1.0,
        center=False,
    )  # [80, frames]
    out = torch.from_numpy(np.log(np.maximum(mel, s["log_floor"])).T.astype(np.float32))  # [frames, 80]
    if n_frames is not None:
        if abs(out.shape[0] - n_frames) > 1:
            raise ValueError(
                f"The audio gives {out.shape[0]} mel frames but the durations sum to {n_frames}; "
                "they must come from the same synthesis run."
            )
        floor = float(np.log(s["log_floor"]))
        out = out[:n_frames]
        if out.shape[0] < n_frames:
            out = torch.cat([out, torch.full((n_frames - out.shape[0], s["n_mels"]), floor)])
        assert out.shape[0] == n_frames
    return out


@dataclass
class Corpus:
    """Parallel lists, one entry per utterance: text, phonemes, tokens, durations and log-mels."""

    sentences: list[str]
    phonemes: list[str]
    tokens: list[torch.Tensor]  # [L] long, boundary zeros included
    durations: list[torch.Tensor]  # [L] long, frames per token
    mels: list[torch.Tensor]  # [T, n_mels] float32 log-mel, T = durations.sum()
    voice: str = ""
    teacher: str = ""

    def __len__(self) -> int:
        return len(self.tokens)

    def split(self, n_val: int, seed: int = 0) -> tuple[list[int], list[int]]:
        """A seeded random split into (train indices, held-out indices) with ``n_val`` held out."""
        if not 0 < n_val < len(self):
            raise ValueError(f"n_val must be in 1..{len(self) - 1}, got {n_val}.")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)).tolist()
        return sorted(order[n_val:]), sorted(order[:n_val])

    def checksum(self) -> str:
        """SHA-256 over the text, phonemes and every tensor."""
        h = hashlib.sha256("\n".join(self.sentences + self.phonemes).encode())
        h.update(tensor_checksum(self.tokens + self.durations + self.mels).encode())
        return h.hexdigest()

    def check(self) -> None:
        """Raise ``ValueError`` unless every item has matching lengths (``mel frames == sum(durations)``)."""
        lists = (self.sentences, self.phonemes, self.tokens, self.durations, self.mels)
        if len({len(x) for x in lists}) != 1:
            raise ValueError(f"Corpus lists differ in length: {[len(x) for x in lists]}.")
        for i, (tok, dur, mel) in enumerate(zip(self.tokens, self.durations, self.mels, strict=True)):
            if tok.shape != dur.shape or mel.shape[0] != int(dur.sum()):
                raise ValueError(
                    f"Item {i} ({self.sentences[i]!r}): {tok.numel()} tokens, {dur.numel()} durations "
                    f"summing to {int(dur.sum())}, {mel.shape[0]} mel frames; these must agree."
                )


def _settings(sentences: Sequence[str], voice: str) -> dict:
    return {
        "voice": voice,
        "mel": dict(MEL_SETTINGS),
        "sentences_sha256": hashlib.sha256("\n".join(sentences).encode()).hexdigest(),
    }


def save_corpus(corpus: Corpus, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write ``corpus`` atomically as a torch file, with its settings and checksum."""
    payload = {
        "format": CORPUS_FORMAT,
        "version": CORPUS_VERSION,
        "settings": _settings(corpus.sentences, corpus.voice),
        "sentences": list(corpus.sentences),
        "phonemes": list(corpus.phonemes),
        "tokens": corpus.tokens,
        "durations": corpus.durations,
        "mels": corpus.mels,
        "voice": corpus.voice,
        "teacher": corpus.teacher,
        "sha256": corpus.checksum(),
    }
    return save_torch_file(payload, path, overwrite)


def load_corpus(path: str | os.PathLike) -> Corpus:
    """Read a corpus cache written by :func:`save_corpus` and verify it.

    Raises:
        CorruptFileError: the file is unreadable, of another format or version, or fails its checksum.
        ValueError: the cache was made with other mel settings (stale).
    """
    fix = "run build_corpus again to regenerate it"
    raw = load_torch_file(path, "corpus cache", fix)
    if raw.get("format") != CORPUS_FORMAT or raw.get("version") != CORPUS_VERSION:
        raise CorruptFileError(
            f"{path} is not a version-{CORPUS_VERSION} corpus cache (format {raw.get('format')!r}, "
            f"version {raw.get('version')!r}); delete it and {fix}."
        )
    if raw.get("settings", {}).get("mel") != MEL_SETTINGS:
        raise ValueError(
            f"The corpus cache {path} was made with other mel settings ({raw.get('settings', {}).get('mel')}) "
            f"than this code uses ({MEL_SETTINGS}); delete it and {fix}, or pass rebuild=True."
        )
    fields = ("sentences", "phonemes", "tokens", "durations", "mels", "voice", "teacher")
    corpus = Corpus(**{k: raw[k] for k in fields})
    if corpus.checksum() != raw.get("sha256"):
        raise CorruptFileError(
            f"The corpus cache {path} fails its checksum (damaged file); delete it and {fix}."
        )
    corpus.check()
    return corpus


def build_corpus(
    sentences: Sequence[str] | None = None,
    voice: str = "jf_alpha",
    cache_path: str | os.PathLike | None = None,
    progress: bool = True,
    model=None,
    seed: int = 0,
    rebuild: bool = False,
) -> Corpus:
    """Have Kokoro-82M speak ``sentences`` and collect tokens, durations and log-mels.

    With ``cache_path``, a valid cache for the same sentences, voice and mel settings is loaded
    instead of running Kokoro; otherwise the corpus is built and written there atomically.

    Args:
        sentences: English text, one utterance each; ``None`` = the 306 :data:`SENTENCES`.
        voice: Kokoro voice for the teacher.
        cache_path: optional ``.pt`` file to read from / write to.
        progress: show a tqdm bar.
        model: a ``kokoro.KModel`` or the ``(KModel, source)`` pair from
            :func:`kokoro_lab.load_kmodel`; ``None`` loads it.
        seed: utterance ``i`` is synthesised under ``torch.manual_seed(seed + i)`` (Kokoro's
            generator draws random phases and noise), so the corpus is reproducible.
        rebuild: rebuild even when ``cache_path`` holds a cache (needed when it is stale).

    Returns:
        A :class:`Corpus`; ``mels[i].shape[0] == durations[i].sum()`` for every item.

    Raises:
        CorruptFileError: ``cache_path`` exists but cannot be read or fails its checksum.
        ValueError: ``cache_path`` holds a cache for other sentences, another voice or other mel
            settings (delete it or pass ``rebuild=True``).
    """
    from tqdm.auto import tqdm

    from ..original.model import load_kmodel
    from ..original.stages import run_stages
    from ..original.text import phonemize, tokenize
    from ..original.voices import load_voice, style_for

    sentences = list(SENTENCES if sentences is None else sentences)
    if not sentences:
        raise ValueError("No sentences given; pass at least one.")
    if cache_path is not None and Path(cache_path).exists() and not rebuild:
        corpus = load_corpus(cache_path)
        if _settings(corpus.sentences, corpus.voice) != _settings(sentences, voice):
            raise ValueError(
                f"The corpus cache {cache_path} was built for other settings ({len(corpus)} sentences, "
                f"voice {corpus.voice!r}) than requested ({len(sentences)} sentences, voice {voice!r}). "
                "Delete the file, choose another cache_path, or pass rebuild=True."
            )
        return corpus
    if model is None:
        model = load_kmodel()
    model, source = model if isinstance(model, tuple) else (model, None)
    pack = load_voice(voice)
    corpus = Corpus([], [], [], [], [], voice, source.describe() if source is not None else "given model")
    for i, text in enumerate(tqdm(sentences, desc="teacher (Kokoro-82M)", disable=not progress)):
        phonemes = phonemize(text)
        ids = tokenize(phonemes)
        input_ids = torch.tensor([[0, *ids, 0]], dtype=torch.long)  # [1, L] with the boundaries
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + i)
            stages = run_stages(model, input_ids, style_for(pack, len(ids)))
        durations = stages.pred_dur.long().reshape(-1)  # [L]
        mel = log_mel(stages.audio.numpy(), n_frames=int(durations.sum()))  # [T, 80]
        corpus.sentences.append(text)
        corpus.phonemes.append(phonemes)
        corpus.tokens.append(input_ids[0].clone())
        corpus.durations.append(durations.clone())
        corpus.mels.append(mel)
    corpus.check()
    if cache_path is not None:
        save_corpus(corpus, cache_path, overwrite=True)
    return corpus


def synthetic_corpus(
    n: int = 64,
    vocab_size: int = 178,
    n_mels: int = 80,
    seed: int = 0,
    min_tokens: int = 4,
    max_tokens: int = 12,
    max_duration: int = 5,
) -> Corpus:
    """A learnable stand-in for the teacher's corpus, made in milliseconds (for tests and demos).

    Every token id has its own fixed duration (1..``max_duration``) and its own mel "spectrum";
    frames are that spectrum plus a ramp across the token and a little noise. A model that learns
    the mapping can drive every loss towards zero.
    """
    g = torch.Generator().manual_seed(seed)
    dur_of = torch.randint(1, max_duration + 1, (vocab_size,), generator=g)
    spectrum = torch.randn(vocab_size, n_mels, generator=g) - 5.0  # roughly log-mel-sized values
    corpus = Corpus([], [], [], [], [], "synthetic", "synthetic")
    for i in range(n):
        L = int(torch.randint(min_tokens, max_tokens + 1, (1,), generator=g))
        inner = torch.randint(1, vocab_size, (L,), generator=g)
        tokens = torch.cat([torch.zeros(1, dtype=torch.long), inner, torch.zeros(1, dtype=torch.long)])
        durations = dur_of[tokens]  # [L + 2]
        frames = []
        for tok, d in zip(tokens.tolist(), durations.tolist(), strict=True):
            ramp = torch.linspace(0.0, 1.0, d)[:, None]  # [d, 1]
            frames.append(spectrum[tok] + ramp + 0.05 * torch.randn(d, n_mels, generator=g))
        corpus.sentences.append(f"synthetic utterance {i}")
        corpus.phonemes.append("")
        corpus.tokens.append(tokens)
        corpus.durations.append(durations)
        corpus.mels.append(torch.cat(frames))  # [T, n_mels]
    return corpus


class Batch(NamedTuple):
    """A padded batch from :func:`collate`."""

    tokens: torch.Tensor  # [B, L] long, 0-padded
    token_lengths: torch.Tensor  # [B]
    durations: torch.Tensor  # [B, L] long, 0-padded
    mels: torch.Tensor  # [B, T, n_mels] normalised, 0-padded
    mel_lengths: torch.Tensor  # [B] = durations.sum(1)
    stop_targets: torch.Tensor  # [B, T] 1.0 at each item's last frame, else 0.0

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device``."""
        return Batch(*(t.to(device) for t in self))


class TTSDataset(Dataset):
    """Selected corpus items with mels normalised per band: ``(mel - mean) / std``.

    ``stats = (mean [n_mels], std [n_mels])``; ``None`` computes them from these items. Give a
    held-out set the training set's stats, so both are measured in the same units.
    """

    def __init__(
        self,
        corpus: Corpus,
        indices: Sequence[int] | None = None,
        stats: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        corpus.check()
        self.corpus = corpus
        self.indices = list(range(len(corpus))) if indices is None else list(indices)
        if not self.indices:
            raise ValueError("The dataset is empty; give at least one index.")
        if stats is None:
            frames = torch.cat([corpus.mels[i] for i in self.indices])  # [all frames, n_mels]
            stats = (frames.mean(0), frames.std(0).clamp(min=1e-3))
        self.mean, self.std = stats

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens [L], durations [L], normalised mel [T, n_mels])."""
        j = self.indices[i]
        return self.corpus.tokens[j], self.corpus.durations[j], self.normalize(self.corpus.mels[j])

    def normalize(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel [..., n_mels] → zero-mean, unit-variance per band."""
        return (mel - self.mean) / self.std

    def denormalize(self, mel: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalize`: back to natural-log magnitudes."""
        return mel * self.std.to(mel.device) + self.mean.to(mel.device)


def collate(items: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> Batch:
    """Pad a list of ``(tokens [L_i], durations [L_i], mel [T_i, n_mels])`` into a :class:`Batch`."""
    B = len(items)
    L = max(t.shape[0] for t, _, _ in items)
    T = max(m.shape[0] for _, _, m in items)
    n_mels = items[0][2].shape[1]
    tokens = torch.zeros(B, L, dtype=torch.long)
    durations = torch.zeros(B, L, dtype=torch.long)
    mels = torch.zeros(B, T, n_mels)
    stop = torch.zeros(B, T)
    for b, (tok, dur, mel) in enumerate(items):
        tokens[b, : tok.shape[0]] = tok
        durations[b, : dur.shape[0]] = dur
        mels[b, : mel.shape[0]] = mel
        stop[b, mel.shape[0] - 1] = 1.0  # the last real frame: "stop after this one"
    token_lengths = torch.tensor([t.shape[0] for t, _, _ in items])
    return Batch(tokens, token_lengths, durations, mels, durations.sum(1), stop)
