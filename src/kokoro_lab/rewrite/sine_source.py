"""Deterministic harmonic sources for the iSTFTNet generator.

kokoro's ``SineGen`` draws a random initial phase and Gaussian noise. Two deterministic rewrites:

* :class:`SineGenDeterministic` (the v21 rewrite): phase summed at the sample rate, a sigmoid
  voiced/unvoiced mask, the initial phase an input, no noise.
* :class:`SineGenFaithful`: kokoro's own computation: phase accumulated at the frame rate and
  interpolated ×300, a hard voiced/unvoiced mask, and noise as an optional input tensor. kokoro's
  random initial phase never reaches the output (its 1/300 linear downsample reads samples
  300i+149 and 300i+150, never sample 0), so this variant needs no phase input.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F


class SineGenDeterministic(torch.nn.Module):
    """The v21 sine generator: sample-rate phase, sigmoid voicing, phases as an input.

    This is the seed's v21 variant, kept so that the book can compare it with the original. It is
    not the default: :class:`SourceModuleHnNSFDeterministic` uses :class:`SineGenFaithful`
    unless asked for ``variant="v21"``, and the faithful source is deterministic too (no noise,
    and kokoro's random initial phase never reaches its output).
    """

    def __init__(self, original_sine_gen):
        super().__init__()
        self.sine_amp = original_sine_gen.sine_amp
        self.harmonic_num = original_sine_gen.harmonic_num
        self.dim = original_sine_gen.dim
        self.sampling_rate = original_sine_gen.sampling_rate
        self.voiced_threshold = original_sine_gen.voiced_threshold

    def forward(self, f0: torch.Tensor, random_phases: torch.Tensor) -> torch.Tensor:
        """f0 [B, T, 1] Hz at the sample rate, random_phases [B, 9] → sines [B, T, 9]."""
        uv = torch.sigmoid((f0 - self.voiced_threshold) * 0.5)  # [B, T, 1]
        harmonics = torch.arange(1, self.dim + 1, device=f0.device, dtype=f0.dtype).view(1, 1, -1)
        rad = f0 * harmonics / self.sampling_rate  # [B, T, 9] cycles per sample
        first = (torch.arange(rad.shape[1], device=f0.device) == 0).view(1, -1, 1).to(rad.dtype)
        rad = rad + first * random_phases.reshape(rad.shape[0], 1, -1)  # phases at t = 0, no in-place write
        phase = torch.cumsum(rad, dim=1)
        wrapped = (phase - torch.floor(phase)) * 2 * math.pi
        return torch.sin(wrapped) * self.sine_amp * uv


class SineGenFaithful(torch.nn.Module):
    """kokoro's ``SineGen`` made deterministic: frame-rate phase, ×300 interpolation, hard voicing."""

    def __init__(self, original_sine_gen):
        super().__init__()
        self.sine_amp = original_sine_gen.sine_amp
        self.noise_std = original_sine_gen.noise_std
        self.dim = original_sine_gen.dim
        self.sampling_rate = original_sine_gen.sampling_rate
        self.voiced_threshold = original_sine_gen.voiced_threshold
        self.upsample_scale = original_sine_gen.upsample_scale

    def forward(
        self, f0_frames: torch.Tensor, frames: torch.Tensor | None = None, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Harmonic source at the sample rate.

        Args:
            f0_frames: [B, N] F0 in Hz per generator frame (N = 2F, 300 samples each).
            frames: [B] valid frames; past them the phase is held (kokoro's edge clamp).
            noise: optional [B, 300 N, 9] standard-normal noise; ``None`` means no noise.

        Returns:
            sine_waves [B, 300 N, 9].
        """
        B, N = f0_frames.shape
        harmonics = torch.arange(1, self.dim + 1, device=f0_frames.device, dtype=f0_frames.dtype)
        rad = (f0_frames.unsqueeze(-1) * harmonics / self.sampling_rate) % 1  # [B, N, 9]
        phase = torch.cumsum(rad, dim=1) * 2 * math.pi  # [B, N, 9] at frame centres
        if frames is not None:  # hold the last valid value, as interpolation clamps at the edge
            idx = torch.arange(N, device=f0_frames.device).view(1, N).clamp(max=frames.view(B, 1) - 1)
            phase = torch.gather(phase, 1, idx.unsqueeze(-1).expand(B, N, self.dim))
        phase = F.interpolate(
            phase.transpose(1, 2) * self.upsample_scale,
            scale_factor=float(self.upsample_scale),
            mode="linear",
        )
        sines = torch.sin(phase.transpose(1, 2))  # [B, 300 N, 9]
        f0 = f0_frames.repeat_interleave(self.upsample_scale, dim=1).unsqueeze(-1)  # [B, 300 N, 1] nearest
        uv = (f0 > self.voiced_threshold).to(sines.dtype)
        out = sines * self.sine_amp * uv
        if noise is not None:
            out = out + (uv * self.noise_std + (1 - uv) * self.sine_amp / 3) * noise
        return out


class SourceModuleHnNSFDeterministic(torch.nn.Module):
    """Harmonic source merged to one channel: ``tanh(linear(sines))`` (the noise branch is unused)."""

    def __init__(self, original_source, variant: str = "faithful"):
        super().__init__()
        if variant not in ("faithful", "v21"):
            raise ValueError(f"Unknown sine source variant {variant!r}; use 'faithful' or 'v21'.")
        self.variant = variant
        self.sine_amp = original_source.sine_amp
        self.l_sin_gen = (
            SineGenFaithful(original_source.l_sin_gen)
            if variant == "faithful"
            else SineGenDeterministic(original_source.l_sin_gen)
        )
        self.l_linear = original_source.l_linear
        self.l_tanh = original_source.l_tanh
        self.upsample_scale = original_source.l_sin_gen.upsample_scale

    def forward(
        self,
        f0_frames: torch.Tensor,
        random_phases: torch.Tensor,
        frames: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """f0_frames [B, N] Hz → source [B, 300 N, 1]."""
        if self.variant == "faithful":
            sines = self.l_sin_gen(f0_frames, frames, noise)
        else:
            f0 = f0_frames.repeat_interleave(self.upsample_scale, dim=1).unsqueeze(-1)  # [B, 300 N, 1]
            sines = self.l_sin_gen(f0, random_phases)
        return self.l_tanh(self.l_linear(sines))


@contextlib.contextmanager
def no_source_noise():
    """Within the block, kokoro's ``SineGen`` and source module draw zeros instead of Gaussian noise.

    They call ``torch.randn_like``; nothing else in Kokoro's forward pass does. The random initial
    phase (``torch.rand``) is left alone: it never reaches the output.
    """
    original = torch.randn_like
    torch.randn_like = torch.zeros_like
    try:
        yield
    finally:
        torch.randn_like = original
