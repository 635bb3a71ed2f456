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


def style_from_audio(
    model: nn.Module,
    recordings: Sequence[tuple[np.ndarray, str]],
    init: str | torch.Tensor = "jf_alpha",
    lang: str = "a",
    symbol_map=None,
    sample_rate: int = 24_000,
    config: FinetuneConfig | None = None,
    progress: bool = True,
) -> StyleFit:
    """A ``ref_s`` [1, 256] for the speaker of ``recordings``: audio in, style out.

    Each (audio, text) pair is aligned against Kokoro's reading (see
    :mod:`kokoro_lab.finetune.alignment`), made into an item with its pyin F0, and
    :func:`fit_style` fits one style vector to them all with the weights frozen.

    Args:
        model: a ``kokoro.KModel``.
        recordings: ``[(audio [T] at sample_rate, text), ...]``.
        init: a voice name (its row for the median phoneme count) or a [1, 256] vector.
        lang, symbol_map: as for :func:`~kokoro_lab.finetune.recordings.item_from_recording`.
        config: as for :func:`fit_style` (default: 40 steps, batch 2, lr 0.01, 12-frame segments).

    Raises:
        RecordingError: a recording cannot be aligned (the message names it).
    """
    import librosa

    from ..original.voices import load_voice, style_for
    from .data import FinetuneDataset
    from .recordings import item_from_recording, trim_silence

    if not recordings:
        raise ValueError("No recordings given; pass [(audio, text), ...].")
    pack = load_voice(init) if isinstance(init, str) else None
    items = []
    for i, (audio, text) in enumerate(recordings):
        y = np.asarray(audio, dtype=np.float32).reshape(-1)
        if sample_rate != 24_000:
            y = librosa.resample(y, orig_sr=sample_rate, target_sr=24_000)
        name = f"recording {i}"
        emb = (lambda n: style_for(pack, n)) if pack is not None else init
        items.append(
            item_from_recording(model, name, trim_silence(y, name), text, emb, lang, symbol_map).item
        )
    if pack is not None:
        init = style_for(pack, int(np.median([it.input_ids.numel() - 2 for it in items])))
    config = config or FinetuneConfig(steps=40, batch_size=2, lr=0.01, segment_frames=12)
    return fit_style(model, FinetuneDataset(items), init, config, progress)
