"""The Transformer TTS model: text encoder → duration predictor → length regulator → mel decoder.

```
tokens [B, L] ─ embedding + PE ─ encoder ─┬─ duration predictor ─ log(1 + frames) [B, L]
                                           └─ length regulator (durations) ─ [B, T, H] ─┐
previous mel frame [B, T, 80] ─ prenet ──────────────────────────────────────────── (+) + PE
                                                   causal decoder ─┬─ mel linear → mel [B, T, 80]
                                                                   └─ stop linear → stop logit [B, T]
```

Training uses teacher forcing: the decoder's input at frame ``t`` is the *true* frame ``t - 1``
(the mel shifted right by one frame, with a zero "go" frame first) and the true durations.
Inference is autoregressive: each generated frame becomes the next step's input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .config import TransformerTTSConfig
from .layers import TransformerStack
from .positional_encoding import SinusoidalPositionalEncoding


def pick_device() -> torch.device:
    """The fastest available device: ``cuda``, then Apple's ``mps``, then ``cpu``."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def lengths_to_padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """lengths [B] → [B, max_len] boolean mask, True at padded positions (index ≥ length)."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def length_regulate(
    x: torch.Tensor, durations: torch.Tensor, max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Repeat each token's state by its duration (FastSpeech's length regulator).

    Args:
        x: [B, L, H] one state per token.
        durations: [B, L] non-negative integer frames per token (0 drops the token; padded tokens
            must have 0).
        max_len: pad or crop the output to this many frames; ``None`` = the longest item.

    Returns:
        ``(y, mel_lengths)``: y [B, T, H] with row ``t`` of item ``b`` the state of the token that
        frame ``t`` belongs to and zeros after ``mel_lengths[b]``; mel_lengths [B] = ``durations.sum(1)``
        (capped at ``max_len``).

    Raises:
        ValueError: shapes disagree, or durations are negative or not integers.
    """
    if x.dim() != 3 or durations.shape != x.shape[:2]:
        raise ValueError(
            f"length_regulate needs x [B, L, H] and durations [B, L]; got {tuple(x.shape)} and "
            f"{tuple(durations.shape)}. Give one duration per token."
        )
    if durations.is_floating_point() or durations.is_complex():
        raise ValueError("durations must be integer frame counts; round them first (e.g. .round().long()).")
    if (durations < 0).any():
        raise ValueError("durations must be ≥ 0; clamp the predicted durations with .clamp(min=0).")
    durations = durations.long()
    rows = [torch.repeat_interleave(x[b], durations[b], dim=0) for b in range(x.shape[0])]  # [T_b, H]
    mel_lengths = durations.sum(dim=1)  # [B]
    T = int(mel_lengths.max()) if max_len is None else max_len
    y = x.new_zeros(x.shape[0], T, x.shape[2])  # [B, T, H]
    for b, r in enumerate(rows):
        n = min(r.shape[0], T)
        y[b, :n] = r[:n]
    return y, mel_lengths.clamp(max=T)


def durations_from_log(log_dur: torch.Tensor, token_lengths: torch.Tensor) -> torch.Tensor:
    """Predicted log(1 + frames) [B, L] → integer frames [B, L]: ≥ 1 for real tokens, 0 for padding.

    The minimum of one frame per token is the rule Kokoro applies to its own predictions.
    """
    frames = torch.round(torch.expm1(log_dur)).clamp(min=1).long()  # [B, L]
    return frames.masked_fill(lengths_to_padding_mask(token_lengths, log_dur.shape[1]), 0)


class TTSOutput(NamedTuple):
    """What :meth:`TransformerTTS.forward` returns."""

    mel_pred: torch.Tensor  # [B, T, n_mels]
    log_dur_pred: torch.Tensor  # [B, L]  predicted log(1 + frames)
    stop_logits: torch.Tensor  # [B, T]
    mel_lengths: torch.Tensor  # [B]     = durations.sum(1)


@dataclass
class InferenceOutput:
    """What :meth:`TransformerTTS.inference` returns."""

    mel: torch.Tensor  # [B, T, n_mels], zeros after mel_lengths
    mel_lengths: torch.Tensor  # [B] frames generated per item
    stopped: torch.Tensor  # [B] bool: the stop token fired (False: hit max_frames or ran out of text)
    durations: torch.Tensor  # [B, L] frames per token that were used


class DurationPredictor(nn.Module):
    """MLP from each encoder state to the token's log(1 + frames)."""

    def __init__(self, hidden: int, inner: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(hidden, inner), nn.ReLU(), nn.Dropout(dropout), nn.Linear(inner, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, L, H] → [B, L]."""
        return self.net(x).squeeze(-1)


class Prenet(nn.Module):
    """Bottleneck for the previous mel frame: Linear, ReLU, dropout, Linear up to the model width.

    The strong dropout (0.5) stops the decoder from simply copying the previous frame, which it
    could get away with under teacher forcing but not at inference.
    """

    def __init__(self, n_mels: int, inner: int, hidden: int, dropout: float = 0.5):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_mels, inner), nn.ReLU(), nn.Dropout(dropout), nn.Linear(inner, hidden)
        )

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel: [B, T, n_mels] → [B, T, H]."""
        return self.net(mel)


class TransformerTTS(nn.Module):
    """Non-attentive Transformer TTS: explicit durations align text to frames, a causal decoder makes mels."""

    def __init__(self, config: TransformerTTSConfig):
        super().__init__()
        self.config = c = config
        self.embedding = nn.Embedding(c.vocab_size, c.hidden)
        self.encoder_pe = SinusoidalPositionalEncoding(c.hidden, c.dropout, c.max_len)
        self.encoder = TransformerStack(
            c.n_encoder_layers, c.hidden, c.n_heads, c.ff_dim, c.dropout, False, c.checkpoint_segments
        )
        self.duration_predictor = DurationPredictor(c.hidden, c.duration_hidden, c.dropout)
        self.prenet = Prenet(c.n_mels, c.prenet_dim, c.hidden, c.prenet_dropout)
        self.decoder_pe = SinusoidalPositionalEncoding(c.hidden, c.dropout, c.max_len)
        self.decoder = TransformerStack(
            c.n_decoder_layers, c.hidden, c.n_heads, c.ff_dim, c.dropout, True, c.checkpoint_segments
        )
        self.mel_linear = nn.Linear(c.hidden, c.n_mels)
        self.stop_linear = nn.Linear(c.hidden, 1)

    # -- checks -------------------------------------------------------------------------------

    def _check_tokens(self, tokens: torch.Tensor, token_lengths: torch.Tensor | None) -> torch.Tensor:
        """Validate tokens [B, L]; return token_lengths [B] (all L when not given)."""
        if tokens.dim() != 2 or tokens.is_floating_point():
            raise ValueError(
                f"tokens must be integer ids of shape [B, L], got {tuple(tokens.shape)} {tokens.dtype}; "
                "wrap a single utterance as tokens[None]."
            )
        V = self.config.vocab_size
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= V):
            bad = sorted({int(t) for t in tokens.flatten() if not 0 <= int(t) < V})
            fix = f", or build the model with vocab_size={max(bad) + 1}" if max(bad) >= V else ""
            raise ValueError(
                f"Token ids {bad[:5]} are outside the vocabulary [0, {V}). Make tokens with "
                f"kokoro_lab.original.text.tokenize (ids ≥ 0; 0 pads){fix}."
            )
        B, L = tokens.shape
        if token_lengths is None:
            return torch.full((B,), L, dtype=torch.long, device=tokens.device)
        token_lengths = torch.as_tensor(token_lengths, device=tokens.device).long()
        if token_lengths.shape != (B,) or (token_lengths < 1).any() or (token_lengths > L).any():
            raise ValueError(
                f"token_lengths must be [B] = [{B}] values in 1..{L}, got {token_lengths.tolist()}; "
                "give each utterance's number of real tokens (padding excluded)."
            )
        return token_lengths

    def _check_durations(
        self,
        durations: torch.Tensor,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor,
        mels: torch.Tensor,
        mel_lengths: torch.Tensor | None,
    ) -> None:
        if durations.shape != tokens.shape:
            raise ValueError(
                f"durations {tuple(durations.shape)} must match tokens {tuple(tokens.shape)}: "
                "one frame count per token, boundary tokens included."
            )
        pad = lengths_to_padding_mask(token_lengths, tokens.shape[1])
        if (durations.masked_select(pad) != 0).any():
            raise ValueError("Padded token positions have non-zero durations; pad durations with 0.")
        if mels.dim() != 3 or mels.shape[2] != self.config.n_mels or mels.shape[0] != tokens.shape[0]:
            raise ValueError(
                f"mels must be [B, T, {self.config.n_mels}] with B = {tokens.shape[0]}, got "
                f"{tuple(mels.shape)}; transpose [B, n_mels, T] mels with .transpose(1, 2)."
            )
        sums = durations.sum(dim=1)  # [B]
        if mel_lengths is None:  # unpadded: the longest item fills the mel tensor
            ok, have = int(sums.max()) == mels.shape[1], mels.shape[1]
        else:
            mel_lengths = torch.as_tensor(mel_lengths, device=sums.device)
            ok = bool((sums == mel_lengths).all()) and int(mel_lengths.max()) <= mels.shape[1]
            have = mel_lengths.tolist()
        if not ok:
            raise ValueError(
                f"Durations sum to {sums.tolist()} frames but the mels have {have} frames. "
                "Durations must account for every mel frame exactly: recompute them for these "
                "mels, or crop the mels to sum(durations)."
            )

    # -- parts --------------------------------------------------------------------------------

    def encode(self, tokens: torch.Tensor, token_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens [B, L], token_lengths [B] → (encoder states [B, L, H], log(1 + frames) [B, L])."""
        pad = lengths_to_padding_mask(token_lengths, tokens.shape[1])  # [B, L]
        x = self.encoder_pe(self.embedding(tokens))  # [B, L, H]
        x = self.encoder(x, pad)  # [B, L, H]
        log_dur = self.duration_predictor(x).masked_fill(pad, 0.0)  # [B, L]
        return x, log_dur

    def decode(self, regulated: torch.Tensor, prev_mels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """regulated [B, T, H] + previous frames [B, T, n_mels] → (mel [B, T, n_mels], stop logits [B, T])."""
        x = self.decoder_pe(regulated + self.prenet(prev_mels))  # [B, T, H]
        x = self.decoder(x)  # causal: frame t sees frames ≤ t only
        return self.mel_linear(x), self.stop_linear(x).squeeze(-1)

    # -- training and inference ---------------------------------------------------------------

    def forward(
        self,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor | None,
        mels: torch.Tensor,
        durations: torch.Tensor,
        mel_lengths: torch.Tensor | None = None,
    ) -> TTSOutput:
        """Teacher-forced pass for training.

        Args:
            tokens: [B, L] token ids (0-padded).
            token_lengths: [B] real tokens per item, or ``None`` when nothing is padded.
            mels: [B, T, n_mels] target mels, zero-padded after each item's length.
            durations: [B, L] integer frames per token; each row sums to that item's mel length.
            mel_lengths: [B] optional; checked against ``durations.sum(1)``.

        Returns:
            :class:`TTSOutput` (mel_pred [B, T, n_mels], log_dur_pred [B, L], stop_logits [B, T],
            mel_lengths [B]).

        Raises:
            ValueError: token ids outside the vocabulary, or durations that do not sum to the mel lengths.
        """
        token_lengths = self._check_tokens(tokens, token_lengths)
        self._check_durations(durations, tokens, token_lengths, mels, mel_lengths)
        enc, log_dur = self.encode(tokens, token_lengths)  # [B, L, H], [B, L]
        regulated, mel_lengths = length_regulate(enc, durations, max_len=mels.shape[1])  # [B, T, H]
        prev = torch.cat(
            [mels.new_zeros(mels.shape[0], 1, mels.shape[2]), mels[:, :-1]], dim=1
        )  # shift right
        mel_pred, stop_logits = self.decode(regulated, prev)  # [B, T, n_mels], [B, T]
        return TTSOutput(mel_pred, log_dur, stop_logits, mel_lengths)

    @torch.no_grad()
    def inference(
        self,
        tokens: torch.Tensor,
        token_lengths: torch.Tensor | None = None,
        max_frames: int = 1000,
        stop_threshold: float = 0.5,
        durations: torch.Tensor | None = None,
    ) -> InferenceOutput:
        """Generate mels frame by frame, feeding each frame back in.

        The durations (predicted, or given) fix how many encoder states there are, T. Generation
        of an item ends when ``sigmoid(stop logit) > stop_threshold`` (``stopped`` is True), or
        after ``min(max_frames, T)`` frames (``stopped`` is False). Every step reruns the decoder on
        the whole prefix (no key/value cache), so a T-frame utterance costs O(T²) decoder work;
        the causal mask makes the result identical to the teacher-forced pass on the same frames.

        Args:
            tokens: [B, L] token ids; token_lengths: [B] or ``None``.
            max_frames: upper limit on generated frames per item (40 frames = 1 s).
            stop_threshold: stop probability above which an item ends.
            durations: optional [B, L] integer frames to use instead of the predicted ones.

        Returns:
            :class:`InferenceOutput` with mel [B, T', n_mels], mel_lengths [B], stopped [B], durations [B, L].
        """
        if max_frames < 1:
            raise ValueError(f"max_frames must be ≥ 1, got {max_frames}.")
        token_lengths = self._check_tokens(tokens, token_lengths)
        enc, log_dur = self.encode(tokens, token_lengths)  # [B, L, H], [B, L]
        if durations is None:
            durations = durations_from_log(log_dur, token_lengths)
        elif durations.shape != tokens.shape:
            raise ValueError(f"durations {tuple(durations.shape)} must match tokens {tuple(tokens.shape)}.")
        regulated, reg_lengths = length_regulate(enc, durations)  # [B, T, H], [B]
        limit = reg_lengths.clamp(max=max_frames)  # [B]
        B, M = tokens.shape[0], self.config.n_mels
        T = int(limit.max())
        mel = regulated.new_zeros(B, T, M)  # [B, T, n_mels]
        mel_lengths = limit.clone()
        stopped = torch.zeros(B, dtype=torch.bool, device=tokens.device)
        done = limit == 0
        for t in range(T):
            prev = torch.cat([mel.new_zeros(B, 1, M), mel[:, :t]], dim=1)  # [B, t + 1, n_mels]
            frames, stop_logits = self.decode(regulated[:, : t + 1], prev)
            mel[:, t] = frames[:, -1].masked_fill(done[:, None], 0.0)
            fire = (torch.sigmoid(stop_logits[:, -1]) > stop_threshold) & ~done
            mel_lengths[fire] = t + 1
            stopped |= fire
            done |= fire | (limit <= t + 1)
            if bool(done.all()):
                break
        return InferenceOutput(mel[:, : int(mel_lengths.max())], mel_lengths, stopped, durations)

    def get_model_info(self) -> dict:
        """Parameters per part, their total, and the fp32 size.

        Returns:
            ``{"parameters": {part: count}, "total": int, "size_mb": total·4 / 10⁶,
            "size_mib": total·4 / 2²⁰}``.
        """
        parts = (
            "embedding",
            "encoder",
            "duration_predictor",
            "prenet",
            "decoder",
            "mel_linear",
            "stop_linear",
        )
        counts = {p: sum(t.numel() for t in getattr(self, p).parameters()) for p in parts}
        total = sum(counts.values())
        return {
            "parameters": counts,
            "total": total,
            "size_mb": total * 4 / 1e6,
            "size_mib": total * 4 / 2**20,
        }
