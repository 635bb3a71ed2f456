"""The fine-tuning data format: one item per utterance, validated, and padded into masked batches.

An item holds what seed document 004 lists: ``input_ids`` (token ids with Kokoro's 0 boundaries),
``speaker_embedding`` (the 256-number ``ref_s``), ``gt_duration`` (frames per token, 600 samples
each), ``gt_f0`` (Hz per frame, 0 where unvoiced) and ``gt_audio`` (24 kHz samples). Everything is
tied to one clock: ``len(gt_f0) == sum(gt_duration)`` and ``len(gt_audio) == 600 · sum(gt_duration)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import MAX_PHONEME_TOKENS, SAMPLE_RATE, SAMPLES_PER_FRAME, STYLE_DIM, load_config

MAX_DUR = int(load_config()["max_dur"])  # 50: the duration head sums 50 sigmoids, so it cannot say more
F0_FMIN, F0_FMAX = 50.0, 600.0  # pyin search range in Hz
F0_FRAME_LENGTH = 1024  # pyin window in samples (43 ms), as in kokoro_lab.quality.pitch


class InvalidItemError(ValueError):
    """A fine-tuning item is inconsistent; the message names the item, the field and the fix."""


@dataclass
class FinetuneItem:
    """One utterance in the seed's format (shapes in the comments; L tokens, F frames)."""

    name: str
    input_ids: torch.Tensor  # [L] long, boundary 0 at both ends
    speaker_embedding: torch.Tensor  # [256] ref_s: [:128] decoder style, [128:] predictor style
    gt_duration: torch.Tensor  # [L] long, frames per token, each ≤ MAX_DUR
    gt_f0: torch.Tensor  # [F] float Hz, 0 where unvoiced
    gt_audio: torch.Tensor  # [600 F] float

    @property
    def n_frames(self) -> int:
        return int(self.gt_duration.sum())


def f0_from_audio(audio: np.ndarray | torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """F0 at Kokoro's frame rate (40 per second) with ``librosa.pyin``; 0 Hz where unvoiced.

    Frame ``i`` is centred on sample ``600·i + 300``, the middle of duration frame ``i``, so
    ``len(result) == ceil(len(audio) / 600)``. Frames whose 1024-sample window runs past either
    end of the audio (the first and the last) are marked unvoiced: part of their window is
    padding, which biases the estimate by more than a percent.

    Args:
        audio: [T] samples at ``sample_rate`` (24 kHz for Kokoro).

    Returns:
        [F] float32 F0 in Hz.
    """
    from ..quality.pitch import pyin_f0

    y = np.asarray(audio.detach().cpu() if isinstance(audio, torch.Tensor) else audio, dtype=np.float32)
    f0 = pyin_f0(
        y.reshape(-1),
        sample_rate,
        hop=SAMPLES_PER_FRAME,
        fmin=F0_FMIN,
        fmax=F0_FMAX,
        frame_length=F0_FRAME_LENGTH,
    )
    centres = np.arange(f0.size) * SAMPLES_PER_FRAME + SAMPLES_PER_FRAME // 2
    inside = (centres - F0_FRAME_LENGTH // 2 >= 0) & (centres + F0_FRAME_LENGTH // 2 <= y.size)
    f0 = np.where(inside, np.nan_to_num(f0, nan=0.0), 0.0)
    return torch.from_numpy(f0.astype(np.float32))  # [F]


def cap_durations(
    gt_duration: torch.Tensor, gt_audio: torch.Tensor, max_dur: int = MAX_DUR
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cap every duration at ``max_dur`` frames and cut the surplus frames out of the audio.

    Kokoro cannot predict more than ``max_dur`` frames for a token, so a longer one (a long pause
    from a forced aligner, say) is shortened: its last ``d - max_dur`` frames are removed from the
    audio, which keeps ``len(gt_audio) == 600 · sum(gt_duration)``.

    Args:
        gt_duration: [L] frames per token. gt_audio: [600 · sum(gt_duration)] samples.

    Returns:
        ``(capped durations [L], shortened audio [600 · sum(capped)])``.
    """
    dur = gt_duration.long()
    ends = torch.cumsum(dur, 0)  # [L]
    keep = torch.ones(int(ends[-1]) * SAMPLES_PER_FRAME, dtype=torch.bool)
    for i in torch.nonzero(dur > max_dur).reshape(-1).tolist():
        start = (int(ends[i]) - int(dur[i]) + max_dur) * SAMPLES_PER_FRAME
        keep[start : int(ends[i]) * SAMPLES_PER_FRAME] = False
    return dur.clamp(max=max_dur), gt_audio[keep]


def validate_item(item: FinetuneItem, max_dur: int = MAX_DUR, vocab_size: int = 178) -> FinetuneItem:
    """Check one item's shapes, ranges and clocks; return it unchanged.

    Raises:
        InvalidItemError: naming the item and the field, e.g. ``gt_f0`` with a frame count that does
            not match ``sum(gt_duration)``.
    """

    def fail(field: str, problem: str, fix: str) -> None:
        raise InvalidItemError(f"Item {item.name!r}, field {field!r}: {problem}. {fix}")

    ids, dur = item.input_ids, item.gt_duration
    if ids.dim() != 1 or ids.dtype != torch.long or ids.numel() < 3:
        fail(
            "input_ids",
            f"expected a 1-D long tensor of ≥ 3 ids, got {tuple(ids.shape)} {ids.dtype}",
            "Use torch.tensor([0, *tokenize(phonemes), 0]).",
        )
    if ids.numel() > MAX_PHONEME_TOKENS + 2:
        fail(
            "input_ids",
            f"{ids.numel()} ids exceed Kokoro's {MAX_PHONEME_TOKENS + 2} positions",
            "Split the utterance.",
        )
    if int(ids[0]) != 0 or int(ids[-1]) != 0:
        fail("input_ids", "must start and end with the boundary id 0", "Wrap the tokens as [0, *ids, 0].")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab_size:
        fail(
            "input_ids",
            f"ids must lie in 0..{vocab_size - 1}, got {int(ids.min())}..{int(ids.max())}",
            "Tokenize with kokoro_lab.tokenize.",
        )
    emb = item.speaker_embedding
    if emb.reshape(-1).shape != (STYLE_DIM,) or not torch.isfinite(emb).all():
        fail(
            "speaker_embedding",
            f"expected {STYLE_DIM} finite numbers, got shape {tuple(emb.shape)}",
            "Use a row of a voice pack (style_for) or a fitted ref_s.",
        )
    if dur.shape != ids.shape or dur.dtype != torch.long:
        fail(
            "gt_duration",
            f"expected {ids.numel()} long values (one per id), got {tuple(dur.shape)} {dur.dtype}",
            "Give one integer frame count per token, boundaries included.",
        )
    if int(dur.min()) < 0 or int(dur.max()) > max_dur:
        fail(
            "gt_duration",
            f"frames must lie in 0..{max_dur}, got {int(dur.min())}..{int(dur.max())}",
            "Cap long tokens with cap_durations().",
        )
    n = int(dur.sum())
    if n < 1:
        fail("gt_duration", "sums to 0 frames", "Every utterance needs audio.")
    f0 = item.gt_f0
    if f0.dim() != 1 or f0.numel() != n:
        fail(
            "gt_f0",
            f"has {tuple(f0.shape)} values but gt_duration sums to {n} frames",
            "Extract F0 with f0_from_audio(gt_audio), at 600 samples per frame.",
        )
    if not torch.isfinite(f0).all() or float(f0.min()) < 0:
        fail("gt_f0", "contains NaN, inf or negative values", "Mark unvoiced frames with 0 Hz, not NaN.")
    audio = item.gt_audio
    if audio.dim() != 1 or audio.numel() != n * SAMPLES_PER_FRAME:
        fail(
            "gt_audio",
            f"has {tuple(audio.shape)} samples but gt_duration sums to {n} frames = "
            f"{n * SAMPLES_PER_FRAME} samples",
            "Trim or pad the audio to 600 samples per frame.",
        )
    if not torch.isfinite(audio).all():
        fail("gt_audio", "contains NaN or inf", "Re-read or re-synthesize the audio.")
    return item


class FinetuneDataset(Dataset):
    """A list of validated :class:`FinetuneItem`; every item is checked at construction."""

    def __init__(self, items: Sequence[FinetuneItem], max_dur: int = MAX_DUR):
        if not items:
            raise ValueError("The dataset is empty; give at least one FinetuneItem.")
        self.items = [validate_item(it, max_dur) for it in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> FinetuneItem:
        return self.items[i]


class FinetuneBatch(NamedTuple):
    """A padded batch from :func:`collate`; masks are True at real (unpadded) positions."""

    input_ids: torch.Tensor  # [B, L] long, 0-padded
    input_lengths: torch.Tensor  # [B]
    token_mask: torch.Tensor  # [B, L] bool
    ref_s: torch.Tensor  # [B, 256]
    gt_duration: torch.Tensor  # [B, L] long, 0-padded
    gt_f0: torch.Tensor  # [B, F] Hz, 0-padded
    frame_lengths: torch.Tensor  # [B] = gt_duration.sum(1)
    frame_mask: torch.Tensor  # [B, F] bool
    voiced: torch.Tensor  # [B, F] bool: real frame and gt_f0 > 0
    gt_audio: torch.Tensor  # [B, 600 F], 0-padded

    def to(self, device: torch.device | str) -> FinetuneBatch:
        """The same batch on ``device``."""
        return FinetuneBatch(*(t.to(device) for t in self))


def lengths_to_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """[B] lengths → [B, size] bool, True at positions ``< length``."""
    return torch.arange(size, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def collate(items: Sequence[FinetuneItem]) -> FinetuneBatch:
    """Pad items into a :class:`FinetuneBatch` (token axis L, frame axis F, sample axis 600 F)."""
    if not items:
        raise ValueError("collate needs at least one item.")
    B = len(items)
    input_lengths = torch.tensor([it.input_ids.numel() for it in items])
    frame_lengths = torch.tensor([it.n_frames for it in items])
    L, F = int(input_lengths.max()), int(frame_lengths.max())
    input_ids = torch.zeros(B, L, dtype=torch.long)
    gt_duration = torch.zeros(B, L, dtype=torch.long)
    gt_f0 = torch.zeros(B, F)
    gt_audio = torch.zeros(B, F * SAMPLES_PER_FRAME)
    for b, it in enumerate(items):
        input_ids[b, : it.input_ids.numel()] = it.input_ids
        gt_duration[b, : it.gt_duration.numel()] = it.gt_duration
        gt_f0[b, : it.gt_f0.numel()] = it.gt_f0
        gt_audio[b, : it.gt_audio.numel()] = it.gt_audio
    ref_s = torch.stack([it.speaker_embedding.reshape(-1).float() for it in items])  # [B, 256]
    frame_mask = lengths_to_mask(frame_lengths, F)
    return FinetuneBatch(
        input_ids=input_ids,
        input_lengths=input_lengths,
        token_mask=lengths_to_mask(input_lengths, L),
        ref_s=ref_s,
        gt_duration=gt_duration,
        gt_f0=gt_f0,
        frame_lengths=frame_lengths,
        frame_mask=frame_mask,
        voiced=frame_mask & (gt_f0 > 0),
        gt_audio=gt_audio,
    )
