"""Kokoro-82M in training mode: a batched, masked forward pass with teacher-forced durations.

``kokoro.KModel.forward_with_tokens`` runs under ``torch.no_grad`` on one utterance and aligns
text to frames with its own predicted durations. :class:`KokoroForTraining` calls the same
modules, with kokoro's variable names, but

* on a padded batch: ALBERT gets an attention mask, the LSTMs run on packed sequences, and the
  frame-rate prosody stack (``F0Ntrain``) runs per utterance on its real frames only, so padding
  never reaches a real position;
* with the alignment built from the ground-truth durations (teacher forcing) by the broadcasting
  :func:`kokoro_lab.rewrite.alignment.create_alignment_matrix`;
* decoding a random segment of ``S`` frames per utterance (the decoder is by far the costliest
  part), as StyleTTS 2 does, with gradients flowing everywhere that is not frozen.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import nn

from ..config import SAMPLES_PER_FRAME
from ..rewrite.alignment import create_alignment_matrix
from .data import FinetuneBatch


class UnknownModuleError(ValueError):
    """A module name given to freeze does not exist in the model."""


class FinetuneOutput(NamedTuple):
    """What one forward pass produces (B utterances, L tokens, F frames, S segment frames)."""

    duration: torch.Tensor  # [B, L] predicted frames per token (real-valued)
    F0_pred: torch.Tensor  # [B, 2F] Hz at 80 per second, 0 past each utterance's end
    N_pred: torch.Tensor  # [B, 2F]
    audio: torch.Tensor | None  # [B, 600 S] decoded segment
    target_audio: torch.Tensor | None  # [B, 600 S] the same segment of gt_audio
    starts: torch.Tensor | None  # [B] first frame of each segment


def trainable_copy(model: nn.Module) -> nn.Module:
    """An independent copy of a ``kokoro.KModel`` to fine-tune (the cached original stays untouched).

    ``weight_norm`` keeps each layer's computed ``weight`` as a plain attribute that
    ``copy.deepcopy`` refuses to copy; it is recomputed from ``weight_g`` and ``weight_v`` before
    every forward pass, so the copy starts without it.
    """
    from torch.nn.utils.weight_norm import WeightNorm

    memo = {}
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and isinstance(getattr(module, hook.name, None), torch.Tensor):
                memo[id(getattr(module, hook.name))] = None
    clone = copy.deepcopy(model, memo)
    for p in clone.parameters():
        p.requires_grad_(True)
    return clone


def freeze(model: nn.Module, names: Iterable[str]) -> list[str]:
    """Stop gradients for the named submodules (dotted paths such as ``"bert"`` or ``"decoder.generator"``).

    Returns:
        The names, validated; :func:`set_train_mode` keeps these modules in eval mode.

    Raises:
        UnknownModuleError: a name is not a submodule; the message lists the top-level ones.
    """
    names = list(names)
    for name in names:
        try:
            module = model.get_submodule(name)
        except AttributeError:
            top = ", ".join(n for n, _ in model.named_children())
            raise UnknownModuleError(
                f"Cannot freeze {name!r}: no such module. Use a dotted path into the model, e.g. one of "
                f"{top} or 'decoder.generator'."
            ) from None
        for p in module.parameters():
            p.requires_grad_(False)
    return names


def set_train_mode(model: nn.Module, frozen: Iterable[str]) -> None:
    """``model.train()``, with the frozen modules in eval mode (no dropout where nothing learns)."""
    model.train()
    for name in frozen:
        model.get_submodule(name).eval()


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """``{name: parameter}`` for every parameter that requires a gradient."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def packed_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run a batch-first LSTM over the real steps only: x [B, T, C] → [B, T, H], zeros past each length."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out


def f0_at_frame_rate(F0_pred: torch.Tensor) -> torch.Tensor:
    """[B, 2F] F0 at 80 per second → [B, F] at the duration frame rate (mean of each pair)."""
    B, two_f = F0_pred.shape
    return F0_pred.reshape(B, two_f // 2, 2).mean(-1)


def segment_starts(
    frame_lengths: torch.Tensor, segment_frames: int, generator: torch.Generator
) -> torch.Tensor:
    """A uniformly drawn first frame per utterance so ``segment_frames`` fit inside it: [B] long."""
    room = (frame_lengths - segment_frames).clamp(min=0) + 1  # [B] possible starts
    return (torch.rand(frame_lengths.shape, generator=generator) * room).long()


def crop(x: torch.Tensor, starts: torch.Tensor, length: int, scale: int = 1) -> torch.Tensor:
    """Per-row windows ``x[b, ..., scale·starts[b] : scale·(starts[b] + length)]`` → [B, ..., scale·length]."""
    idx = starts.to(x.device).view(-1, 1) * scale + torch.arange(length * scale, device=x.device)  # [B, W]
    idx = idx.view(idx.shape[0], *([1] * (x.dim() - 2)), -1).expand(*x.shape[:-1], -1)
    return torch.gather(x, -1, idx)


class KokoroForTraining(nn.Module):
    """Wraps a ``kokoro.KModel`` so one call gives durations, F0, energy and a decoded segment."""

    def __init__(self, kmodel: nn.Module):
        super().__init__()
        self.kmodel = kmodel

    def forward(
        self,
        batch: FinetuneBatch,
        starts: torch.Tensor | None = None,
        segment_frames: int = 0,
        decoder_f0: str = "ground_truth",
    ) -> FinetuneOutput:
        """Teacher-forced forward pass.

        Args:
            batch: a padded :class:`FinetuneBatch` (``batch.ref_s`` may require a gradient).
            starts: [B] first frame of the segment to decode per utterance.
            segment_frames: S frames to decode (0 = skip the decoder). Must fit every utterance.
            decoder_f0: ``"ground_truth"`` feeds the decoder the measured ``gt_f0`` (StyleTTS 2's
                choice: the decoder learns timbre under the right pitch), ``"predicted"`` feeds it
                ``F0_pred`` (what inference does).

        Returns:
            A :class:`FinetuneOutput`.
        """
        m = self.kmodel
        token_mask = batch.token_mask  # [B, L] True at real tokens
        text_mask = ~token_mask  # kokoro's convention: True at padding
        bert_dur = m.bert(batch.input_ids, attention_mask=token_mask.int())  # [B, L, 768]
        d_en = m.bert_encoder(bert_dur).transpose(-1, -2)  # [B, 512, L]
        s = batch.ref_s[:, 128:]  # [B, 128] predictor style
        d = m.predictor.text_encoder(d_en, s, batch.input_lengths.cpu(), text_mask)  # [B, L, 640]
        x = packed_lstm(m.predictor.lstm, d, batch.input_lengths)  # [B, L, 512]
        duration = torch.sigmoid(m.predictor.duration_proj(x)).sum(dim=-1)  # [B, L]
        F = batch.gt_f0.shape[1]
        pred_aln_trg, _ = create_alignment_matrix((batch.gt_duration * token_mask).float(), F)  # [B, L, F]
        en = d.transpose(-1, -2) @ pred_aln_trg  # [B, 640, F]
        F0_pred, N_pred = self._prosody(en, s, batch.frame_lengths)  # [B, 2F] each
        if segment_frames <= 0:
            return FinetuneOutput(duration, F0_pred, N_pred, None, None, None)
        if starts is None or int((starts + segment_frames > batch.frame_lengths).sum()):
            raise ValueError(
                f"Segments of {segment_frames} frames at starts {starts} do not fit utterances of "
                f"{batch.frame_lengths.tolist()} frames; draw them with segment_starts()."
            )
        t_en = m.text_encoder(batch.input_ids, batch.input_lengths.cpu(), text_mask)  # [B, 512, L]
        asr = t_en @ pred_aln_trg  # [B, 512, F]
        if decoder_f0 == "ground_truth":
            f0_in = batch.gt_f0.repeat_interleave(2, dim=1)  # [B, 2F]
        elif decoder_f0 == "predicted":
            f0_in = F0_pred
        else:
            raise ValueError(f"decoder_f0 must be 'ground_truth' or 'predicted', got {decoder_f0!r}.")
        S = segment_frames
        audio = m.decoder(
            crop(asr, starts, S), crop(f0_in, starts, S, 2), crop(N_pred, starts, S, 2), batch.ref_s[:, :128]
        ).squeeze(1)  # [B, 600 S]
        target = crop(batch.gt_audio, starts, S, SAMPLES_PER_FRAME)  # [B, 600 S]
        return FinetuneOutput(duration, F0_pred, N_pred, audio, target, starts)

    def _prosody(
        self, en: torch.Tensor, s: torch.Tensor, frame_lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``predictor.F0Ntrain`` per utterance on its own frames: en [B, 640, F] → two [B, 2F].

        Its InstanceNorms average over time, so padded frames would shift real ones; one
        utterance at a time gives exactly what inference computes.
        """
        B, _, F = en.shape
        F0s, Ns = [], []
        for b in range(B):
            n = int(frame_lengths[b])
            F0_b, N_b = self.kmodel.predictor.F0Ntrain(en[b : b + 1, :, :n], s[b : b + 1])  # [1, 2n]
            F0s.append(nn.functional.pad(F0_b, (0, 2 * (F - n))))
            Ns.append(nn.functional.pad(N_b, (0, 2 * (F - n))))
        return torch.cat(F0s), torch.cat(Ns)  # [B, 2F]
