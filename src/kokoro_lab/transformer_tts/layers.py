"""Transformer blocks: multi-head self-attention, feed-forward, and a stack with optional checkpointing.

The blocks are pre-LayerNorm (``x + f(LN(x))``), which trains stably without a learning-rate
warm-up. An encoder stack attends in both directions and ignores padded tokens; a decoder stack
uses a causal mask, so frame ``t`` only sees frames ``≤ t``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


def causal_mask(T: int, device: torch.device | None = None) -> torch.Tensor:
    """[T, T] boolean mask, True where attention is *forbidden* (key after query)."""
    return torch.ones(T, T, dtype=torch.bool, device=device).triu(diagonal=1)


class MultiHeadSelfAttention(nn.Module):
    """Scaled dot-product self-attention over ``n_heads`` heads."""

    def __init__(self, hidden: int, n_heads: int, dropout: float = 0.1):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(hidden, 3 * hidden)  # Q, K and V in one matmul
        self.proj = nn.Linear(hidden, hidden)
        self.attn_dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: [B, T, H]; mask: broadcastable to [B, heads, T, T], True = do not attend. → [B, T, H]."""
        B, T, H = x.shape
        q, k, v = self.qkv(x).split(H, dim=2)  # 3 × [B, T, H]
        q, k, v = (t.view(B, T, self.n_heads, H // self.n_heads).transpose(1, 2) for t in (q, k, v))
        # q, k, v: [B, heads, T, H / heads]
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])  # [B, heads, T, T]
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf"))  # exp(-inf) = 0: exactly no weight
        weights = self.attn_dropout(F.softmax(scores, dim=-1))
        y = weights @ v  # [B, heads, T, H / heads]
        y = y.transpose(1, 2).reshape(B, T, H)  # heads side by side again: [B, T, H]
        return self.proj(y)


class FeedForward(nn.Module):
    """Position-wise MLP: Linear(H → F), ReLU, Linear(F → H)."""

    def __init__(self, hidden: int, ff_dim: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(hidden, ff_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff_dim, hidden)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, H] → [B, T, H]."""
        return self.net(x)


class Block(nn.Module):
    """One pre-LN Transformer block: ``x + attn(LN(x))`` then ``x + ff(LN(x))``."""

    def __init__(self, hidden: int, n_heads: int, ff_dim: int, dropout: float = 0.1):
        super().__init__()
        self.ln1 = nn.LayerNorm(hidden)
        self.attn = MultiHeadSelfAttention(hidden, n_heads, dropout)
        self.ln2 = nn.LayerNorm(hidden)
        self.ff = FeedForward(hidden, ff_dim, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: [B, T, H] → [B, T, H]."""
        x = x + self.dropout(self.attn(self.ln1(x), mask))
        return x + self.dropout(self.ff(self.ln2(x)))


def segment_bounds(n_layers: int, n_segments: int) -> list[tuple[int, int]]:
    """Split ``range(n_layers)`` into ``n_segments`` contiguous ``(start, stop)`` runs, sizes differing ≤ 1."""
    n_segments = max(1, min(n_segments, n_layers))
    sizes = [n_layers // n_segments + (i < n_layers % n_segments) for i in range(n_segments)]
    starts = [sum(sizes[:i]) for i in range(n_segments)]
    return [(s, s + n) for s, n in zip(starts, sizes, strict=True)]


class TransformerStack(nn.Module):
    """``n_layers`` blocks and a final LayerNorm; ``causal=True`` makes it a decoder stack.

    With ``checkpoint_segments = N > 0`` and gradients enabled, the blocks run in N segments under
    ``torch.utils.checkpoint``: only each segment's input is kept for the backward pass and the
    activations inside a segment are recomputed, trading about one extra forward pass for memory.
    Dropout masks are replayed exactly (the RNG state is saved), so gradients are unchanged.
    """

    def __init__(
        self,
        n_layers: int,
        hidden: int,
        n_heads: int,
        ff_dim: int,
        dropout: float = 0.1,
        causal: bool = False,
        checkpoint_segments: int = 0,
    ):
        super().__init__()
        self.causal = causal
        self.checkpoint_segments = checkpoint_segments
        self.blocks = nn.ModuleList(Block(hidden, n_heads, ff_dim, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(hidden)

    def _run(self, x: torch.Tensor, mask: torch.Tensor | None, start: int, stop: int) -> torch.Tensor:
        for block in self.blocks[start:stop]:
            x = block(x, mask)
        return x

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: [B, T, H]; padding_mask: [B, T], True at padded positions. → [B, T, H].

        Padded positions are never attended to (their own outputs are meaningless and must be
        masked by the caller). A causal stack needs no padding mask when padding is at the end.
        """
        T = x.shape[1]
        mask = None
        if padding_mask is not None:
            mask = padding_mask[:, None, None, :]  # [B, 1, 1, T]: hide padded keys from every query
        if self.causal:
            future = causal_mask(T, x.device)[None, None]  # [1, 1, T, T]
            mask = future if mask is None else mask | future
        if self.checkpoint_segments > 0 and torch.is_grad_enabled():
            for start, stop in segment_bounds(len(self.blocks), self.checkpoint_segments):
                x = checkpoint(self._run, x, mask, start, stop, use_reentrant=False)
        else:
            x = self._run(x, mask, 0, len(self.blocks))
        return self.ln_f(x)
