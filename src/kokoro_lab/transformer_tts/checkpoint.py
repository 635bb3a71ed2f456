"""The Transformer TTS checkpoint: weights, config, optimizer and training state in one torch file.

It is written atomically and read with ``weights_only=True`` (``kokoro_lab.torch_files``). Besides
a missing, unreadable or damaged file, a checkpoint can be written for a different model
configuration; each case gets its own message.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..torch_files import CorruptFileError, load_torch_file, save_torch_file, tensor_checksum
from .config import TransformerTTSConfig
from .model import TransformerTTS

CHECKPOINT_FORMAT = "kokoro_lab.transformer_tts.checkpoint"
CHECKPOINT_VERSION = 1


def save_checkpoint(
    path: str | os.PathLike,
    model: TransformerTTS,
    optimizer: torch.optim.Optimizer | None = None,
    training: dict | None = None,
    overwrite: bool = True,
) -> Path:
    """Write model weights, config, optimizer state and ``training`` (step, history, RNG, ...) atomically.

    A crash mid-write leaves the previous checkpoint intact (the file is renamed into place).
    """
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": model.config.to_dict(),
        "model": state,
        "model_sha256": tensor_checksum(state),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "training": training or {},
    }
    return save_torch_file(payload, path, overwrite)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and verify a checkpoint file (format, version, checksum) without building a model.

    Raises:
        CorruptFileError: unreadable, not a checkpoint of this model, or the weights fail their checksum.
    """
    fix = "retrain (or restore the file from a backup)"
    ckpt = load_torch_file(path, "checkpoint", fix)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CorruptFileError(f"{path} is not a Transformer TTS checkpoint (format {ckpt.get('format')!r}).")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CorruptFileError(
            f"{path} is checkpoint version {ckpt.get('version')}, this code reads version "
            f"{CHECKPOINT_VERSION}; {fix}."
        )
    if tensor_checksum(ckpt["model"]) != ckpt.get("model_sha256"):
        raise CorruptFileError(
            f"The weights in {path} fail their checksum (the file is damaged); delete it and {fix}."
        )
    return ckpt


def check_config(saved: dict, model: TransformerTTS, path: str | os.PathLike = "checkpoint") -> None:
    """Raise ``ValueError`` when ``saved`` describes different tensors than ``model.config``."""
    diff = model.config.architecture_differences(saved)
    if diff:
        listed = ", ".join(f"{k}: saved {a}, model {b}" for k, (a, b) in diff.items())
        raise ValueError(
            f"{path} was saved from a different model configuration ({listed}). Build the model "
            "from the checkpoint's own config with load_model(path), or use "
            "TransformerTTSConfig(**read_checkpoint(path)['config'])."
        )


def load_checkpoint(
    path: str | os.PathLike, model: TransformerTTS, optimizer: torch.optim.Optimizer | None = None
) -> dict:
    """Restore ``model`` (and ``optimizer``) from ``path``; return the checkpoint's ``training`` dict.

    Raises:
        CorruptFileError: the file is unreadable or damaged.
        ValueError: the checkpoint was saved from a model with another configuration.
    """
    ckpt = read_checkpoint(path)
    check_config(ckpt["config"], model, path)
    model.load_state_dict(ckpt["model"], strict=True)
    if optimizer is not None:
        if ckpt["optimizer"] is None:
            raise ValueError(f"{path} holds no optimizer state; it cannot resume training, only inference.")
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["training"]


def load_model(path: str | os.PathLike, device: torch.device | str | None = None) -> TransformerTTS:
    """Build a :class:`TransformerTTS` from the config stored in ``path`` and load its weights (eval mode)."""
    ckpt = read_checkpoint(path)
    model = TransformerTTS(TransformerTTSConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["model"], strict=True)
    return model.to(device or "cpu").eval()
