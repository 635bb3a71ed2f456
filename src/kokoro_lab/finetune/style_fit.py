"""A style vector for a new speaker: fit ``ref_s`` (256 numbers) so the frozen model sounds like them.

Kokoro's voices are rows of a ``ref_s`` table; nothing in the released model extracts one from a
recording (StyleTTS 2's style encoder is not part of it). Gradient descent can: freeze every
weight, make ``ref_s`` the only parameter, and minimise the fine-tuning losses against the
speaker's recordings. ``ref_s[:, 128:]`` learns the durations and pitch through the predictor,
``ref_s[:, :128]`` the timbre through the decoder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import FinetuneDataset
from .model import KokoroForTraining
from .training import LOSS_KEYS, FinetuneConfig, batch_for_step, finetune_loss, step_segments


@contextlib.contextmanager
def frozen_weights(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block every parameter of ``model`` has ``requires_grad=False`` and the model is in
    eval mode; both are restored afterwards."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    was_training = model.training
    for p, _ in flags:
        p.requires_grad_(False)
    model.eval()
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


@dataclass
class StyleFit:
    """The fitted style and how the loss went."""

    ref_s: torch.Tensor  # [1, 256]
    history: dict[str, list[float]]


def fit_style(
    model: nn.Module,
    dataset: FinetuneDataset,
    init: torch.Tensor,
    config: FinetuneConfig | None = None,
    progress: bool = True,
) -> StyleFit:
    """Fit one ``ref_s`` [1, 256] to ``dataset`` with the weights of ``model`` frozen.

    Args:
        model: a ``kokoro.KModel`` (its weights and modes are left as they were).
        dataset: the speaker's items; their own ``speaker_embedding`` is ignored.
        init: [1, 256] or [256] starting point, e.g. an existing voice's row.
        config: steps, batch size, learning rate (Adam), segment length, loss weights and seed;
            ``freeze`` and ``grad_clip`` do not apply (everything but ``ref_s`` is frozen).
        progress: a tqdm bar.

    Returns:
        A :class:`StyleFit`; ``history`` has the keys of ``finetune``'s history.
    """
    from tqdm.auto import tqdm

    config = config or FinetuneConfig()
    ref_s = nn.Parameter(init.detach().reshape(1, -1).clone().float())
    optimizer = torch.optim.Adam([ref_s], lr=config.lr)
    history = {"step": [], **{k: [] for k in LOSS_KEYS}}
    module = KokoroForTraining(model)
    with frozen_weights(model), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        for step in tqdm(range(config.steps), desc="fitting ref_s", disable=not progress):
            batch = batch_for_step(dataset, step, config.batch_size, config.seed)
            batch = batch._replace(ref_s=ref_s.expand(batch.input_ids.shape[0], -1))  # [B, 256]
            starts, S = step_segments(batch, config, step)
            losses = finetune_loss(module(batch, starts, S, config.decoder_f0), batch, config)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            optimizer.step()
            history["step"].append(step + 1)
            for k in LOSS_KEYS:
                history[k].append(float(losses[k].detach()))
    return StyleFit(ref_s.detach().clone(), history)


def voice_vectors(names: Sequence[str], n_phonemes: Sequence[int]) -> dict[str, torch.Tensor]:
    """``{voice: [len(n_phonemes), 256]}``: each voice's rows for the given phoneme counts."""
    from ..original.voices import load_voice, style_for

    return {v: torch.cat([style_for(load_voice(v), n) for n in n_phonemes]) for v in names}


def nearest_voice(ref_s: torch.Tensor, vectors: dict[str, torch.Tensor], exclude: Sequence[str] = ()) -> str:
    """The voice whose mean row is closest (Euclidean) to ``ref_s`` [1, 256], skipping ``exclude``."""
    distances = {v: float(torch.linalg.norm(rows.mean(0) - ref_s.reshape(-1))) for v, rows in vectors.items()}
    candidates = {v: d for v, d in distances.items() if v not in exclude}
    if not candidates:
        raise ValueError("Every voice is excluded; nothing to compare with.")
    return min(candidates, key=candidates.get)


def pca_2d(points: np.ndarray, fit_on: np.ndarray | None = None) -> np.ndarray:
    """Project [N, D] ``points`` on the first two principal axes of ``fit_on`` (default: the points)."""
    ref = np.asarray(points if fit_on is None else fit_on, dtype=np.float64)
    mean = ref.mean(0)
    _, _, vt = np.linalg.svd(ref - mean, full_matrices=False)
    return (np.asarray(points, dtype=np.float64) - mean) @ vt[:2].T  # [N, 2]
