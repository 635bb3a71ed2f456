"""Fine-tuning checkpoints: the trained tensors only, optimizer and loop state, written atomically.

The frozen bulk of Kokoro (ALBERT, the text encoder, ...) is the public checkpoint and is not
copied: a checkpoint holds the parameters that were trained, a checksum over them, the
optimizer state, and the loop's step, loss history, RNG state and settings. Reading one back
checks the format, the checksum and that it names exactly the model's trainable parameters.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from ..torch_files import CorruptFileError, check_format, load_torch_file, save_torch_file, tensor_checksum
from .model import trainable_parameters

CHECKPOINT_FORMAT = "kokoro_lab.finetune.checkpoint"
CHECKPOINT_VERSION = 1
FIX = "start the fine-tune again (or restore the file from a backup)"


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    training: dict | None = None,
    overwrite: bool = True,
) -> Path:
    """Write the trainable parameters of ``model`` (a ``kokoro.KModel``), ``optimizer`` and ``training``.

    A crash mid-write leaves any previous file intact (it is renamed into place).
    """
    state = {n: p.detach().cpu().clone() for n, p in trainable_parameters(model).items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "trained": state,
        "trained_sha256": tensor_checksum(state),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "training": training or {},
    }
    return save_torch_file(payload, path, overwrite)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and verify a checkpoint (format, version, checksum) without touching a model.

    Raises:
        FileNotFoundError: no file. CorruptFileError: unreadable, of another kind, or damaged.
    """
    ckpt = load_torch_file(path, "fine-tuning checkpoint", FIX)
    check_format(ckpt, path, "fine-tuning checkpoint", CHECKPOINT_FORMAT, CHECKPOINT_VERSION, FIX)
    if tensor_checksum(ckpt["trained"]) != ckpt.get("trained_sha256"):
        raise CorruptFileError(f"The tensors in {path} fail their checksum (damaged file); {FIX}.")
    return ckpt


def load_checkpoint(
    path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict:
    """Copy the trained tensors of ``path`` into ``model`` (and restore ``optimizer``); return ``training``.

    ``model`` must have the same trainable parameters (the same modules frozen) as when saved.

    Raises:
        CorruptFileError: the file is unreadable or damaged.
        ValueError: the checkpoint trained other parameters, or holds no optimizer state to resume.
    """
    ckpt = read_checkpoint(path)
    params = trainable_parameters(model)
    saved = ckpt["trained"]
    if set(saved) != set(params):
        missing, extra = sorted(set(params) - set(saved)), sorted(set(saved) - set(params))
        raise ValueError(
            f"{path} trained other parameters than this model trains ({len(missing)} missing, e.g. "
            f"{missing[:2]}; {len(extra)} extra, e.g. {extra[:2]}). Freeze the same modules as the run "
            "that wrote it."
        )
    with torch.no_grad():
        for name, p in params.items():
            if saved[name].shape != p.shape:
                raise ValueError(
                    f"{path}: {name} has shape {tuple(saved[name].shape)}, model {tuple(p.shape)}."
                )
            p.copy_(saved[name])
    if optimizer is not None:
        if ckpt["optimizer"] is None:
            raise ValueError(f"{path} holds no optimizer state; it cannot resume training.")
        optimizer.load_state_dict(ckpt["optimizer"])
    return ckpt["training"]
