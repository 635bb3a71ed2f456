"""Kokoro-82M cut in two at the token level: a text stage and an acoustic stage, each fixed-shape.

``KokoroCompleteCoreML`` is these two stages run back to back. Cut apart, each can be converted
with its own fixed shapes: the text stage per token bucket (``L`` tokens), the acoustic stage per
frame bucket (``F`` frames), so that a short text no longer pays for a long bucket's frames.

What crosses the boundary is per token, not per frame (float32, ``L`` tokens):

* ``pred_dur`` [1, L]: frames per token, 0 at padding;
* ``d`` [1, L, 640]: the duration encoder's output (prosody input before alignment);
* ``t_en`` [1, 512, L]: the text encoder's output (decoder input before alignment).

That is ``(1 + 640 + 512) · 4 = 4,612`` bytes per token: 0.74 MB for 160 tokens, less than the
aligned ``en`` and ``asr`` ([1, 1152, F], 2.8 MB at 600 frames) that a cut after the alignment
would pass. Padding tokens carry zeros and zero durations, so an acoustic stage built for more
tokens than the text stage gives the same bits (:func:`pad_tokens`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import SAMPLES_PER_FRAME
from .alignment import create_alignment_matrix
from .config import RewriteConfig
from .generator import GeneratorDeterministic
from .inputs import InputError
from .masking import adain_resblk1d, length_mask
from .precision import fp32_island
from .shapes import check_shape
from .text_encoders import TextEncoderFixed, TextEncoderPredictorFixed, bilstm

BOUNDARY_BYTES_PER_TOKEN = (1 + 640 + 512) * 4  # pred_dur, d, t_en in float32


def check_max_tokens(max_tokens: int) -> None:
    """``ValueError`` unless ``max_tokens`` is in 3..512 (two boundaries and ALBERT's 512 positions)."""
    if not 3 <= max_tokens <= 512:
        raise ValueError(f"max_tokens must be in 3..512, got {max_tokens}.")


class TextStage(torch.nn.Module):
    """Tokens → ``pred_dur``, ``d``, ``t_en``: ALBERT, the duration encoder and LSTM, the text encoder.

    Fixed at ``max_tokens`` tokens (boundaries included); exact under padding in ``mode="exact"``.
    """

    def __init__(self, model, max_tokens: int, config: RewriteConfig | None = None):
        """Wrap a loaded ``KModel(disable_complex=True)``'s text side for ``max_tokens`` tokens."""
        super().__init__()
        check_max_tokens(max_tokens)
        self.config = config or RewriteConfig()
        self.max_tokens, self.mode = max_tokens, self.config.mode
        self.bert = model.bert
        self.bert_encoder = model.bert_encoder
        self.predictor_text_encoder = TextEncoderPredictorFixed(model.predictor.text_encoder, self.mode)
        self.lstm = model.predictor.lstm  # the duration LSTM
        self.duration_proj = model.predictor.duration_proj
        self.text_encoder = TextEncoderFixed(model.text_encoder, self.mode)

    def durations(self, input_ids, ref_s, attention_mask, speed):
        """The duration side: (d [1, L, 640], pred_dur [1, L] with 0 at padding)."""
        attention_mask = attention_mask.to(torch.int32)
        text_mask = attention_mask == 0  # [1, L] True at padding
        input_lengths = attention_mask.sum(dim=1)  # [1]
        bert_dur = self.bert(input_ids.to(torch.long), attention_mask=attention_mask)
        L = input_ids.shape[1]
        d_en = check_shape(self.bert_encoder(bert_dur).transpose(-1, -2), (1, 512, L), "d_en")  # [1, 512, L]
        d = self.predictor_text_encoder(d_en, ref_s[:, 128:], input_lengths, text_mask)  # [1, L, 640]
        check_shape(d, (1, L, 640), "d")
        x = bilstm(self.lstm, d, input_lengths, self.mode)  # [1, L, 512]
        logits = check_shape(self.duration_proj(x), (1, L, 50), "duration logits")  # [1, L, 50]
        with fp32_island("length"):  # float16 cannot count frames and samples exactly
            duration = torch.sigmoid(logits).sum(dim=-1) / speed.view(-1, 1)  # [1, L]
            return d, torch.round(duration).clamp(min=1) * attention_mask.to(duration.dtype)  # PADs → 0

    def encode_text(self, input_ids, attention_mask, ref_s, speed):
        """The stage's computation, without the eager checks. → pred_dur, d, t_en."""
        attention_mask = attention_mask.to(torch.int32)
        d, pred_dur = self.durations(input_ids, ref_s, attention_mask, speed)  # [1, L, 640], [1, L]
        input_lengths = attention_mask.sum(dim=1)  # [1]
        t_en = self.text_encoder(input_ids.to(torch.long), input_lengths, attention_mask == 0)  # [1, 512, L]
        return pred_dur, d, t_en

    def forward(self, input_ids, attention_mask, ref_s, speed):
        """Encode one padded text.

        Args:
            input_ids: [1, L] int32: 0, the phoneme ids, 0, then zeros (:func:`pad_inputs`).
            attention_mask: [1, L] int32, 1 for the boundaries and tokens.
            ref_s: [1, 256] style; ``[:, 128:]`` (the predictor's half) is used here.
            speed: [1] float, > 0.

        Returns:
            pred_dur [1, L] (0 at padding), d [1, L, 640], t_en [1, 512, L] (0 at padding).
        """
        if not torch.jit.is_tracing():  # checks branch on values, so they stay out of the graph
            self.check_inputs(input_ids, attention_mask, ref_s, speed)
        return self.encode_text(input_ids, attention_mask, ref_s, speed)

    def forward_trimmed(self, input_ids, attention_mask, ref_s, speed):
        """Eager only: encode the valid tokens alone, then pad the outputs back to L with zeros."""
        n = int(attention_mask.sum())  # valid tokens, boundaries included
        pred_dur, d, t_en = self.encode_text(input_ids[:, :n], attention_mask[:, :n], ref_s, speed)
        return pad_tokens(pred_dur, d, t_en, self.max_tokens)

    def check_inputs(self, input_ids, attention_mask, ref_s, speed) -> None:
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
        check_style(ref_s)
        speed = torch.as_tensor(speed)
        if speed.numel() != 1 or not torch.isfinite(speed).all() or float(speed) <= 0:
            raise InputError(f"speed must be one finite number > 0 (1.0 is normal), got {speed.tolist()}.")


def check_style(ref_s: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``ref_s`` is a finite [1, 256] style."""
    if tuple(ref_s.shape) != (1, 256):
        raise InputError(
            f"ref_s must have shape [1, 256] (decoder style, then predictor style), got {list(ref_s.shape)}; "
            "take a row of a voice pack with kokoro_lab.original.voices.style_for()."
        )
    if not torch.isfinite(ref_s).all():
        raise InputError("ref_s contains NaN or infinity; check the voice pack.")


def pad_tokens(pred_dur, d, t_en, max_tokens: int):
    """The text stage's outputs padded with zeros to ``max_tokens`` tokens.

    Zero durations add no frames and zero rows meet no alignment column, so an acoustic stage
    built for ``max_tokens`` gives the same bits as one built for the text stage's L.

    Returns:
        pred_dur [1, max_tokens], d [1, max_tokens, 640], t_en [1, 512, max_tokens].
    """
    extra = max_tokens - pred_dur.shape[-1]
    if extra < 0:
        raise InputError(
            f"{pred_dur.shape[-1]} tokens do not fit an acoustic stage of {max_tokens} tokens; "
            "use an acoustic stage built for at least the text stage's MAX_TOKENS."
        )
    if extra == 0:
        return pred_dur, d, t_en
    return F.pad(pred_dur, (0, extra)), F.pad(d, (0, 0, 0, extra)), F.pad(t_en, (0, extra))


class AcousticStage(torch.nn.Module):
    """``pred_dur``, ``d``, ``t_en`` → audio on ``max_frames`` frames: alignment, prosody, decoder, generator.

    Fixed at ``max_tokens`` tokens in and ``max_frames`` frames (× 600 samples) out; exact under
    padding of both axes in ``mode="exact"``.
    """

    def __init__(self, model, max_tokens: int, max_frames: int, config: RewriteConfig | None = None):
        """Wrap a loaded ``KModel(disable_complex=True)``'s acoustic side for fixed shapes."""
        super().__init__()
        check_max_tokens(max_tokens)
        if max_frames < 1:
            raise ValueError(f"max_frames must be ≥ 1, got {max_frames}.")
        self.config = config or RewriteConfig()
        self.max_tokens, self.max_frames, self.mode = max_tokens, max_frames, self.config.mode
        self.samples_per_frame = SAMPLES_PER_FRAME
        p = model.predictor
        self.shared, self.F0, self.N, self.F0_proj, self.N_proj = p.shared, p.F0, p.N, p.F0_proj, p.N_proj
        dec = model.decoder
        self.F0_conv, self.N_conv, self.asr_res = dec.F0_conv, dec.N_conv, dec.asr_res
        self.encode = dec.encode  # the decoder's first AdaIN block
        self.decode_blocks = dec.decode
        source, istft = self.config.source, self.config.istft
        exact = self.config.exact
        self.generator = GeneratorDeterministic(dec.generator, source=source, istft=istft, exact=exact)
        # The trimmed path has no padding to mask. Kept out of the module tree (a plain tuple), so
        # that state_dict, parameters and the traced graph are those of the padded stage.
        self._unmasked_generator = (
            GeneratorDeterministic(dec.generator, source=source, istft=istft, exact=False),
        )

    def prosody(self, en: torch.Tensor, s: torch.Tensor, frames: torch.Tensor, masked: bool | None = None):
        """``predictor.F0Ntrain`` on padded frames. en [B, 640, F] → F0_pred, N_pred [B, 2F].

        ``masked=False`` skips the masks (valid only when all F frames are valid); the default
        masks in exact mode.
        """
        exact = self.mode == "exact" if masked is None else masked
        x = bilstm(self.shared, en.transpose(1, 2), frames, "exact" if exact else "v21").transpose(
            1, 2
        )  # [B, 512, F]
        mask = length_mask(frames, en.shape[-1]) if exact else None
        curves = []
        for blocks, proj in ((self.F0, self.F0_proj), (self.N, self.N_proj)):
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

    def synthesize(self, d, t_en, pred_dur, ref_s, random_phases):
        """The stage's computation, without the eager checks. → audio, audio_length, frame_overflow."""
        L, F = self.max_tokens, self.max_frames
        pred_aln_trg, overflow = create_alignment_matrix(pred_dur, F)  # [1, L, F], [1]
        check_shape(pred_aln_trg, (1, L, F), "pred_aln_trg")
        frames = (pred_dur.sum(dim=1).to(torch.int32) - overflow).clamp(min=1)  # [1] valid frames
        en = d.transpose(-1, -2) @ pred_aln_trg  # [1, 640, F]
        F0_pred, N_pred = self.prosody(en, ref_s[:, 128:], frames)  # [1, 2F]
        check_shape(F0_pred, (1, 2 * F), "F0_pred")
        check_shape(N_pred, (1, 2 * F), "N_pred")
        asr = check_shape(t_en @ pred_aln_trg, (1, 512, F), "asr")  # [1, 512, F]
        x = self.decoder_features(asr, F0_pred, N_pred, ref_s[:, :128], frames)  # [1, 512, 2F]
        check_shape(x, (1, 512, 2 * F), "decoder features")
        audio = self.generator(x, ref_s[:, :128], F0_pred, random_phases, frames * 2)  # [1, 1, 600 F]
        check_shape(audio, (1, 1, F * self.samples_per_frame), "audio")
        audio_length = frames * self.samples_per_frame  # int32: fp16 cannot count to 384,000
        keep = torch.arange(audio.shape[-1], dtype=torch.int32).view(1, 1, -1) < audio_length.view(-1, 1, 1)
        return audio * keep.to(audio.dtype), audio_length.to(torch.int32), overflow

    def forward(self, d, t_en, pred_dur, ref_s, random_phases):
        """Synthesize the aligned frames of one text.

        Args:
            d: [1, L, 640] from the text stage.
            t_en: [1, 512, L] from the text stage.
            pred_dur: [1, L] frames per token, 0 at padding (the text stage's, unchanged).
            ref_s: [1, 256] style; ``[:, :128]`` decoder, ``[:, 128:]`` predictor.
            random_phases: [1, 9] initial harmonic phases (used by the v21 source).

        Returns:
            audio [1, 1, F·600] (zero after the valid samples), audio_length_samples [1] int32,
            frame_overflow [1] int32: frames the durations asked for beyond F (0 when they fit).
        """
        if not torch.jit.is_tracing():
            self.check_inputs(d, t_en, pred_dur, ref_s, random_phases)
        return self.synthesize(d, t_en, pred_dur, ref_s, random_phases)

    def forward_trimmed(self, d, t_en, pred_dur, ref_s, random_phases):
        """Eager only: compute on the valid tokens and frames, then pad the audio back.

        Same inputs and outputs as :meth:`forward`. The decoder and generator run on
        ``min(Σ pred_dur, F)`` frames without masks, which is the original model's computation.
        """
        n = int((pred_dur > 0).sum())  # valid tokens: every one lasts at least a frame
        pred_dur = pred_dur[:, :n]  # [1, n]
        total = int(pred_dur.sum())
        n_frames = max(1, min(total, self.max_frames))  # valid frames, as the padded path counts them
        aln, _ = create_alignment_matrix(pred_dur, n_frames)  # [1, n, n_frames]
        overflow = torch.tensor([max(total - self.max_frames, 0)], dtype=torch.int32)
        frames = torch.tensor([n_frames], dtype=torch.int32)
        s_dec = ref_s[:, :128]
        F0_pred, N_pred = self.prosody(d[:, :n].transpose(-1, -2) @ aln, ref_s[:, 128:], frames, masked=False)
        x = self.decoder_features(
            t_en[..., :n] @ aln, F0_pred, N_pred, s_dec, frames, masked=False
        )  # [1, 512, 2n_frames]
        generator = self._unmasked_generator[0]
        audio = generator(x, s_dec, F0_pred, random_phases, frames * 2)  # [1, 1, 600 n_frames]
        audio = F.pad(audio, (0, self.max_frames * self.samples_per_frame - audio.shape[-1]))
        audio_length = (frames * self.samples_per_frame).to(torch.int32)
        return audio, audio_length, overflow

    def check_inputs(self, d, t_en, pred_dur, ref_s, random_phases) -> None:
        """Raise :class:`InputError` naming the problem and the fix; eager calls run this first."""
        L = self.max_tokens
        for name, t, shape in (
            ("d", d, (1, L, 640)),
            ("t_en", t_en, (1, 512, L)),
            ("pred_dur", pred_dur, (1, L)),
        ):
            if tuple(t.shape) != shape:
                fix = (
                    "pad the text stage's outputs with kokoro_lab.rewrite.stages.pad_tokens()"
                    if t.dim() == len(shape) and t.shape[-1 if name == "t_en" else 1] < L
                    else "pass the text stage's outputs unchanged"
                )
                raise InputError(
                    f"{name} must have shape {list(shape)} (this acoustic stage's MAX_TOKENS = {L}), "
                    f"got {list(t.shape)}; {fix}."
                )
            if not torch.isfinite(t).all():
                raise InputError(f"{name} contains NaN or infinity; pass the text stage's outputs unchanged.")
        if (pred_dur < 0).any() or not torch.equal(pred_dur, torch.round(pred_dur)):
            raise InputError(
                "pred_dur must hold whole numbers of frames ≥ 0; pass the text stage's pred_dur unchanged."
            )
        check_style(ref_s)
        if tuple(random_phases.shape) != (1, 9):
            raise InputError(f"random_phases must have shape [1, 9], got {list(random_phases.shape)}.")


__all__ = [
    "BOUNDARY_BYTES_PER_TOKEN",
    "AcousticStage",
    "TextStage",
    "check_style",
    "pad_tokens",
]
