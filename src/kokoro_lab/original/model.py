"""Load the official ``kokoro.KModel`` with resolved weights, and verify the load strictly."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import torch

from ..config import REPO_ID, config_path
from .checkpoint import CheckpointSource, resolve_checkpoint
from .rebuild import is_instance_norm_affine


def load_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict[str, dict[str, torch.Tensor]]:
    """``torch.load`` a Kokoro checkpoint safely (``weights_only=True``).

    ``mmap=True`` maps the file instead of reading it: the keys and shapes cost nothing, and the
    bytes are read only where a tensor is used.
    """
    return torch.load(Path(path), map_location="cpu", weights_only=True, mmap=mmap)


def verify_strict(
    model: torch.nn.Module, checkpoint: dict[str, dict[str, torch.Tensor]], values: str = "checkpoint"
) -> None:
    """Check that ``checkpoint`` fills every tensor of ``model``.

    ``KModel``'s own loader retries with ``strict=False`` and hides missing keys, so this is the
    separate strict check. The only tensors allowed to be absent are AdaIN's InstanceNorm affine
    parameters, which the official checkpoint omits too (they stay at weight 1, bias 0).

    ``values`` says whose tensors must be finite: ``"checkpoint"``'s, or ``"model"``'s (the same
    numbers once the model is loaded from it, without touching a memory-mapped checkpoint's bytes).

    Raises:
        RuntimeError: keys are missing or unexpected, or a tensor is not finite.
    """
    if values not in ("checkpoint", "model"):
        raise ValueError(f"values must be 'checkpoint' or 'model', got {values!r}.")
    problems = []
    for top, state in checkpoint.items():
        module = getattr(model, top)
        expected = {k for k in module.state_dict() if not is_instance_norm_affine(f"{top}.{k}")}
        expected.discard("embeddings.position_ids")
        # CustomSTFT's DFT kernels are computed from the config, not stored in checkpoints.
        expected = {k for k in expected if not k.startswith("generator.stft.")}
        got = {k.removeprefix("module.") for k in state}
        if missing := expected - got:
            problems.append(f"{top}: {len(missing)} missing, e.g. {sorted(missing)[:3]}")
        if unexpected := got - set(module.state_dict()):
            problems.append(f"{top}: {len(unexpected)} unexpected, e.g. {sorted(unexpected)[:3]}")
        tensors = (
            state if values == "checkpoint" else {k: v for k, v in module.state_dict().items() if k in got}
        )
        bad = [k for k, v in tensors.items() if not torch.isfinite(v).all()]
        if bad:
            problems.append(f"{top}: non-finite values in {bad[:3]}")
    if problems:
        raise RuntimeError("Checkpoint does not match kokoro.KModel: " + "; ".join(problems))


@functools.lru_cache(maxsize=2)
def _load(path: Path, disable_complex: bool) -> torch.nn.Module:
    from kokoro import KModel

    with warnings.catch_warnings():  # kokoro's own deprecation noise (weight_norm, LSTM dropout)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", "dropout option adds dropout", UserWarning)
        model = KModel(
            repo_id=REPO_ID, config=str(config_path()), model=str(path), disable_complex=disable_complex
        )
    # The keys from a mapped file, the values from the loaded model: no second copy of the weights.
    verify_strict(model, load_checkpoint(path, mmap=True), values="model")
    return model.eval()


def load_kmodel(
    checkpoint: str | os.PathLike | None = None, disable_complex: bool = False
) -> tuple[torch.nn.Module, CheckpointSource]:
    """Return the official ``kokoro.KModel`` (eval mode, cached) and the source of its weights.

    Args:
        checkpoint: an explicit ``.pth``; by default the source is resolved as in
            :func:`kokoro_lab.original.checkpoint.resolve_checkpoint`.
        disable_complex: use kokoro's conv-based STFT (no complex ops), as the CoreML path does.
    """
    source = resolve_checkpoint(checkpoint)
    return _load(source.path.resolve(), disable_complex), source


def parameter_count(model: torch.nn.Module) -> int:
    """Number of parameters the checkpoint stores (InstanceNorm affine identities excluded)."""
    return sum(p.numel() for name, p in model.named_parameters() if not is_instance_norm_affine(name))
