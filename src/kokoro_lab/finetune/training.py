"""The fine-tuning loop: seeded, clipped, checkpointed and resumable, on one process or many.

Determinism: the batch and the decoded segments of step ``s`` are functions of ``(seed, s)``
alone, and dropout and the generator's noise draw from the global RNG, which is seeded at the
start and saved in every checkpoint. A run is therefore bit-identical when repeated, and a
resumed run continues exactly as the uninterrupted one would have.

Several processes: launch the same script with ``torchrun --nproc_per_node=N``; pass
``rank``/``world_size`` and a ``wrap`` that returns ``DistributedDataParallel(module)``. Each
rank takes every ``world_size``-th item of the step's batch and DDP averages the gradients.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..seeded_training import Checkpoint, SeededLoop, epoch_order, optimizer_step
from .checkpoint import load_checkpoint, save_checkpoint
from .data import FinetuneBatch, FinetuneDataset, collate
from .losses import duration_loss, f0_loss, log_mel_l1, multi_resolution_stft_loss
from .model import (
    FinetuneOutput,
    KokoroForTraining,
    f0_at_frame_rate,
    freeze,
    segment_starts,
    set_train_mode,
    trainable_parameters,
)

LOSS_KEYS = ("loss", "duration", "f0", "mel", "stft")
# Fields that may differ between a run and its resumption.
RESUMABLE_FIELDS = ("steps", "checkpoint_every")


@dataclass
class FinetuneConfig:
    """Hyper-parameters of :func:`finetune` (defaults sized for a CPU demonstration)."""

    steps: int = 100
    batch_size: int = 4
    lr: float = 1e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    seed: int = 0
    freeze: tuple[str, ...] = ("bert", "bert_encoder", "text_encoder")
    segment_frames: int = 16  # frames decoded per utterance for the reconstruction loss; 0 = none
    decoder_f0: str = "ground_truth"  # or "predicted"; see KokoroForTraining.forward
    w_duration: float = 1.0  # per frame²
    w_f0: float = 1e-3  # per Hz²: a 30 Hz error weighs 0.9
    w_mel: float = 1.0
    w_stft: float = 1.0
    checkpoint_every: int = 0  # 0 = checkpoint only at the end

    def __post_init__(self) -> None:
        self.freeze = tuple(self.freeze)
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be ≥ 1, got {self.steps} and {self.batch_size}.")
        if self.segment_frames < 0 or self.lr <= 0 or self.grad_clip < 0:
            raise ValueError("segment_frames and grad_clip must be ≥ 0 and lr > 0.")
        if self.decoder_f0 not in ("ground_truth", "predicted"):
            raise ValueError(f"decoder_f0 must be 'ground_truth' or 'predicted', got {self.decoder_f0!r}.")

    def settings(self) -> dict:
        """The fields a resumed run must share with the run that wrote the checkpoint."""
        d = dataclasses.asdict(self)
        d["freeze"] = list(d["freeze"])
        return {k: v for k, v in d.items() if k not in RESUMABLE_FIELDS}


def finetune_loss(
    out: FinetuneOutput, batch: FinetuneBatch, config: FinetuneConfig
) -> dict[str, torch.Tensor]:
    """Weighted sum of the four losses: ``{"loss", "duration", "f0", "mel", "stft"}`` (scalars).

    ``duration`` is in frames², ``f0`` in Hz² (on voiced frames), ``mel`` in natural-log units and
    ``stft`` is dimensionless; the latter two are 0 when no segment was decoded.
    """
    dur = duration_loss(out.duration, batch.gt_duration, batch.token_mask)
    f0 = f0_loss(f0_at_frame_rate(out.F0_pred), batch.gt_f0, batch.voiced)
    zero = dur.new_zeros(())
    mel = log_mel_l1(out.audio, out.target_audio) if out.audio is not None else zero
    stft = multi_resolution_stft_loss(out.audio, out.target_audio) if out.audio is not None else zero
    total = config.w_duration * dur + config.w_f0 * f0 + config.w_mel * mel + config.w_stft * stft
    return {"loss": total, "duration": dur, "f0": f0, "mel": mel, "stft": stft}


def batch_for_step(
    dataset: FinetuneDataset, step: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
) -> FinetuneBatch:
    """The batch of step ``step``: seeded per-epoch shuffles; this rank's share of it."""
    return rank_batch(dataset, epoch_order(len(dataset), step, batch_size, seed), step, rank, world_size)


def rank_batch(
    dataset: FinetuneDataset, indices: list[int], step: int, rank: int = 0, world_size: int = 1
) -> FinetuneBatch:
    """This rank's share (every ``world_size``-th item) of step ``step``'s items ``indices``, collated.

    Raises:
        ValueError: the share is empty (``batch_size < world_size``).
    """
    chosen = indices[rank::world_size]
    if not chosen:
        raise ValueError(
            f"Rank {rank} got no item of step {step}; use batch_size ≥ world_size ({world_size})."
        )
    return collate([dataset[j] for j in chosen])


def step_segments(batch: FinetuneBatch, config: FinetuneConfig, step: int) -> tuple[torch.Tensor | None, int]:
    """Segment starts [B] and length S for ``step`` (S shrinks to the shortest utterance)."""
    if config.segment_frames == 0:
        return None, 0
    S = min(config.segment_frames, int(batch.frame_lengths.min()))
    g = torch.Generator().manual_seed(config.seed * 7_919 + step)
    return segment_starts(batch.frame_lengths, S, g), S


def finetune(
    model: nn.Module,
    dataset: FinetuneDataset,
    config: FinetuneConfig | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    rank: int = 0,
    world_size: int = 1,
    wrap: Callable[[nn.Module], nn.Module] | None = None,
) -> dict[str, list[float]]:
    """Fine-tune ``model`` in place until it has taken ``config.steps`` optimizer steps in total.

    Args:
        model: a ``kokoro.KModel`` to train (use :func:`~kokoro_lab.finetune.model.trainable_copy`
            to keep the cached one intact); already on its device.
        dataset: the training items.
        config: hyper-parameters; ``None`` = :class:`FinetuneConfig` defaults.
        checkpoint_path: where to save trained tensors, optimizer, step, history and RNG state
            (rank 0 only), at the end and every ``config.checkpoint_every`` steps.
        resume: continue from ``checkpoint_path``.
        overwrite: let a fresh run replace an existing ``checkpoint_path``.
        progress: show a tqdm bar with the current losses (rank 0 only).
        rank, world_size: this process's place among ``torchrun``'s processes.
        wrap: applied to the :class:`KokoroForTraining` module, e.g. ``DistributedDataParallel``.

    Returns:
        The history ``{"step", "loss", "duration", "f0", "mel", "stft", "seconds"}``, one entry per
        step from step 1 (resumed steps included); ``seconds`` is the wall time of each step.

    Raises:
        FileNotFoundError: ``resume`` without a checkpoint file.
        OutputExistsError: a fresh run would overwrite ``checkpoint_path`` and ``overwrite`` is False.
        ValueError: the checkpoint was written with other settings or other frozen modules.
    """
    config = config or FinetuneConfig()
    device = next(model.parameters()).device
    frozen = freeze(model, config.freeze)
    params = list(trainable_parameters(model).values())
    if not params:
        raise ValueError(f"Every parameter is frozen ({config.freeze}); leave at least one module trainable.")
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    loop = SeededLoop(
        model,
        optimizer,
        Checkpoint(
            checkpoint_path, load_checkpoint, save_checkpoint, every=config.checkpoint_every, writer=rank == 0
        ),
        settings=config.settings() | {"n_items": len(dataset), "world_size": world_size},
        steps=config.steps,
        n_items=len(dataset),
        batch_size=config.batch_size,
        seed=config.seed,
        history_keys=("step", *LOSS_KEYS, "seconds"),
    )
    loop.start(resume, overwrite)

    module = KokoroForTraining(model)
    runner = wrap(module) if wrap is not None else module

    def step_fn(step: int, indices: list[int]) -> dict[str, float]:
        start = time.perf_counter()
        batch = rank_batch(dataset, indices, step, rank, world_size).to(device)
        starts, S = step_segments(batch, config, step)
        losses = finetune_loss(runner(batch, starts, S, config.decoder_f0), batch, config)
        optimizer_step(optimizer, losses["loss"], params, config.grad_clip)
        seconds = time.perf_counter() - start  # before the losses are read back (a GPU sync)
        return {k: float(losses[k].detach()) for k in LOSS_KEYS} | {"seconds": seconds}

    set_train_mode(model, frozen)
    postfix = {"loss": ".3f", "f0": ".0f"}
    history = loop.run(step_fn, progress=progress and rank == 0, desc="fine-tuning", postfix=postfix)
    model.eval()
    return history
