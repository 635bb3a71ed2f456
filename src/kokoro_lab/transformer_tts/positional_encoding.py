"""Sinusoidal positional encoding (fixed, not learned), as in "Attention Is All You Need"."""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """The [max_len, dim] table ``PE[p, 2i] = sin(p / 10000^(2i/dim))``, ``PE[p, 2i+1] = cos(...)``."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # [max_len, 1]
    inv_freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq[: dim // 2])  # odd dim: one cosine column fewer
    return table


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to a [B, T, H] sequence, then applies dropout."""

    def __init__(self, dim: int, dropout: float = 0.1, max_len: int = 5000):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        # A buffer, not a parameter: it moves with .to(device) but is never trained or saved.
        self.register_buffer("table", sinusoidal_table(max_len, dim), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, H] → [B, T, H] with the encodings of positions ``0 .. T - 1`` added.

        Raises:
            ValueError: the sequence is longer than ``max_len``.
        """
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(
                f"Sequence of {T} positions exceeds the positional encoding's max_len "
                f"({self.max_len}); shorten the input or build the model with a larger max_len."
            )
        return self.dropout(x + self.table[:T])
