"""Training with teacher forcing: losses, a seeded and resumable loop, and held-out evaluation.

Losses (each averaged over real, unpadded positions only):

* mel L1 between predicted and target (normalised) mel frames;
* duration MSE between predicted and true ``log(1 + frames)`` per token;
* stop BCE on the per-frame stop logit, whose target is 1 only at each utterance's last frame.
  With ~100 frames per utterance the positive class is rare, so it is up-weighted by
  ``pos_weight = negatives / positives`` of the batch.

Determinism: the batch for step ``s`` is a function of ``(seed, s)`` alone (a fresh
``torch.Generator`` per epoch), and dropout draws from the global RNG, which is seeded at the start
and saved in checkpoints. So a run is reproducible, and resuming from a checkpoint continues with
exactly the losses the uninterrupted run would have had.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from ..seeded_training import Checkpoint, SeededLoop, epoch_order, optimizer_step
from .checkpoint import load_checkpoint, save_checkpoint
from .data import Batch, TTSDataset, collate
from .model import TransformerTTS, TTSOutput, lengths_to_padding_mask

LOSS_KEYS = ("loss", "mel_l1", "duration_mse", "stop_bce")


def tts_loss(out: TTSOutput, batch: Batch) -> dict[str, torch.Tensor]:
    """Masked losses for one batch: ``{"loss", "mel_l1", "duration_mse", "stop_bce"}`` (scalars).

    ``loss = mel_l1 + duration_mse + stop_bce`` is what is minimised.
    """
    T, L = batch.mels.shape[1], batch.tokens.shape[1]
    frames = ~lengths_to_padding_mask(batch.mel_lengths, T)  # [B, T] True at real frames
    tokens = ~lengths_to_padding_mask(batch.token_lengths, L)  # [B, L] True at real tokens
    mel_l1 = (out.mel_pred - batch.mels).abs().mean(dim=-1)[frames].mean()
    dur_target = torch.log1p(batch.durations.float())  # [B, L]
    duration_mse = (out.log_dur_pred - dur_target).pow(2)[tokens].mean()
    n_pos = batch.stop_targets[frames].sum()
    pos_weight = (frames.sum() - n_pos) / n_pos.clamp(min=1)
    stop_bce = F.binary_cross_entropy_with_logits(
        out.stop_logits[frames], batch.stop_targets[frames], pos_weight=pos_weight
    )
    return {
        "loss": mel_l1 + duration_mse + stop_bce,
        "mel_l1": mel_l1,
        "duration_mse": duration_mse,
        "stop_bce": stop_bce,
    }


def batch_for_step(dataset: TTSDataset, step: int, batch_size: int, seed: int) -> Batch:
    """The batch that training step ``step`` uses: epoch-wise seeded shuffles, last batch may be short."""
    return collate([dataset[j] for j in epoch_order(len(dataset), step, batch_size, seed)])


def train(
    model: TransformerTTS,
    dataset: TTSDataset,
    steps: int,
    lr: float = 1e-3,
    batch_size: int = 16,
    seed: int = 0,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    checkpoint_every: int = 0,
    grad_clip: float = 1.0,
    overwrite: bool = False,
) -> dict[str, list[float]]:
    """Train ``model`` with teacher forcing until it has taken ``steps`` optimizer steps in total.

    Args:
        model: the model, already on its device (batches are moved there).
        dataset: training items (normalised mels).
        steps: total optimizer steps; with ``resume`` the count includes the steps already taken.
        lr: Adam learning rate (betas 0.9, 0.98). batch_size: utterances per step.
        seed: seeds dropout and the data order.
        checkpoint_path: where to save model, optimizer, step, history and RNG state (atomically),
            at the end and every ``checkpoint_every`` steps (0 = only at the end).
        resume: continue from ``checkpoint_path`` instead of starting afresh.
        progress: show a tqdm bar with the current loss.
        grad_clip: clip the gradient norm to this value (0 = off).
        overwrite: allow a fresh run to replace an existing ``checkpoint_path``.

    The model is left in eval mode, ready for :meth:`TransformerTTS.inference`.

    Returns:
        The loss history ``{"step": [...], "loss": [...], "mel_l1": [...], "duration_mse": [...],
        "stop_bce": [...]}`` from step 1 (including resumed steps).

    Raises:
        FileNotFoundError: ``resume`` but there is no checkpoint.
        OutputExistsError: a fresh run would overwrite ``checkpoint_path`` and ``overwrite`` is False.
        ValueError: the checkpoint was made with other training settings or another model config.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be ≥ 1, got {steps} and {batch_size}.")
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98))
    settings = {
        "lr": lr,
        "batch_size": batch_size,
        "seed": seed,
        "grad_clip": grad_clip,
        "n_items": len(dataset),
    }
    loop = SeededLoop(
        model,
        optimizer,
        Checkpoint(checkpoint_path, load_checkpoint, save_checkpoint, every=checkpoint_every),
        settings,
        steps=steps,
        n_items=len(dataset),
        batch_size=batch_size,
        seed=seed,
        history_keys=("step", *LOSS_KEYS),
    )
    loop.start(resume, overwrite)

    def step_fn(step: int, indices: list[int]) -> dict[str, float]:
        batch = collate([dataset[j] for j in indices]).to(device)
        out = model(batch.tokens, batch.token_lengths, batch.mels, batch.durations, batch.mel_lengths)
        losses = tts_loss(out, batch)
        optimizer_step(optimizer, losses["loss"], model.parameters(), grad_clip)
        return {k: losses[k].item() for k in LOSS_KEYS}

    model.train()
    history = loop.run(step_fn, progress=progress, desc="training")
    model.eval()
    return history


@torch.no_grad()
def evaluate(model: TransformerTTS, dataset: TTSDataset, batch_size: int = 16) -> dict[str, float]:
    """Teacher-forced held-out scores, next to the trivial baseline.

    The baseline predicts the same frame everywhere: the per-band mean of the data ``dataset``'s
    statistics came from. Build the held-out dataset with the training set's ``stats`` and that is
    the training set's mean mel. A model has learned something only if it beats it clearly.

    Returns:
        ``mel_l1`` and ``baseline_l1`` (normalised units), the same two in natural-log magnitude
        units (``*_log``), ``duration_mse`` (log domain) and ``frames`` (how many were scored).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    baseline = dataset.normalize(dataset.mean).to(device)  # [n_mels], all zeros by construction
    std = dataset.std.to(device)
    sums = dict.fromkeys(("mel_l1", "baseline_l1", "mel_l1_log", "baseline_l1_log", "duration_se"), 0.0)
    n_frames = n_tokens = 0
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]).to(device)
        out = model(batch.tokens, batch.token_lengths, batch.mels, batch.durations, batch.mel_lengths)
        frames = ~lengths_to_padding_mask(batch.mel_lengths, batch.mels.shape[1])  # [B, T]
        tokens = ~lengths_to_padding_mask(batch.token_lengths, batch.tokens.shape[1])  # [B, L]
        err = (out.mel_pred - batch.mels).abs()[frames]  # [N, n_mels]
        base = (baseline - batch.mels).abs()[frames]
        sums["mel_l1"] += float(err.mean(-1).sum())
        sums["baseline_l1"] += float(base.mean(-1).sum())
        sums["mel_l1_log"] += float((err * std).mean(-1).sum())
        sums["baseline_l1_log"] += float((base * std).mean(-1).sum())
        dur_target = torch.log1p(batch.durations.float())
        sums["duration_se"] += float((out.log_dur_pred - dur_target).pow(2)[tokens].sum())
        n_frames += int(frames.sum())
        n_tokens += int(tokens.sum())
    model.train(was_training)
    result = {k: v / n_frames for k, v in sums.items() if k != "duration_se"}
    result["duration_mse"] = sums["duration_se"] / n_tokens
    result["frames"] = n_frames
    return result
