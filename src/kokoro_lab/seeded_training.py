"""What makes a training run repeatable and resumable: its batch order and its random state.

Both training loops in kokoro-lab (the Transformer TTS and the Kokoro fine-tune) draw each step's
batch from a shuffle seeded by the run's seed and the epoch, so step ``k`` sees the same items
whether the run started at step 0 or resumed at step ``k``; the RNG state saved in a checkpoint
restores everything else (dropout, segment choice).
"""

from __future__ import annotations

import math

import torch


def epoch_order(n: int, step: int, batch_size: int, seed: int) -> list[int]:
    """Indices (into a dataset of ``n`` items) of the batch of training step ``step``.

    Each epoch is a fresh seeded permutation; the last batch of an epoch may be short.
    """
    if n <= 0 or batch_size <= 0:
        raise ValueError(f"Need a non-empty dataset and batch_size ≥ 1, got n={n}, batch_size={batch_size}.")
    epoch, i = divmod(step, math.ceil(n / batch_size))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
    return order[i * batch_size : (i + 1) * batch_size].tolist()


def rng_state() -> dict:
    """The global torch RNG state (CPU, and CUDA when present), for a checkpoint."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
