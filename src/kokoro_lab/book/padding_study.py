"""How padding changes the text side of the model, in ``"exact"`` and ``"v21"`` BiLSTM modes."""

from __future__ import annotations

import torch

from ..original.stages import run_stages


def pad_ids(ids: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad [1, L] ids so that ``fraction`` of the result is padding. → input_ids, attention_mask int32."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}.")
    L = ids.shape[1]
    T = L if fraction == 0 else int(round(L / (1 - fraction)))
    input_ids = torch.zeros(1, T, dtype=torch.int32)
    input_ids[0, :L] = ids[0]
    return input_ids, (torch.arange(T) < L).to(torch.int32).unsqueeze(0)


@torch.inference_mode()
def text_side_errors(model, ids: torch.Tensor, ref_s: torch.Tensor, fractions, modes=("exact", "v21")):
    """Max |Δ| of ``t_en`` and ``d``, and duration changes, against the unpadded official modules.

    Args:
        model: ``kokoro.KModel`` (either STFT); only its text side runs.
        ids: [1, L] token ids with boundaries. ref_s: [1, 256].
        fractions: padding fractions to try, e.g. ``[0, 0.25, 0.5, 0.75, 0.9]``.

    Returns:
        A list of dicts with keys mode, fraction, tokens, t_en, d, max_frames_off, total_frames_delta.
    """
    from ..rewrite.model import KokoroCompleteCoreML

    ref = run_stages(model, ids, ref_s, decode=False)
    L = ids.shape[1]
    rows = []
    for mode in modes:
        for fraction in fractions:
            input_ids, mask = pad_ids(ids, fraction)
            km = KokoroCompleteCoreML(model, input_ids.shape[1], 1, mode=mode).eval()  # text side only
            lengths = mask.sum(1)
            t_en = km.text_encoder(input_ids.long(), lengths, mask == 0)
            d, pred_dur = km.durations(input_ids, ref_s, mask, torch.ones(1))
            dur = pred_dur[0, :L].long()
            rows.append(
                {
                    "mode": mode,
                    "fraction": float(fraction),
                    "tokens": int(input_ids.shape[1]),
                    "t_en": (t_en[..., :L] - ref.t_en).abs().max().item(),
                    "d": (d[:, :L] - ref.d).abs().max().item(),
                    "max_frames_off": (dur - ref.pred_dur).abs().max().item(),
                    "total_frames_delta": int(dur.sum() - ref.pred_dur.sum()),
                }
            )
    return rows
