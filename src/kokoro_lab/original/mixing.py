"""Voice mixing: a new voice pack as a weighted sum of packs, row by row.

A voice pack holds one style vector per utterance length (row ``n - 1`` for ``n`` phonemes), so
packs are mixed row by row: row ``i`` of the mix blends row ``i`` of every voice, and the style
picked for an utterance of ``n`` phonemes is still the one made for ``n`` phonemes.

A mix is written ``"jf_alpha:0.7,jm_kumo:0.3"``; a bare name means weight 1 (``"jf_alpha,jm_kumo"``
is an even blend). Weights are divided by their sum, which must be positive; a negative weight
is allowed and pushes the mix away from that voice.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .voices import PACK_SHAPE, list_voices, load_voice


@dataclass(frozen=True)
class VoiceMix:
    """Voices and their weights, normalised to sum to 1."""

    parts: tuple[tuple[str, float], ...]

    @property
    def spec(self) -> str:
        """The canonical mix string, e.g. ``"jf_alpha:0.7,jm_kumo:0.3"`` (full float precision)."""
        return ",".join(f"{name}:{weight!r}" for name, weight in self.parts)


def _is_single_voice(voice: str) -> bool:
    return "," not in voice and ":" not in voice or (voice.endswith(".pt") and Path(voice).is_file())


def parse_mix(voice: str) -> VoiceMix:
    """Read a voice or mix string into a :class:`VoiceMix` (no pack is loaded).

    Args:
        voice: ``"name"``, ``"path/to/voice.pt"`` or ``"name:weight,name:weight,…"``.

    Raises:
        ValueError: the string is empty or malformed, a weight is not a finite number, a voice
            is listed twice, or the weights do not sum to a positive number.
    """
    if not isinstance(voice, str) or not voice.strip():
        raise ValueError(
            "The voice is empty; give a name such as 'jf_alpha' or a mix 'jf_alpha:0.7,jm_kumo:0.3'."
        )
    voice = voice.strip()
    if _is_single_voice(voice):
        return VoiceMix(((voice, 1.0),))
    parts: dict[str, float] = {}
    for entry in voice.split(","):
        entry = entry.strip()
        name, sep, weight = entry.rpartition(":")
        name = name.strip() if sep else entry
        if not name:
            raise ValueError(
                f"Malformed voice mix {voice!r}: entry {entry!r} has no voice name; "
                "write it as 'name:weight,name:weight' (e.g. 'jf_alpha:0.7,jm_kumo:0.3')."
            )
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ValueError(
                f"Malformed voice mix {voice!r}: {weight.strip()!r} (for {name!r}) is not a number; "
                "write it as 'name:weight,name:weight' (e.g. 'jf_alpha:0.7,jm_kumo:0.3')."
            ) from None
        if not math.isfinite(w):
            raise ValueError(f"Voice mix {voice!r}: the weight of {name!r} is {w}, not a finite number.")
        if name in parts:
            raise ValueError(f"Voice mix {voice!r} lists {name!r} twice; give each voice once.")
        parts[name] = w
    total = sum(parts.values())
    if not total > 0:
        raise ValueError(
            f"The weights of voice mix {voice!r} sum to {total:g}; they must sum to a positive number "
            "(they are divided by their sum)."
        )
    return VoiceMix(tuple((name, w / total) for name, w in parts.items()))


def mix_voices(mix: VoiceMix) -> torch.Tensor:
    """The weighted sum of the mix's packs, row by row. → [510, 1, 256] float32.

    Raises:
        ValueError: a voice of the mix is unknown (the message lists the known ones).
    """
    if len(mix.parts) == 1 and mix.parts[0][1] == 1.0:
        return load_voice(mix.parts[0][0])
    out = torch.zeros(PACK_SHAPE)  # [510, 1, 256]
    for name, weight in mix.parts:
        try:
            pack = load_voice(name)
        except ValueError:
            raise ValueError(
                f"Unknown voice {name!r} in the mix {mix.spec!r}. Known voices: {', '.join(list_voices())}."
            ) from None
        out += weight * pack  # row i of the mix blends row i of every pack
    return out


@functools.lru_cache(maxsize=32)
def resolve_voice(voice: str) -> torch.Tensor:
    """The [510, 1, 256] pack for a voice name, a ``.pt`` path or a mix string (see module docs).

    Raises:
        ValueError: a malformed mix, bad weights, or an unknown voice; the message says which.
    """
    return mix_voices(parse_mix(voice))
