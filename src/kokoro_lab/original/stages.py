"""Kokoro-82M's forward pass, stage by stage, on the official modules.

:func:`run_stages` computes exactly what ``kokoro.KModel.forward_with_tokens`` computes, but keeps
every intermediate tensor (so the book can show them) and can take durations from outside
(teacher forcing, or forcing two implementations onto the same alignment).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Stages:
    """Intermediate tensors of one utterance (batch of 1). Shapes use L tokens and F frames."""

    input_ids: torch.Tensor  # [1, L]
    bert_dur: torch.Tensor  # [1, L, 768]   ALBERT output
    d_en: torch.Tensor  # [1, 512, L]   projected to the model width
    d: torch.Tensor  # [1, L, 640]   predictor text encoding (+ style)
    duration: torch.Tensor  # [1, L]        real-valued durations in frames (after / speed)
    pred_dur: torch.Tensor  # [L]           rounded, ≥ 1 (or forced)
    pred_aln_trg: torch.Tensor  # [1, L, F]  one-hot alignment
    en: torch.Tensor  # [1, 640, F]   predictor features per frame
    F0_pred: torch.Tensor  # [1, 2F]     pitch in Hz, at 80 frames/s
    N_pred: torch.Tensor  # [1, 2F]      energy
    t_en: torch.Tensor  # [1, 512, L]   text encoder output
    asr: torch.Tensor  # [1, 512, F]    text features per frame
    audio: torch.Tensor | None  # [T] = [600 F]


def alignment_from_durations(pred_dur: torch.Tensor) -> torch.Tensor:
    """One-hot alignment [1, L, F] with F = sum(pred_dur), as ``KModel`` builds it."""
    L = pred_dur.shape[0]
    indices = torch.repeat_interleave(torch.arange(L), pred_dur)
    aln = torch.zeros((L, indices.shape[0]))
    aln[indices, torch.arange(indices.shape[0])] = 1
    return aln.unsqueeze(0)


@torch.inference_mode()
def run_stages(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    ref_s: torch.Tensor,
    speed: float = 1.0,
    durations: torch.Tensor | None = None,
    decode: bool = True,
) -> Stages:
    """Run ``kokoro.KModel`` stage by stage.

    Args:
        model: a ``kokoro.KModel``.
        input_ids: [1, L] token ids with the 0 boundaries.
        ref_s: [1, 256] style; ``ref_s[:, :128]`` → decoder, ``ref_s[:, 128:]`` → predictor.
        durations: optional [L] integer frames to use instead of the predicted ones.
        decode: run the decoder and generator (the slow part).
    """
    L = input_ids.shape[-1]
    input_lengths = torch.full((1,), L, dtype=torch.long)
    text_mask = torch.zeros((1, L), dtype=torch.bool)  # no padding for a single utterance
    bert_dur = model.bert(input_ids, attention_mask=(~text_mask).int())
    d_en = model.bert_encoder(bert_dur).transpose(-1, -2)  # [1, 512, L]
    s = ref_s[:, 128:]
    d = model.predictor.text_encoder(d_en, s, input_lengths, text_mask)  # [1, L, 640]
    x, _ = model.predictor.lstm(d)
    duration = torch.sigmoid(model.predictor.duration_proj(x)).sum(axis=-1) / speed  # [1, L]
    pred_dur = torch.round(duration).clamp(min=1).long().squeeze(0)
    if durations is not None:
        durations = torch.as_tensor(durations, dtype=torch.long).reshape(-1)
        if durations.shape[0] != L or (durations < 0).any():
            raise ValueError(
                f"durations must be {L} non-negative integers, got shape {tuple(durations.shape)}."
            )
        pred_dur = durations
    pred_aln_trg = alignment_from_durations(pred_dur)  # [1, L, F]
    en = d.transpose(-1, -2) @ pred_aln_trg  # [1, 640, F]
    F0_pred, N_pred = model.predictor.F0Ntrain(en, s)  # [1, 2F] each
    t_en = model.text_encoder(input_ids, input_lengths, text_mask)  # [1, 512, L]
    asr = t_en @ pred_aln_trg  # [1, 512, F]
    audio = model.decoder(asr, F0_pred, N_pred, ref_s[:, :128]).squeeze() if decode else None
    return Stages(
        input_ids, bert_dur, d_en, d, duration, pred_dur, pred_aln_trg, en, F0_pred, N_pred, t_en, asr, audio
    )


@torch.inference_mode()
def albert_attention(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """ALBERT's attention probabilities for one utterance: [layers, heads, L, L].

    kokoro's ``CustomAlbert`` returns only the last hidden state, so this calls the underlying
    ``transformers.AlbertModel.forward`` with ``output_attentions=True``, using the eager attention
    implementation for the call (the fused one does not return the probabilities).
    """
    from transformers import AlbertModel

    config = model.bert.config
    previous = config._attn_implementation
    config._attn_implementation = "eager"
    try:
        out = AlbertModel.forward(
            model.bert, input_ids, attention_mask=torch.ones_like(input_ids), output_attentions=True
        )
    finally:
        config._attn_implementation = previous
    return torch.cat(out.attentions, dim=0)  # [layers, heads, L, L]


@torch.inference_mode()
def decoder_features(model: torch.nn.Module, stages: Stages, ref_s: torch.Tensor) -> torch.Tensor:
    """The official decoder up to the generator's input: x [1, 512, 2F] (``Decoder.forward`` minus
    its last line), from the aligned text features, F0 and energy of ``stages``.
    """
    dec, s = model.decoder, ref_s[:, :128]
    F0 = dec.F0_conv(stages.F0_pred.unsqueeze(1))  # [1, 1, F]
    N = dec.N_conv(stages.N_pred.unsqueeze(1))
    x = dec.encode(torch.cat([stages.asr, F0, N], dim=1), s)  # [1, 1024, F]
    asr_res = dec.asr_res(stages.asr)  # [1, 64, F]
    res = True
    for block in dec.decode:
        if res:
            x = torch.cat([x, asr_res, F0, N], dim=1)  # [1, 1090, F]
        x = block(x, s)
        res = res and block.upsample_type == "none"
    return x  # [1, 512, 2F]
