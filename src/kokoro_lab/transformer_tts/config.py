"""Hyper-parameters of the educational Transformer TTS, with two presets and a closed-form size.

Parameter arithmetic (H = hidden, F = feed-forward width, V = vocabulary, M = mel bands,
P = prenet width, D = duration-predictor width). Every Linear has a bias, every LayerNorm a weight
and a bias:

* one Transformer block = attention ``4·H² + 4·H`` (Q, K, V and output projections)
  + feed-forward ``2·H·F + F + H`` + two LayerNorms ``4·H``;
* embedding ``V·H``; each of the two stacks ends in a LayerNorm ``2·H``;
* duration predictor ``H·D + D + D + 1``; prenet ``M·P + P + P·H + H``;
  mel projection ``H·M + M``; stop projection ``H + 1``.

The decoder needs no cross-attention: the length regulator has already placed one encoder state on
every mel frame, so decoder blocks have the same size as encoder blocks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Fields that change how the model trains or runs but not which tensors it has. A checkpoint may be
# loaded into a model whose config differs only in these.
RUNTIME_FIELDS = ("dropout", "prenet_dropout", "checkpoint_segments")


def kokoro_vocab_size() -> int:
    """Size of an embedding table that covers Kokoro's token ids: ``max id + 1`` (= 178).

    Kokoro's vocabulary has 114 symbols but its ids are sparse (up to 177); id 0 is the
    boundary/padding token. Sizing the table to the largest id lets the teacher's token ids be used
    unchanged; the 64 unused rows cost ``64·H`` parameters and are never trained.
    """
    from ..original.text import vocab

    return max(vocab().values()) + 1


@dataclass
class TransformerTTSConfig:
    """Sizes and regularisation of :class:`~kokoro_lab.transformer_tts.model.TransformerTTS`."""

    vocab_size: int = 178  # Kokoro's ids go up to 177 (see kokoro_vocab_size)
    n_mels: int = 80
    hidden: int = 512
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    n_heads: int = 8
    ff_dim: int = 2048
    duration_hidden: int = 256
    prenet_dim: int = 256
    dropout: float = 0.1
    prenet_dropout: float = 0.5
    max_len: int = 5000  # longest token or frame sequence the positional encoding covers
    checkpoint_segments: int = 0  # 0 = no gradient checkpointing; N = recompute in N segments

    def __post_init__(self) -> None:
        positive = ("vocab_size", "n_mels", "hidden", "n_heads", "ff_dim", "duration_hidden", "prenet_dim")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}.")
        if self.n_encoder_layers < 1 or self.n_decoder_layers < 1:
            raise ValueError("n_encoder_layers and n_decoder_layers must be ≥ 1.")
        if self.hidden % self.n_heads:
            raise ValueError(
                f"hidden ({self.hidden}) must be divisible by n_heads ({self.n_heads}); "
                "change one of them so every head gets hidden / n_heads dimensions."
            )
        if self.checkpoint_segments < 0:
            raise ValueError(f"checkpoint_segments must be ≥ 0, got {self.checkpoint_segments}.")
        for name in ("dropout", "prenet_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}.")

    @classmethod
    def default(cls, vocab_size: int | None = None, **overrides) -> TransformerTTSConfig:
        """The seed's dimensions: 512 hidden, 6 + 6 layers, 8 heads, 2048 feed-forward, 80 mels.

        These dimensions give **38.25 M parameters (153 MB in fp32)**, not the ~22 M / ~85 MB the
        design notes quote. The quoted figure does not follow from the stated dimensions: a single
        512/2048 block already has 3,152,384 parameters (attention 1,050,624 + feed-forward
        2,099,712 + LayerNorms 2,048), so twelve blocks are 37.8 M before any embedding or output
        layer. 22 M is what about seven such blocks would give. The vocabulary is Kokoro's (178 ids)
        instead of the notes' 63 symbols, which adds 115·512 = 58,880 parameters. Gradient
        checkpointing in 4 segments is on, as in the notes.

        Args:
            vocab_size: embedding rows; ``None`` = :func:`kokoro_vocab_size`.
            overrides: any other field, e.g. ``dropout=0.0``.
        """
        fields = dict(checkpoint_segments=4) | overrides
        return cls(vocab_size=vocab_size or kokoro_vocab_size(), **fields)

    @classmethod
    def small(cls, vocab_size: int | None = None, **overrides) -> TransformerTTSConfig:
        """About 5.7 M parameters (~23 MB in fp32): 256 hidden, 3 + 4 layers, 4 heads, 1024 feed-forward.

        Sized to match the ~5.7 M the design notes give for their small model; the extra decoder
        layer goes where the work is (predicting 80 numbers per frame, autoregressively).
        """
        fields = dict(
            hidden=256,
            n_encoder_layers=3,
            n_decoder_layers=4,
            n_heads=4,
            ff_dim=1024,
            duration_hidden=256,
            prenet_dim=256,
        )
        return cls(vocab_size=vocab_size or kokoro_vocab_size(), **(fields | overrides))

    def to_dict(self) -> dict:
        """Plain ``dict`` of every field (what checkpoints store)."""
        return dataclasses.asdict(self)

    def architecture_differences(self, other: dict) -> dict[str, tuple]:
        """``{field: (saved, ours)}`` for the fields of ``other`` that change the model's tensors."""
        ours = self.to_dict()
        keys = (set(ours) | set(other)) - set(RUNTIME_FIELDS)
        return {k: (other.get(k), ours.get(k)) for k in sorted(keys) if other.get(k) != ours.get(k)}

    def parameter_count(self) -> dict[str, int]:
        """Parameters per part from the closed-form formulas in the module docstring (no model built).

        Returns:
            ``{part: count}`` with the parts of :meth:`TransformerTTS.get_model_info` and ``"total"``.
        """
        H, F, M = self.hidden, self.ff_dim, self.n_mels
        block = (4 * H * H + 4 * H) + (2 * H * F + F + H) + 4 * H
        parts = {
            "embedding": self.vocab_size * H,
            "encoder": self.n_encoder_layers * block + 2 * H,
            "duration_predictor": H * self.duration_hidden + 2 * self.duration_hidden + 1,
            "prenet": M * self.prenet_dim + self.prenet_dim + self.prenet_dim * H + H,
            "decoder": self.n_decoder_layers * block + 2 * H,
            "mel_linear": H * M + M,
            "stop_linear": H + 1,
        }
        parts["total"] = sum(parts.values())
        return parts
