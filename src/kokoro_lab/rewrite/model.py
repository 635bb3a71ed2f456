"""``KokoroCompleteCoreML``: the whole of Kokoro-82M as one fixed-shape, traceable module."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from ..config import SAMPLES_PER_FRAME
from .alignment import create_alignment_matrix
from .config import IstftVariant, LstmMode, RewriteConfig, SourceVariant
from .generator import GeneratorDeterministic
from .masking import adain_resblk1d, length_mask
from .precision import fp32_island
from .shapes import check_shape
from .text_encoders import TextEncoderFixed, TextEncoderPredictorFixed, bilstm


class InputError(ValueError):
    """Inputs that ``KokoroCompleteCoreML`` cannot take; the message names the fix."""


def pad_inputs(token_ids, max_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Phoneme token ids (without boundaries) → ``input_ids``, ``attention_mask`` [1, max_tokens] int32.

    The 0 boundaries are added at both ends, as ``KModel`` does; zeros fill the rest.
    """
    ids = [int(i) for i in token_ids]
    if not ids:
        raise InputError("No tokens to synthesize; the text produced no phonemes.")
    if len(ids) + 2 > max_tokens:
        raise InputError(
            f"{len(ids)} tokens + 2 boundaries do not fit MAX_TOKENS = {max_tokens}; "
            "use a larger bucket or split the text."
        )
    input_ids = torch.zeros(1, max_tokens, dtype=torch.int32)
    input_ids[0, 1 : len(ids) + 1] = torch.tensor(ids, dtype=torch.int32)
    attention_mask = (torch.arange(max_tokens) < len(ids) + 2).to(torch.int32).unsqueeze(0)
    return input_ids, attention_mask


class KokoroCompleteCoreML(torch.nn.Module):
    """Kokoro-82M with fixed shapes: MAX_TOKENS tokens in, MAX_FRAMES × 600 samples out.

    Nothing in the graph depends on values: no ``.item()``, no in-place writes, no Python
    branches on data. Padding is handled by masks, exactly (``mode="exact"``) or as v21 did.

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
        mode, source, istft = config.mode, config.source, config.istft
        if not 3 <= max_tokens <= 512 or max_frames < 1:
            raise ValueError(
                f"max_tokens must be in 3..512 and max_frames ≥ 1, got {max_tokens}, {max_frames}."
            )
        self.config = config
        self.max_tokens, self.max_frames, self.mode = max_tokens, max_frames, mode
        self.samples_per_frame = SAMPLES_PER_FRAME
        self.bert = model.bert
        self.bert_encoder = model.bert_encoder
        self.predictor = model.predictor
        self.predictor_text_encoder = TextEncoderPredictorFixed(model.predictor.text_encoder, mode)
        self.text_encoder = TextEncoderFixed(model.text_encoder, mode)
        dec = model.decoder
        self.F0_conv, self.N_conv, self.encode, self.asr_res = (
            dec.F0_conv,
            dec.N_conv,
            dec.encode,
            dec.asr_res,
        )
        self.decode_blocks = dec.decode
        self.generator = GeneratorDeterministic(
            dec.generator, source=source, istft=istft, exact=mode == "exact"
        )
        self.trim = trim
        # The trimmed path has no padding to mask. Kept out of the module tree (a plain tuple), so
        # that state_dict, parameters and the traced graph are those of the padded model.
        self._unmasked_generator = (
            GeneratorDeterministic(dec.generator, source=source, istft=istft, exact=False),
        )

    def prosody(self, en: torch.Tensor, s: torch.Tensor, frames: torch.Tensor, masked: bool | None = None):
        """``predictor.F0Ntrain`` on padded frames. en [B, 640, F] → F0_pred, N_pred [B, 2F].

        ``masked=False`` skips the masks (valid only when all F frames are valid); the default
        masks in exact mode.
        """
        exact = self.mode == "exact" if masked is None else masked
        x = bilstm(self.predictor.shared, en.transpose(1, 2), frames, "exact" if exact else "v21").transpose(
            1, 2
        )  # [B, 512, F]
        mask = length_mask(frames, en.shape[-1]) if exact else None
        curves = []
        for blocks, proj in (
            (self.predictor.F0, self.predictor.F0_proj),
            (self.predictor.N, self.predictor.N_proj),
        ):
            y, m = x, mask
            for block in blocks:
                y, m = adain_resblk1d(block, y, s, m)  # F → 2F at the upsampling block
            y = proj(y)  # [B, 1, 2F]
            curves.append((y * m if exact else y).squeeze(1))
        return curves[0], curves[1]

    def decoder_features(self, asr, F0_pred, N_pred, s, frames, masked: bool | None = None):
        """The decoder before the generator: asr [B, 512, F] → x [B, 512, 2F].

        ``masked`` as in :meth:`prosody`.
        """
        exact = self.mode == "exact" if masked is None else masked
        m = length_mask(frames, asr.shape[-1]) if exact else None

        def masked(t):
            return t * m if exact else t

        F0 = masked(self.F0_conv(F0_pred.unsqueeze(1)))  # [B, 1, F]
        N = masked(self.N_conv(N_pred.unsqueeze(1)))
        x, mx = adain_resblk1d(self.encode, torch.cat([asr, F0, N], dim=1), s, m)  # [B, 1024, F]
        asr_res = masked(self.asr_res(asr))  # [B, 64, F]
        res = True
        for block in self.decode_blocks:
            if res:
                x = torch.cat([x, asr_res, F0, N], dim=1)  # [B, 1090, F]
            x, mx = adain_resblk1d(block, x, s, mx)
            if block.upsample_type != "none":
                res = False
        return x  # [B, 512, 2F]

    def durations(self, input_ids, ref_s, attention_mask, speed):
        """Text side only: (d [1, L, 640], pred_dur [1, L] with 0 at padding)."""
        attention_mask = attention_mask.to(torch.int32)
        text_mask = attention_mask == 0  # [1, L] True at padding
        input_lengths = attention_mask.sum(dim=1)  # [1]
        bert_dur = self.bert(input_ids.to(torch.long), attention_mask=attention_mask)
        L = input_ids.shape[1]
        d_en = check_shape(self.bert_encoder(bert_dur).transpose(-1, -2), (1, 512, L), "d_en")  # [1, 512, L]
        d = self.predictor_text_encoder(d_en, ref_s[:, 128:], input_lengths, text_mask)  # [1, L, 640]
        check_shape(d, (1, L, 640), "d")
        x = bilstm(self.predictor.lstm, d, input_lengths, self.mode)  # [1, L, 512]
        logits = check_shape(self.predictor.duration_proj(x), (1, L, 50), "duration logits")  # [1, L, 50]
        with fp32_island("length"):  # float16 cannot count frames and samples exactly
            duration = torch.sigmoid(logits).sum(dim=-1) / speed.view(-1, 1)  # [1, L]
            return d, torch.round(duration).clamp(min=1) * attention_mask.to(duration.dtype)  # PADs → 0

    def check_inputs(self, input_ids, ref_s, random_phases, attention_mask, speed) -> None:
        """Raise :class:`InputError` naming the problem and the fix; eager calls run this first."""
        L = self.max_tokens
        for name, t in (("input_ids", input_ids), ("attention_mask", attention_mask)):
            if tuple(t.shape) != (1, L):
                raise InputError(
                    f"{name} must have shape [1, {L}] (MAX_TOKENS), got {list(t.shape)}; "
                    "build both with kokoro_lab.rewrite.model.pad_inputs()."
                )
        mask = attention_mask.to(torch.int64)[0]
        n = int(mask.sum())
        if not ((mask == 0) | (mask == 1)).all() or not torch.equal(mask, (torch.arange(L) < n).long()):
            raise InputError(
                "attention_mask must be 1 for the first tokens and 0 after; got another pattern."
            )
        if n < 3:
            raise InputError(
                "attention_mask marks fewer than 3 tokens; a text needs two boundaries and a phoneme."
            )
        ids = input_ids[0]
        if (ids[n:] != 0).any() or ids[0] != 0 or ids[n - 1] != 0 or (ids[1 : n - 1] == 0).any():
            raise InputError(
                f"the attention_mask marks {n} tokens, but input_ids does not hold a 0 boundary, "
                f"{n - 2} non-zero phoneme ids and a 0 boundary there, with zeros after: the mask "
                "disagrees with the ids. Build both with pad_inputs()."
            )
        vocab = self.bert.embeddings.word_embeddings.num_embeddings
        if (input_ids < 0).any() or (input_ids >= vocab).any():
            raise InputError(f"input_ids must lie in 0..{vocab - 1}.")
        if tuple(ref_s.shape) != (1, 256):
            raise InputError(
                f"ref_s must have shape [1, 256] (decoder style, then predictor style), got {list(ref_s.shape)}; "
                "take a row of a voice pack with kokoro_lab.original.voices.style_for()."
            )
        if not torch.isfinite(ref_s).all():
            raise InputError("ref_s contains NaN or infinity; check the voice pack.")
        if tuple(random_phases.shape) != (1, 9):
            raise InputError(f"random_phases must have shape [1, 9], got {list(random_phases.shape)}.")
        speed = torch.as_tensor(speed)
        if speed.numel() != 1 or not torch.isfinite(speed).all() or float(speed) <= 0:
            raise InputError(f"speed must be one finite number > 0 (1.0 is normal), got {speed.tolist()}.")

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
        attention_mask = attention_mask.to(torch.int32)
        text_mask = attention_mask == 0  # [1, L] True at padding
        input_lengths = attention_mask.sum(dim=1)  # [1]
        s = ref_s[:, 128:]
        d, pred_dur = self.durations(input_ids, ref_s, attention_mask, speed)
        pred_aln_trg, overflow = create_alignment_matrix(pred_dur, self.max_frames)  # [1, L, F]
        frames = (pred_dur.sum(dim=1).to(torch.int32) - overflow).clamp(min=1)  # [1] valid frames
        L, F = self.max_tokens, self.max_frames
        check_shape(pred_aln_trg, (1, L, F), "pred_aln_trg")
        en = d.transpose(-1, -2) @ pred_aln_trg  # [1, 640, F]
        F0_pred, N_pred = self.prosody(en, s, frames)  # [1, 2F]
        check_shape(F0_pred, (1, 2 * F), "F0_pred")
        check_shape(N_pred, (1, 2 * F), "N_pred")
        t_en = self.text_encoder(input_ids.to(torch.long), input_lengths, text_mask)  # [1, 512, L]
        asr = check_shape(t_en @ pred_aln_trg, (1, 512, F), "asr")  # [1, 512, F]
        x = self.decoder_features(asr, F0_pred, N_pred, ref_s[:, :128], frames)  # [1, 512, 2F]
        check_shape(x, (1, 512, 2 * F), "decoder features")
        audio = self.generator(x, ref_s[:, :128], F0_pred, random_phases, frames * 2)  # [1, 1, 600 F]
        check_shape(audio, (1, 1, F * self.samples_per_frame), "audio")
        audio_length = frames * self.samples_per_frame  # int32: fp16 cannot count to 384,000
        keep = torch.arange(audio.shape[-1], dtype=torch.int32).view(1, 1, -1) < audio_length.view(-1, 1, 1)
        return audio * keep.to(audio.dtype), audio_length.to(torch.int32), pred_dur, overflow

    def forward_trimmed(self, input_ids, ref_s, random_phases, attention_mask, speed):
        """Eager only: compute on the valid tokens and frames, then pad the outputs back.

        Same inputs and outputs as :meth:`forward`. The durations come from the valid tokens;
        the decoder and generator run on ``min(Σ durations, MAX_FRAMES)`` frames without masks,
        which is the original model's computation. Branches on values, so it cannot be traced.
        """
        n = int(attention_mask.sum())  # valid tokens, boundaries included
        ids = input_ids[:, :n]  # [1, n]
        mask = attention_mask[:, :n].to(torch.int32)  # [1, n] all ones
        d, pred_dur = self.durations(ids, ref_s, mask, speed)  # [1, n, 640], [1, n]
        total = int(pred_dur.sum())
        n_frames = max(1, min(total, self.max_frames))  # valid frames, as the padded path counts them
        aln, _ = create_alignment_matrix(pred_dur, n_frames)  # [1, n, n_frames]
        overflow = torch.tensor([max(total - self.max_frames, 0)], dtype=torch.int32)
        frames = torch.tensor([n_frames], dtype=torch.int32)
        s_dec = ref_s[:, :128]
        F0_pred, N_pred = self.prosody(d.transpose(-1, -2) @ aln, ref_s[:, 128:], frames, masked=False)
        t_en = self.text_encoder(ids.to(torch.long), mask.sum(dim=1), mask == 0)  # [1, 512, n]
        x = self.decoder_features(
            t_en @ aln, F0_pred, N_pred, s_dec, frames, masked=False
        )  # [1, 512, 2n_frames]
        generator = self._unmasked_generator[0]
        audio = generator(x, s_dec, F0_pred, random_phases, frames * 2)  # [1, 1, 600 n_frames]
        audio = F.pad(audio, (0, self.max_frames * self.samples_per_frame - audio.shape[-1]))
        pred_dur = F.pad(pred_dur, (0, self.max_tokens - n))  # [1, MAX_TOKENS], 0 at padding
        audio_length = (frames * self.samples_per_frame).to(torch.int32)
        return audio, audio_length, pred_dur, overflow
