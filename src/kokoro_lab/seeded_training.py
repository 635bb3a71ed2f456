"""What makes a training run repeatable and resumable: its batch order, its random state, and the loop.

Both training loops in kokoro-lab (the Transformer TTS and the Kokoro fine-tune) draw each step's
batch from a shuffle seeded by the run's seed and the epoch, so step ``k`` sees the same items
whether the run started at step 0 or resumed at step ``k``; the RNG state saved in a checkpoint
restores everything else (dropout, segment choice).

:class:`SeededLoop` is the loop skeleton they share: it starts afresh (seeding the global RNG) or
resumes from a checkpoint, hands each step its batch indices, records the history, shows a
progress bar and saves the checkpoint. Each loop supplies only its own parts: a step function
(batch building, forward pass, loss, optimizer step) and its checkpoint format (:class:`Checkpoint`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from .atomic import check_writable

# step_fn(step, indices) -> the step's scalars, one per history key other than "step".
StepFn = Callable[[int, list[int]], dict[str, float]]


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


def optimizer_step(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: Iterable[nn.Parameter], grad_clip: float
) -> None:
    """Backpropagate ``loss``, clip the gradient norm of ``params`` to ``grad_clip`` (0 = off), step.

    Args:
        optimizer: the optimizer over (at least) ``params``.
        loss: the scalar to minimise.
        params: the parameters whose gradient norm is clipped.
        grad_clip: the maximum gradient norm; 0 disables clipping.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()


@dataclass(frozen=True)
class Checkpoint:
    """Where a loop keeps its checkpoint, and the loop's own functions to read and write it.

    Attributes:
        path: the checkpoint file; ``None`` = no checkpoint (a fresh run that is never saved).
        load: ``load(path, model, optimizer) -> training``: restores ``model`` and ``optimizer``
            and returns the ``training`` dict saved with them.
        save: ``save(path, model, optimizer, training, overwrite)``: writes all of it atomically.
        every: also save every ``every`` steps (0 = only at the end).
        writer: whether this process writes the file (in a multi-process run only rank 0 does).
    """

    path: str | os.PathLike | None
    load: Callable[..., dict]
    save: Callable[..., object]
    every: int = 0
    writer: bool = True


@dataclass
class SeededLoop:
    """A seeded, resumable run of optimizer steps: call :meth:`start`, then :meth:`run`.

    Attributes:
        model, optimizer: what the checkpoint restores and saves (through ``checkpoint``).
        checkpoint: the checkpoint file and format.
        settings: what a resumed run must share with the run that wrote the checkpoint.
        steps: total optimizer steps; a resumed run counts the steps already taken.
        n_items, batch_size, seed: the dataset size and the arguments of :func:`epoch_order`.
        history_keys: the keys of a fresh history, ``"step"`` first.
        step, history: where the run stands (set by :meth:`start`, advanced by :meth:`run`).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    checkpoint: Checkpoint
    settings: dict
    steps: int
    n_items: int
    batch_size: int
    seed: int
    history_keys: tuple[str, ...]
    step: int = field(default=0, init=False)
    history: dict[str, list] = field(default_factory=dict, init=False)

    def start(self, resume: bool = False, overwrite: bool = False) -> None:
        """Resume from the checkpoint, or start afresh by seeding the global RNG with ``seed``.

        Args:
            resume: restore model, optimizer, step, history and RNG state from ``checkpoint.path``.
            overwrite: let a fresh run replace an existing checkpoint file.

        Raises:
            FileNotFoundError: ``resume`` but there is no checkpoint file.
            OutputExistsError: a fresh run would overwrite the checkpoint and ``overwrite`` is False.
            ValueError: ``resume`` without a checkpoint path, or the checkpoint has other settings.
        """
        path = self.checkpoint.path
        if resume:
            if path is None:
                raise ValueError("resume=True needs checkpoint_path.")
            state = self.checkpoint.load(path, self.model, self.optimizer)
            if state.get("settings") != self.settings:
                raise ValueError(
                    f"{path} was trained with {state.get('settings')}, not {self.settings}; resume with "
                    "the same settings and dataset, or start a fresh run with another checkpoint_path."
                )
            self.step, self.history = state["step"], state["history"]
            set_rng_state(state["rng"])
        else:
            # Refuse before any work is done, rather than after the first save.
            if path is not None and self.checkpoint.writer:
                check_writable(path, overwrite)
            torch.manual_seed(self.seed)
            self.step, self.history = 0, {k: [] for k in self.history_keys}

    def batch_indices(self, step: int) -> list[int]:
        """The dataset indices of step ``step``'s batch (see :func:`epoch_order`)."""
        return epoch_order(self.n_items, step, self.batch_size, self.seed)

    def run(
        self,
        step_fn: StepFn,
        progress: bool = True,
        desc: str = "training",
        postfix: dict[str, str] | None = None,
    ) -> dict[str, list]:
        """Take steps until ``steps``, saving the checkpoint at the end and every ``checkpoint.every``.

        Args:
            step_fn: ``step_fn(step, indices)`` takes one optimizer step on the batch of dataset
                items ``indices`` and returns its scalars by history key (all but ``"step"``).
            progress: show a tqdm bar.
            desc: the bar's label.
            postfix: history keys to show on the bar with their format specs;
                ``None`` = ``{"loss": ".3f"}``.

        Returns:
            The history: ``"step"`` (1, 2, ...) and each key's value per step, resumed steps included.
        """
        from tqdm.auto import tqdm

        postfix = postfix or {"loss": ".3f"}
        bar = tqdm(total=self.steps, initial=self.step, desc=desc, disable=not progress)
        while self.step < self.steps:
            record = step_fn(self.step, self.batch_indices(self.step))
            self.step += 1
            self.history["step"].append(self.step)
            for k in self.history_keys:
                if k != "step":
                    self.history[k].append(record[k])
            bar.update(1)
            bar.set_postfix({k: format(self.history[k][-1], spec) for k, spec in postfix.items()})
            if self._save_due():
                self._save()
        bar.close()
        return self.history

    def _save_due(self) -> bool:
        """Whether this process saves after the current step: at the end, and every ``every`` steps."""
        every = self.checkpoint.every
        due = self.step == self.steps or (every and self.step % every == 0)
        return bool(due) and self.checkpoint.path is not None and self.checkpoint.writer

    def _save(self) -> None:
        """Write model, optimizer and the loop state atomically (a crash keeps the previous file)."""
        training = {"step": self.step, "history": self.history, "rng": rng_state(), "settings": self.settings}
        self.checkpoint.save(self.checkpoint.path, self.model, self.optimizer, training, overwrite=True)
