"""The iSTFTNet generator, deterministic and padding-exact, with a conv-based (complex-free) STFT."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .masking import adain_resblock1, length_mask
from .precision import fp32_island
from .shapes import check_shape
from .sine_source import SourceModuleHnNSFDeterministic


def stft_transform(
    stft, waveform: torch.Tensor, pad_mode: str = "replicate"
) -> tuple[torch.Tensor, torch.Tensor]:
    """kokoro's ``CustomSTFT.transform`` without its in-place phase fix-up.

    ``pad_mode="replicate"`` is ``CustomSTFT``'s edge padding; ``"reflect"`` is ``torch.stft``'s,
    which the default ``KModel`` (``TorchSTFT``) uses.

    waveform [B, T] → magnitude, phase [B, n_fft/2 + 1, T / hop + 1].
    """
    pad = stft.n_fft // 2
    x = F.pad(waveform.unsqueeze(1), (pad, pad), mode=pad_mode)  # [B, 1, T + n_fft]
    real = F.conv1d(x, stft.weight_forward_real, stride=stft.hop_length)
    imag = F.conv1d(x, stft.weight_forward_imag, stride=stft.hop_length)
    if pad_mode == "reflect":  # torch.stft's real FFT has exactly zero imaginary part at DC and Nyquist;
        # the conv's rounding leaves ±1e-8 there, which flips a phase of ±π and changes the output
        k = torch.arange(imag.shape[1], device=imag.device).view(1, -1, 1)
        imag = torch.where((k == 0) | (k == stft.n_fft // 2), torch.zeros_like(imag), imag)
    magnitude = torch.sqrt(real**2 + imag**2 + 1e-14)
    phase = torch.atan2(imag, real)
    phase = torch.where((imag == 0) & (real < 0), torch.full_like(phase, math.pi), phase)
    return magnitude, phase


def istft_kokoro(stft, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """kokoro's ``CustomSTFT.inverse`` (conv-transpose overlap-add). → [B, 1, T]."""
    return stft.inverse(magnitude, phase)


def istft_corrected(stft, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """An inverse STFT that matches ``torch.istft``: one-sided bins 1..N/2-1 count twice, and the
    overlap-added squared window is divided out. Built from the same conv-transpose kernels.
    """
    n_fft, hop = stft.n_fft, stft.hop_length
    bins = magnitude.shape[1]
    k = torch.arange(bins, device=magnitude.device).view(1, bins, 1)
    nyquist = bins - 1 if n_fft % 2 == 0 else -1  # an odd n_fft has no Nyquist bin
    edge = (k == 0) | (k == nyquist)  # DC and Nyquist appear once
    weight = torch.where(edge, 1.0, 2.0).to(magnitude.dtype)
    real = F.conv_transpose1d(magnitude * torch.cos(phase) * weight, stft.weight_backward_real, stride=hop)
    imag = F.conv_transpose1d(magnitude * torch.sin(phase) * weight, stft.weight_backward_imag, stride=hop)
    wav = real - imag  # [B, 1, (frames - 1) * hop + n_fft]
    ones = torch.ones(1, 1, magnitude.shape[-1], dtype=wav.dtype, device=wav.device)
    win_sq = (stft.window**2).view(1, 1, -1)
    envelope = F.conv_transpose1d(ones, win_sq, stride=hop)  # Σ window² at each sample
    pad = n_fft // 2
    return wav[..., pad:-pad] / envelope[..., pad:-pad].clamp(min=1e-11)


def istft_gain(stft, frequencies, sample_rate: int = 24000, seconds: float = 1.0) -> torch.Tensor:
    """Gain of kokoro's ``CustomSTFT.inverse`` relative to ``torch.istft`` at each frequency (Hz).

    A unit sine is analysed with ``torch.stft`` and resynthesised by both inverses; the ratio of
    their RMS away from the edges is the gain. 1.0 would mean the two inverses agree.
    """
    n_fft, hop = stft.n_fft, stft.hop_length
    window = torch.hann_window(n_fft, periodic=True)
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    edge = sample_rate // 24  # skip the ends, where both inverses see half a window
    gains = []
    for f in torch.as_tensor(frequencies, dtype=torch.float64).tolist():
        x = torch.sin(2 * math.pi * f * t).unsqueeze(0)  # [1, T]
        X = torch.stft(x, n_fft, hop, n_fft, window=window, return_complex=True)  # [1, bins, frames]
        reference = torch.istft(X, n_fft, hop, n_fft, window=window).reshape(-1)
        custom = stft.inverse(X.abs(), X.angle()).reshape(-1)
        rms = [v[edge:-edge].pow(2).mean().sqrt() for v in (custom, reference)]
        gains.append((rms[0] / rms[1]).item())
    return torch.tensor(gains)


class GeneratorDeterministic(torch.nn.Module):
    """kokoro's ``Generator`` with a deterministic source and valid-length masks at every rate."""

    def __init__(
        self, original_generator, source: str = "faithful", istft: str = "corrected", exact: bool = True
    ):
        super().__init__()
        if istft not in ("corrected", "kokoro"):
            raise ValueError(f"Unknown istft {istft!r}; use 'corrected' or 'kokoro'.")
        g = original_generator
        self.num_kernels = g.num_kernels
        self.num_upsamples = g.num_upsamples
        self.noise_convs = g.noise_convs
        self.noise_res = g.noise_res
        self.ups = g.ups
        self.resblocks = g.resblocks
        self.post_n_fft = g.post_n_fft
        self.conv_post = g.conv_post
        self.reflection_pad = g.reflection_pad
        self.stft = g.stft  # must be kokoro's CustomSTFT (KModel(disable_complex=True))
        if not hasattr(self.stft, "weight_forward_real"):
            raise TypeError(
                "GeneratorDeterministic needs kokoro's CustomSTFT: load KModel with disable_complex=True."
            )
        self.upsample_scale = g.m_source.l_sin_gen.upsample_scale  # 300 samples per F0 frame
        self.m_source = SourceModuleHnNSFDeterministic(g.m_source, source)
        self.istft = istft
        # "corrected" reproduces the default KModel's TorchSTFT on both sides: torch.stft pads by
        # reflection, torch.istft normalises; "kokoro" reproduces CustomSTFT (replicate, raw OLA).
        self.stft_pad = "reflect" if istft == "corrected" else "replicate"
        self.exact = exact

    def _source_spectrum(self, har_source: torch.Tensor, samples: torch.Tensor, exact: bool) -> torch.Tensor:
        """Harmonic source [B, T] → its STFT magnitude and phase, stacked [B, n_fft + 2, T / hop + 1]."""
        B = har_source.shape[0]
        if exact:  # continue past the last valid sample as the STFT's edge padding would
            T = har_source.shape[1]
            t = torch.arange(T, device=har_source.device).view(1, T)
            last = samples.view(B, 1) - 1
            # replicate: hold the last sample; reflect: mirror around it (x[2·last − t])
            idx = (
                t.clamp(max=last) if self.stft_pad == "replicate" else torch.where(t > last, 2 * last - t, t)
            )
            har_source = torch.gather(har_source, 1, idx.clamp(min=0))
        har_spec, har_phase = stft_transform(self.stft, har_source, self.stft_pad)  # [B, 11, 60 N + 1]
        hop = self.stft.hop_length
        stft_frames = samples // hop + 1
        m_stft = length_mask(stft_frames, har_spec.shape[-1]) if exact else None
        har = torch.cat([har_spec, har_phase], dim=1)
        if exact:
            har = har * m_stft  # frames past the end see zeros, as the original's conv padding
        return har

    def forward(
        self,
        x: torch.Tensor,
        s: torch.Tensor,
        f0: torch.Tensor,
        random_phases: torch.Tensor,
        frames: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decoder features to audio.

        Args:
            x: [B, 512, N] decoder output (N = 2F F0 frames).
            s: [B, 128] decoder style ``ref_s[:, :128]``.
            f0: [B, N] F0_pred in Hz.
            random_phases: [B, 9] (used by the v21 source only).
            frames: [B] valid F0 frames (2F); ``None`` means all N are valid.
            noise: optional [B, 300 N, 9] source noise.

        Returns:
            audio [B, 1, 300 N].
        """
        B, _, N = x.shape
        check_shape(f0, (B, N), "f0")
        check_shape(s, (B, 128), "decoder style s")
        if frames is None:
            frames = torch.full((B,), N, dtype=torch.long, device=x.device)
        exact = self.exact
        samples = frames * self.upsample_scale  # valid samples
        with fp32_island("phase"):  # the phase reaches ~10⁵ rad: beyond float16's range
            har_source = self.m_source(f0, random_phases, frames if exact else None, noise).squeeze(
                -1
            )  # [B, 300 N]
        with fp32_island("source_stft"):
            har = self._source_spectrum(har_source, samples, exact)  # [B, 22, 60 N + 1]
        check_shape(har_source, (B, N * self.upsample_scale), "harmonic source")
        check_shape(har, (B, self.post_n_fft + 2, None), "source spectrum")
        # valid length after each upsampling: N → 10 N → 60 N, +1 for the reflection pad
        lengths = [frames]
        for u in self.ups:
            lengths.append(lengths[-1] * u.stride[0])
        lengths[-1] = lengths[-1] + 1
        m_x = length_mask(frames, N) if exact else None
        for i in range(self.num_upsamples):
            x = F.leaky_relu(x, negative_slope=0.1)
            if exact:
                x = x * m_x
            x_source = self.noise_convs[i](har)
            m_next = length_mask(lengths[i + 1], x_source.shape[-1]) if exact else None
            x_source = adain_resblock1(self.noise_res[i], x_source * m_next if exact else x_source, s, m_next)
            x = self.ups[i](x)
            if i == self.num_upsamples - 1:
                x = self.reflection_pad(x)
            x = x + x_source
            xs = None
            for j in range(self.num_kernels):
                y = adain_resblock1(self.resblocks[i * self.num_kernels + j], x, s, m_next)
                xs = y if xs is None else xs + y
            x = xs / self.num_kernels
            m_x = m_next
        x = F.leaky_relu(x)
        x = self.conv_post(x * m_x if exact else x)
        with fp32_island("istft"):  # exp overflows float16 above 11; the overlap-add divides
            spec = torch.exp(x[:, : self.post_n_fft // 2 + 1, :])
            phase = torch.sin(x[:, self.post_n_fft // 2 + 1 :, :])
            if exact:
                spec = spec * m_x  # no energy from frames past the end in the overlap-add
            if self.istft == "corrected":
                return istft_corrected(self.stft, spec, phase)
            return istft_kokoro(self.stft, spec, phase)
