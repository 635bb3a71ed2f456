"""Saving and loading: atomic writes, safe loads (``weights_only=True``), and clear errors.

Three things can go wrong when a file is read back, and each gets its own message: the file is
unreadable (truncated, overwritten, not a torch file), its contents fail their checksum, or it was
written for a different model configuration.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ..atomic import atomic_path
from .config import TransformerTTSConfig
from .model import TransformerTTS

CHECKPOINT_FORMAT = "kokoro_lab.transformer_tts.checkpoint"
CHECKPOINT_VERSION = 1


class CorruptFileError(ValueError):
    """A checkpoint or cache file cannot be read or fails its checksum."""


def tensor_checksum(tensors: dict[str, torch.Tensor] | list[torch.Tensor]) -> str:
    """SHA-256 over the names, shapes, dtypes and bytes of ``tensors`` (a dict is taken in key order)."""
    h = hashlib.sha256()
    items = sorted(tensors.items()) if isinstance(tensors, dict) else enumerate(tensors)
    for name, t in items:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_torch_file(path: str | os.PathLike, what: str, fix: str) -> dict:
    """``torch.load(path, weights_only=True)`` that turns any failure into a message naming the file.

    Args:
        path: the file. what: what it is ("checkpoint", "corpus cache"). fix: what to do about a
            bad file ("retrain", "rebuild it with build_corpus").

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: the file cannot be unpickled or does not hold a dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No {what} at {path}; check the path ({fix} to create it).")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip errors, unpickling errors, EOF, ... all mean the same to a reader
        raise CorruptFileError(
            f"Cannot read the {what} {path} ({type(err).__name__}: {err}). The file is truncated, "
            f"corrupt or not a {what}; delete it and {fix}."
        ) from err
    if not isinstance(obj, dict):
        raise CorruptFileError(f"{path} holds a {type(obj).__name__}, not a {what}; delete it and {fix}.")
    return obj


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
    with atomic_path(path, overwrite=overwrite) as tmp:
        torch.save(payload, tmp)
    return Path(path)


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
