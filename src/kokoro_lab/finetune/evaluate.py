"""Measuring how close a model is to the target speaker, with durations forced to the target's.

Forcing the target's durations puts prediction and target on the same frames, so every measure
compares like with like: the duration error is the predicted frames per token against the
target's, the F0 error compares ``F0_pred`` with the pyin F0 of the target audio on frames voiced
in both, and the log-mel distance compares the decoded audio with the target audio frame by
frame. Decoding runs with the generator's noise off and a fixed seed, so scores are repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..quality.distance import log_mel_distance
from ..quality.pitch import f0_agreement
from ..rewrite.sine_source import no_source_noise
from .data import FinetuneItem, collate
from .model import KokoroForTraining, f0_at_frame_rate


@dataclass
class Prediction:
    """One utterance, teacher-forced: predicted durations and F0, and (optionally) the audio."""

    duration: np.ndarray  # [L] predicted frames (real-valued)
    f0: np.ndarray  # [F] Hz at 40 per second (mean of F0_pred's pairs)
    F0_pred: np.ndarray  # [2F] Hz at 80 per second
    audio: np.ndarray | None  # [600 F]


@dataclass
class Scores:
    """Mean errors against the target over a set of utterances."""

    duration_mae_frames: float  # mean |predicted - true| frames per token
    f0_mean_abs_hz: float  # on frames voiced in both (predicted F0 > 50 Hz and pyin voiced)
    f0_median_abs_cents: float
    f0_voiced_frames: int
    log_mel_db: float | None  # mean log-mel distance in dB (None when not decoded)

    def line(self) -> str:
        """The scores on one line."""
        mel = f", log-mel {self.log_mel_db:.2f} dB" if self.log_mel_db is not None else ""
        return (
            f"duration {self.duration_mae_frames:.2f} frames, F0 {self.f0_mean_abs_hz:.1f} Hz / "
            f"{self.f0_median_abs_cents:.0f} cents (median, {self.f0_voiced_frames} frames){mel}"
        )


@torch.no_grad()
def predict(
    model: nn.Module,
    item: FinetuneItem,
    ref_s: torch.Tensor | None = None,
    decode: bool = True,
    seed: int = 0,
) -> Prediction:
    """Teacher-forced prediction for one item with ``ref_s`` [1, 256] (default: the item's embedding).

    The model runs in eval mode; the decoder gets the predicted F0, as at inference.
    """
    was_training = model.training
    model.eval()
    batch = collate([item])
    if ref_s is not None:
        batch = batch._replace(ref_s=ref_s.reshape(1, -1).to(batch.ref_s))
    F = item.n_frames
    try:
        with torch.random.fork_rng(devices=[]), no_source_noise():
            torch.manual_seed(seed)
            out = KokoroForTraining(model)(
                batch, torch.zeros(1, dtype=torch.long), F if decode else 0, decoder_f0="predicted"
            )
    finally:
        model.train(was_training)
    return Prediction(
        duration=out.duration[0].numpy(),
        f0=f0_at_frame_rate(out.F0_pred)[0].numpy(),
        F0_pred=out.F0_pred[0].numpy(),
        audio=out.audio[0].numpy() if decode else None,
    )


def score(
    model: nn.Module,
    items: Sequence[FinetuneItem],
    ref_s: torch.Tensor | None = None,
    decode: bool = True,
    seed: int = 0,
) -> Scores:
    """Duration, F0 and log-mel errors of ``model`` against the items' targets (see module docstring).

    Args:
        ref_s: one style [1, 256] for every item; ``None`` = each item's ``speaker_embedding``.
        decode: also decode audio and measure the log-mel distance (the slow part).
    """
    dur_err, f0_pred, f0_true, mel = [], [], [], []
    for item in items:
        p = predict(model, item, ref_s, decode, seed)
        dur_err.append(np.abs(p.duration - item.gt_duration.numpy()))
        f0_pred.append(p.f0)
        f0_true.append(np.where(item.gt_f0.numpy() > 0, item.gt_f0.numpy(), np.nan))
        if decode:
            mel.append(log_mel_distance(p.audio, item.gt_audio.numpy()))
    agreement = f0_agreement(np.concatenate(f0_pred), np.concatenate(f0_true))
    return Scores(
        duration_mae_frames=float(np.concatenate(dur_err).mean()),
        f0_mean_abs_hz=agreement.mean_abs_hz,
        f0_median_abs_cents=agreement.median_abs_cents,
        f0_voiced_frames=agreement.voiced_frames,
        log_mel_db=float(np.mean(mel)) if decode else None,
    )
