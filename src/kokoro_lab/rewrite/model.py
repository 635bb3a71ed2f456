"""``KokoroCompleteCoreML``: the whole of Kokoro-82M as one fixed-shape, traceable module.

It is the text stage and the acoustic stage of :mod:`.stages` run back to back, at one token
count and one frame count; the two-stage pipeline runs the same code with separate shapes.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from .config import IstftVariant, LstmMode, RewriteConfig, SourceVariant
from .inputs import InputError, pad_inputs
from .stages import AcousticStage, TextStage

__all__ = ["InputError", "KokoroCompleteCoreML", "pad_inputs"]


class KokoroCompleteCoreML(torch.nn.Module):
    """Kokoro-82M with fixed shapes: MAX_TOKENS tokens in, MAX_FRAMES × 600 samples out.

    Nothing in the graph depends on values: no ``.item()``, no in-place writes, no Python
    branches on data. Padding is handled by masks, exactly (``mode="exact"``) or as v21 did.

    The work is split between ``self.text`` (:class:`TextStage`: tokens → ``pred_dur``, ``d``,
    ``t_en``) and ``self.acoustic`` (:class:`AcousticStage`: those → audio); the seed's names
    (``bert``, ``text_encoder``, ``generator``, ``durations``, ``prosody``, …) reach into them.

    ``trim=True`` adds an eager-only fast path: outside ``torch.jit.trace`` the inputs are cut to
    the valid tokens, the frames to the predicted duration, the model runs unmasked on exactly
    those (the computation of the original ``KModel``), and the outputs are padded back to the
    fixed shapes. The traced graph is the same with or without it. The default, ``trim=False``,
    runs the padded computation in eager mode too, as the converted model does.
    """

    def __init__(
        self,
        model,
        max_tokens: int,
        max_frames: int,
        mode: LstmMode | None = None,
        source: SourceVariant | None = None,
        istft: IstftVariant | None = None,
        trim: bool = False,
        config: RewriteConfig | None = None,
    ):
        """Wrap a loaded ``KModel(disable_complex=True)`` for fixed shapes.

        Args:
            model: the official ``kokoro.KModel``, loaded with ``disable_complex=True``.
            max_tokens: MAX_TOKENS, boundaries included (3..512).
            max_frames: MAX_FRAMES, duration frames of 600 samples.
            mode, source, istft: the rewrite's variants; shorthand for the fields of ``config``
                (a keyword given here overrides the same field of ``config``).
            trim: the eager-only fast path (see the class docstring).
            config: a :class:`RewriteConfig`; the default is the exact model.
        """
        super().__init__()
        overrides = {k: v for k, v in (("mode", mode), ("source", source), ("istft", istft)) if v is not None}
        config = replace(config or RewriteConfig(), **overrides)  # validates every field
        if not 3 <= max_tokens <= 512 or max_frames < 1:
            raise ValueError(
                f"max_tokens must be in 3..512 and max_frames ≥ 1, got {max_tokens}, {max_frames}."
            )
        self.config = config
        self.max_tokens, self.max_frames, self.mode = max_tokens, max_frames, config.mode
        self.trim = trim
        self.text = TextStage(model, max_tokens, config)
        self.acoustic = AcousticStage(model, max_tokens, max_frames, config)

    # The seed's names, kept: each reaches the stage that now holds it.
    bert = property(lambda self: self.text.bert)
    bert_encoder = property(lambda self: self.text.bert_encoder)
    predictor_text_encoder = property(lambda self: self.text.predictor_text_encoder)
    text_encoder = property(lambda self: self.text.text_encoder)
    generator = property(lambda self: self.acoustic.generator)
    samples_per_frame = property(lambda self: self.acoustic.samples_per_frame)

    def durations(self, input_ids, ref_s, attention_mask, speed):
        """Text side only: (d [1, L, 640], pred_dur [1, L] with 0 at padding); see :class:`TextStage`."""
        return self.text.durations(input_ids, ref_s, attention_mask, speed)

    def prosody(self, en, s, frames, masked: bool | None = None):
        """``predictor.F0Ntrain`` on padded frames; see :meth:`AcousticStage.prosody`."""
        return self.acoustic.prosody(en, s, frames, masked)

    def decoder_features(self, asr, F0_pred, N_pred, s, frames, masked: bool | None = None):
        """The decoder before the generator; see :meth:`AcousticStage.decoder_features`."""
        return self.acoustic.decoder_features(asr, F0_pred, N_pred, s, frames, masked)

    def check_inputs(self, input_ids, ref_s, random_phases, attention_mask, speed) -> None:
        """Raise :class:`InputError` naming the problem and the fix; eager calls run this first."""
        self.text.check_inputs(input_ids, attention_mask, ref_s, speed)
        if tuple(random_phases.shape) != (1, 9):
            raise InputError(f"random_phases must have shape [1, 9], got {list(random_phases.shape)}.")

    def forward(self, input_ids, ref_s, random_phases, attention_mask, speed):
        """Synthesize one padded utterance.

        Args:
            input_ids: [1, MAX_TOKENS] int32, boundaries included, zeros after.
            ref_s: [1, 256] style; ``[:, :128]`` decoder, ``[:, 128:]`` predictor.
            random_phases: [1, 9] initial harmonic phases (used by the v21 source).
            attention_mask: [1, MAX_TOKENS] int32, 1 for real tokens.
            speed: [1] float, > 0.

        Returns:
            audio [1, 1, MAX_FRAMES·600], audio_length_samples [1] int32,
            pred_dur [1, MAX_TOKENS] (0 at padding), frame_overflow [1] int32.
        """
        if not torch.jit.is_tracing():  # checks branch on values, so they stay out of the graph
            self.check_inputs(input_ids, ref_s, random_phases, attention_mask, speed)
            if self.trim:
                return self.forward_trimmed(input_ids, ref_s, random_phases, attention_mask, speed)
        pred_dur, d, t_en = self.text.encode_text(input_ids, attention_mask, ref_s, speed)  # [1, L], …
        audio, audio_length, overflow = self.acoustic.synthesize(d, t_en, pred_dur, ref_s, random_phases)
        return audio, audio_length, pred_dur, overflow

    def forward_trimmed(self, input_ids, ref_s, random_phases, attention_mask, speed):
        """Eager only: compute on the valid tokens and frames, then pad the outputs back.

        Same inputs and outputs as :meth:`forward`. The durations come from the valid tokens;
        the decoder and generator run on ``min(Σ durations, MAX_FRAMES)`` frames without masks,
        which is the original model's computation. Branches on values, so it cannot be traced.
        """
        pred_dur, d, t_en = self.text.forward_trimmed(input_ids, attention_mask, ref_s, speed)
        audio, audio_length, overflow = self.acoustic.forward_trimmed(d, t_en, pred_dur, ref_s, random_phases)
        return audio, audio_length, pred_dur, overflow
