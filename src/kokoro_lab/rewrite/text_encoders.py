"""CoreML-compatible text encoders: kokoro's modules without ``pack_padded_sequence``.

Two BiLSTM modes:

* ``"v21"``: run over the padded sequence with zero initial states, as the v21 rewrite does. The
  backward direction then starts in the padding, so valid outputs depend on how much padding
  follows them.
* ``"exact"``: the forward direction runs as in v21 (padding comes after the valid steps, so it
  cannot reach them); the backward direction runs on each sequence shifted to end at the last
  position, built with an index gather that traces. This reproduces ``pack_padded_sequence``.
"""

from __future__ import annotations

import torch

from .config import LstmMode
from .shapes import check_shape


def bilstm(
    lstm: torch.nn.LSTM, x: torch.Tensor, lengths: torch.Tensor, mode: LstmMode = "exact"
) -> torch.Tensor:
    """Run a batch-first bidirectional ``lstm`` over padded ``x``.

    Args:
        x: [B, T, C_in] with zeros past ``lengths``.
        lengths: [B] valid steps.

    Returns:
        [B, T, 2H], zero past ``lengths``.
    """
    B, T, _ = x.shape
    H = lstm.hidden_size
    h0 = torch.zeros(2, B, H, dtype=x.dtype, device=x.device)  # explicit states: required to trace
    c0 = torch.zeros(2, B, H, dtype=x.dtype, device=x.device)
    out, _ = lstm(x, (h0, c0))  # [B, T, 2H]
    check_shape(out, (B, T, 2 * H), "BiLSTM output")
    t = torch.arange(T, device=x.device).view(1, T)  # [1, T]
    valid = (t < lengths.view(B, 1)).unsqueeze(-1).to(x.dtype)  # [B, T, 1]
    if mode == "v21":
        return out * valid
    if not torch.jit.is_tracing() and bool((lengths >= T).all()):
        # eager, no padding: the right-aligned pass would repeat the first one bit for bit
        return out * valid
    shift = (T - lengths).view(B, 1)  # [B, 1] padding length
    src = t - shift  # right-aligned step t reads original step t - shift
    right = torch.gather(x, 1, src.clamp(min=0).unsqueeze(-1).expand(B, T, x.shape[-1]))
    right = right * (src >= 0).unsqueeze(-1).to(x.dtype)  # [B, T, C_in], valid steps at the end
    out_right, _ = lstm(right, (h0, c0))
    back = (t + shift).clamp(max=T - 1)  # original step t sits at t + shift
    backward = torch.gather(out_right[..., H:], 1, back.unsqueeze(-1).expand(B, T, H))  # [B, T, H]
    return torch.cat([out[..., :H], backward], dim=-1) * valid


class TextEncoderFixed(torch.nn.Module):
    """kokoro's ``TextEncoder`` (embedding, 3 × CNN, BiLSTM) on padded input, without packing."""

    def __init__(self, original_text_encoder, mode: LstmMode = "exact"):
        super().__init__()
        self.embedding = original_text_encoder.embedding
        self.cnn = original_text_encoder.cnn
        self.lstm = original_text_encoder.lstm
        self.mode = mode

    def forward(self, x: torch.Tensor, input_lengths: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """x [B, L] ids, input_lengths [B], m [B, L] True at padding → [B, 512, L]."""
        keep = (~m).unsqueeze(1).to(torch.float32)  # [B, 1, L]
        x = self.embedding(x).transpose(1, 2) * keep  # [B, 512, L]
        for c in self.cnn:
            x = c(x) * keep  # conv sees zeros past the end, as the original's zero padding
        x = bilstm(self.lstm, x.transpose(1, 2), input_lengths, self.mode)  # [B, L, 512]
        return check_shape(
            x.transpose(1, 2) * keep, (keep.shape[0], 512, keep.shape[-1]), "t_en"
        )  # [B, 512, L]


class TextEncoderPredictorFixed(torch.nn.Module):
    """kokoro's ``DurationEncoder``: 3 × (BiLSTM, AdaLayerNorm) with the style concatenated."""

    def __init__(self, text_encoder, mode: LstmMode = "exact"):
        super().__init__()
        self.lstms = text_encoder.lstms
        self.d_model = text_encoder.d_model
        self.sty_dim = text_encoder.sty_dim
        self.mode = mode

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, text_lengths: torch.Tensor, m: torch.Tensor
    ) -> torch.Tensor:
        """x [B, 512, L] (d_en), style [B, 128], m [B, L] True at padding → d [B, L, 640]."""
        keep = (~m).unsqueeze(1).to(torch.float32)  # [B, 1, L]
        s = style.unsqueeze(-1).expand(-1, -1, x.shape[-1])  # [B, 128, L]
        x = torch.cat([x, s], dim=1) * keep  # [B, 640, L]
        for block in self.lstms:
            if isinstance(block, torch.nn.LSTM):
                x = bilstm(block, x.transpose(1, 2), text_lengths, self.mode).transpose(1, 2)  # [B, 512, L]
            else:  # AdaLayerNorm over channels, then the style again
                x = block(x.transpose(1, 2), style).transpose(1, 2)  # [B, 512, L]
                x = torch.cat([x, s], dim=1) * keep  # [B, 640, L]
        return check_shape(x.transpose(1, 2), (keep.shape[0], keep.shape[-1], 640), "d")  # [B, L, 640]
