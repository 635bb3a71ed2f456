"""The alignment matrix, built by broadcasting only (no loops, no in-place writes, no ``.item()``)."""

from __future__ import annotations

import torch


def create_alignment_matrix(pred_dur: torch.Tensor, max_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Assign each of ``max_frames`` frames to the token whose duration covers it.

    ``mask[b, i, j] = starts[b, i] <= j < ends[b, i]`` with ``ends = cumsum(durations)`` and
    ``starts = ends - durations``. Frames past the total belong to no token (all-zero columns).

    Args:
        pred_dur: durations in frames, [L] or [B, L]; rounded and clamped at 0 (PADs may be 0).
        max_frames: F, the number of frame columns (fixed at construction for CoreML).

    Returns:
        ``(alignment, overflow)``: alignment [B, L, F] float32 and overflow [B] int32, the number
        of frames the durations asked for beyond ``max_frames`` (0 when everything fits).
    """
    if pred_dur.dim() == 1:
        pred_dur = pred_dur.unsqueeze(0)  # [1, L]
    dur = torch.round(pred_dur).clamp(min=0).to(torch.int32)  # [B, L]
    ends = torch.cumsum(dur, dim=1).to(torch.int32)  # [B, L]
    starts = ends - dur  # [B, L]
    grid = torch.arange(max_frames, dtype=torch.int32, device=pred_dur.device).view(1, 1, -1)  # [1, 1, F]
    mask = (grid >= starts.unsqueeze(-1)) & (grid < ends.unsqueeze(-1))  # [B, L, F]
    total = ends[:, -1]  # [B]
    overflow = (total - max_frames).clamp(min=0).to(torch.int32)
    return mask.to(torch.float32), overflow
