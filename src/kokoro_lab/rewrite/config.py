"""The rewrite's three choices, kept together the way nanoGPT keeps its ``GPTConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

LstmMode = Literal["exact", "v21"]  # BiLSTM over padding: as pack_padded_sequence, or v21's zero-state pass
SourceVariant = Literal["faithful", "v21"]  # harmonic source: kokoro's own (noise off), or v21's
IstftVariant = Literal["corrected", "kokoro"]  # inverse STFT: torch.istft's gain, or CustomSTFT's raw OLA


@dataclass(frozen=True)
class RewriteConfig:
    """Which variant of each rewritten part to build. The defaults are the exact model."""

    mode: LstmMode = "exact"
    source: SourceVariant = "faithful"
    istft: IstftVariant = "corrected"

    def __post_init__(self):
        for name, kind in (("mode", LstmMode), ("source", SourceVariant), ("istft", IstftVariant)):
            value, allowed = getattr(self, name), get_args(kind)
            if value not in allowed:
                raise ValueError(f"Unknown {name} {value!r}; use {' or '.join(map(repr, allowed))}.")

    @property
    def exact(self) -> bool:
        """Padding masked exactly (``mode="exact"``); v21 leaves padding effects in place."""
        return self.mode == "exact"
