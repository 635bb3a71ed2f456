"""``KokoroPipeline``: text → phonemes → tokens → text stage → frames → acoustic stage → audio.

Each stage runs at the smallest bucket that fits: the text stage at the smallest token bucket
that holds the tokens, the acoustic stage at the smallest frame bucket that holds the frames the
text stage predicted. So an utterance pays for at most one ladder step of padding on each axis,
whatever the largest buckets are.

The stages come from a *backend*: :class:`TorchStages` runs them in PyTorch (eager, anywhere);
``kokoro_lab.coreml.predict.CoreMLStages`` runs converted packages (macOS only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from ..config import SAMPLE_RATE
from ..rewrite.config import RewriteConfig
from ..rewrite.inputs import pad_inputs
from ..rewrite.stages import AcousticStage, TextStage, pad_tokens
from .ladder import FRAME_BUCKETS, TEXT_BUCKETS, FrameOverflowError, frame_bucket_for, text_bucket_for

TextFn = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # → pred_dur, d, t_en
AcousticFn = Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # → audio, length, overflow


class Stages(Protocol):
    """A backend: the text stage per token bucket, the acoustic stage per frame bucket."""

    acoustic_tokens: int  # L of every acoustic stage

    def text(self, max_tokens: int) -> TextFn: ...

    def acoustic(self, max_frames: int) -> AcousticFn: ...


class TorchStages:
    """Both stages in PyTorch, built per bucket on first use (wrapping the model is cheap).

    ``trim=True`` runs each stage's eager fast path (the valid tokens and frames only); the
    default runs the padded computation, as the converted packages do.
    """

    def __init__(
        self, model, acoustic_tokens: int = max(TEXT_BUCKETS), config: RewriteConfig | None = None, trim=False
    ):
        self.model, self.acoustic_tokens, self.config, self.trim = model, acoustic_tokens, config, trim
        self._text: dict[int, TextStage] = {}
        self._acoustic: dict[int, AcousticStage] = {}

    def text_stage(self, max_tokens: int) -> TextStage:
        if max_tokens not in self._text:
            self._text[max_tokens] = TextStage(self.model, max_tokens, self.config).eval()
        return self._text[max_tokens]

    def acoustic_stage(self, max_frames: int) -> AcousticStage:
        if max_frames not in self._acoustic:
            stage = AcousticStage(self.model, self.acoustic_tokens, max_frames, self.config).eval()
            self._acoustic[max_frames] = stage
        return self._acoustic[max_frames]

    def text(self, max_tokens: int) -> TextFn:
        stage = self.text_stage(max_tokens)
        return stage.forward_trimmed if self.trim else stage

    def acoustic(self, max_frames: int) -> AcousticFn:
        stage = self.acoustic_stage(max_frames)
        return stage.forward_trimmed if self.trim else stage


@dataclass(frozen=True)
class BucketChoice:
    """Which bucket each stage ran at for one utterance."""

    tokens: int  # boundaries included
    text_bucket: int  # the text stage's L
    frames: int  # Σ pred_dur
    frame_bucket: int  # the acoustic stage's F

    @property
    def padded_frame_fraction(self) -> float:
        """Of the frames the acoustic stage computes, the share that is padding."""
        return 1 - self.frames / self.frame_bucket

    @property
    def padded_token_fraction(self) -> float:
        return 1 - self.tokens / self.text_bucket

    def __str__(self) -> str:
        return (
            f"text stage: {self.tokens} tokens in the {self.text_bucket}-token bucket; acoustic stage: "
            f"{self.frames} frames in the {self.frame_bucket}-frame bucket ({self.padded_frame_fraction:.0%} padding)"
        )


@dataclass
class PipelineOutput:
    """One utterance: the valid audio, the durations and the buckets used."""

    audio: torch.Tensor  # [T] float32, 24 kHz, valid samples only
    pred_dur: torch.Tensor  # [tokens] frames per token, boundaries included
    choice: BucketChoice
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return self.audio.numel() / self.sample_rate


class KokoroPipeline:
    """Kokoro-82M as two fixed-shape stages, each at the smallest bucket that fits.

    Args:
        stages: a backend (:class:`TorchStages`, or ``CoreMLStages`` for converted packages).
        text_buckets: token counts (boundaries included) the text stage exists for.
        frame_buckets: frame counts the acoustic stage exists for.
    """

    def __init__(
        self,
        stages: Stages,
        text_buckets: Sequence[int] = TEXT_BUCKETS,
        frame_buckets: Sequence[int] = FRAME_BUCKETS,
    ):
        self.stages = stages
        self.text_buckets = tuple(sorted(text_buckets))
        self.frame_buckets = tuple(sorted(frame_buckets))
        if stages.acoustic_tokens < self.text_buckets[-1]:
            raise ValueError(
                f"the acoustic stage takes {stages.acoustic_tokens} tokens, fewer than the largest text "
                f"bucket ({self.text_buckets[-1]}); build it for at least that many."
            )

    @classmethod
    def in_torch(
        cls,
        model=None,
        text_buckets: Sequence[int] = TEXT_BUCKETS,
        frame_buckets: Sequence[int] = FRAME_BUCKETS,
        config: RewriteConfig | None = None,
        trim: bool = False,
    ) -> KokoroPipeline:
        """The pipeline in PyTorch; ``model`` is a ``KModel(disable_complex=True)`` (loaded when None)."""
        if model is None:
            from ..original.model import load_kmodel

            model, _ = load_kmodel(disable_complex=True)
        return cls(TorchStages(model, max(text_buckets), config, trim), text_buckets, frame_buckets)

    @classmethod
    def from_directory(cls, directory, compute_units: str = "ALL") -> KokoroPipeline:
        """The pipeline on converted packages (``kokoro-lab convert --pipeline -o DIR``).

        The manifest and packages are checked here, on any OS; synthesis needs macOS and raises
        :class:`kokoro_lab.coreml.predict.PredictionUnavailable` elsewhere.
        """
        from .predict import CoreMLStages

        stages = CoreMLStages(directory, compute_units)
        m = stages.manifest
        return cls(stages, m.text_buckets, m.frame_buckets)

    def encode(self, tokens: Sequence[int], ref_s: torch.Tensor, speed: float = 1.0):
        """The text stage at the smallest token bucket that fits. → (pred_dur, d, t_en, L).

        Raises:
            TextTooLongForPipeline: more tokens than the largest text bucket holds.
        """
        n_tokens = len(tokens) + 2
        L = text_bucket_for(n_tokens, self.text_buckets)
        input_ids, attention_mask = pad_inputs(tokens, L)
        speed_t = torch.tensor([float(speed)])
        with torch.inference_mode():
            pred_dur, d, t_en = self.stages.text(L)(input_ids, attention_mask, ref_s, speed_t)
        return pred_dur, d, t_en, L

    def choose(self, tokens: Sequence[int], ref_s: torch.Tensor, speed: float = 1.0) -> BucketChoice:
        """The buckets an utterance would use (runs the text stage only).

        Raises:
            TextTooLongForPipeline, FrameOverflowError: as :meth:`synthesize_tokens`.
        """
        pred_dur, _, _, L = self.encode(tokens, ref_s, speed)
        frames = int(pred_dur.sum())
        return BucketChoice(len(tokens) + 2, L, frames, frame_bucket_for(frames, self.frame_buckets))

    def synthesize_tokens(
        self,
        tokens: Sequence[int],
        ref_s: torch.Tensor,
        speed: float = 1.0,
        random_phases: torch.Tensor | None = None,
    ) -> PipelineOutput:
        """Phoneme ids (no boundaries) and a style [1, 256] → audio.

        Raises:
            TextTooLongForPipeline: more tokens than the largest text bucket; split the text.
            FrameOverflowError: the durations need more frames than the largest frame bucket;
                nothing is cut off silently.
        """
        tokens = [int(t) for t in tokens]
        pred_dur, d, t_en, L = self.encode(tokens, ref_s, speed)  # [1, L], [1, L, 640], [1, 512, L]
        frames = int(pred_dur.sum())
        F = frame_bucket_for(frames, self.frame_buckets)
        pred_dur, d, t_en = pad_tokens(pred_dur, d, t_en, self.stages.acoustic_tokens)  # [1, L_a], …
        phases = torch.zeros(1, 9) if random_phases is None else random_phases
        with torch.inference_mode():
            audio, length, overflow = self.stages.acoustic(F)(d, t_en, pred_dur, ref_s, phases)
        if int(overflow.reshape(-1)[0]) > 0:  # cannot happen when F ≥ frames; never cut silently
            raise FrameOverflowError(
                f"the acoustic stage reports {int(overflow.reshape(-1)[0])} frames beyond its {F}; "
                "the packages disagree with the manifest: convert the pipeline again."
            )
        n = len(tokens) + 2
        choice = BucketChoice(n, L, frames, F)
        return PipelineOutput(audio.reshape(-1)[: int(length.reshape(-1)[0])], pred_dur[0, :n], choice)

    def __call__(
        self, text: str, voice: str = "jf_alpha", speed: float = 1.0, lang: str = "a"
    ) -> PipelineOutput:
        """Synthesize ``text`` with ``voice``. See :meth:`synthesize_tokens` for the errors."""
        tokens, ref_s = self.prepare(text, voice, lang)
        return self.synthesize_tokens(tokens, ref_s, speed)

    @staticmethod
    def prepare(text: str, voice: str = "jf_alpha", lang: str = "a") -> tuple[list[int], torch.Tensor]:
        """Text → (phoneme token ids without boundaries, style ``ref_s`` [1, 256] for that length)."""
        from ..original.text import phonemize, tokenize
        from ..original.voices import load_voice, style_for

        tokens = list(tokenize(phonemize(text, lang)))
        return tokens, style_for(load_voice(voice), len(tokens))


__all__ = ["BucketChoice", "KokoroPipeline", "PipelineOutput", "Stages", "TorchStages"]
