"""The fine-tuning losses: duration MSE, F0 MSE on voiced frames, and audio reconstruction.

Reconstruction compares generated and target audio in two ways:

* L1 between natural-log magnitude mel spectrograms (80 bands, 1024-point FFT, hop 240, floor
  1e-5), the loss StyleTTS 2 and HiFi-GAN train their decoders with;
* a multi-resolution STFT loss (Parallel WaveGAN's three resolutions, FFT/hop/window
  1024/120/600, 2048/240/1200 and 512/50/240): at each, spectral convergence
  ``‖|S| - |Ŝ|‖_F / ‖|S|‖_F`` plus the L1 between log magnitudes, averaged over the resolutions.

Every loss averages over real positions only (``mask``), so padding never contributes.
"""

from __future__ import annotations

import functools

import torch

from ..config import SAMPLE_RATE

MEL_N_FFT, MEL_HOP, MEL_BANDS = 1024, 240, 80
LOG_FLOOR = 1e-5  # log(max(magnitude, floor)) keeps silence finite
STFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is True (0 with a gradient path when nothing is masked in)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def duration_loss(
    duration: torch.Tensor, gt_duration: torch.Tensor, token_mask: torch.Tensor
) -> torch.Tensor:
    """MSE in frames² between predicted and true durations over real tokens.

    Args:
        duration: [B, L] predicted frames (real-valued). gt_duration: [B, L] frames.
        token_mask: [B, L] True at real tokens.

    Returns:
        A scalar.
    """
    return masked_mean((duration - gt_duration.to(duration.dtype)).pow(2), token_mask)


def f0_loss(f0: torch.Tensor, gt_f0: torch.Tensor, voiced: torch.Tensor) -> torch.Tensor:
    """MSE in Hz² between predicted and measured F0 over frames voiced in the target.

    Args:
        f0: [B, F] predicted Hz at the frame rate. gt_f0: [B, F] measured Hz.
        voiced: [B, F] True at real, voiced frames.

    Returns:
        A scalar.
    """
    return masked_mean((f0 - gt_f0).pow(2), voiced)


def stft_magnitude(audio: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """|STFT| of [B, T] audio with a Hann window: [B, n_fft / 2 + 1, frames]."""
    window = torch.hann_window(win, device=audio.device, dtype=audio.dtype)
    spec = torch.stft(audio, n_fft, hop, win, window=window, center=True, return_complex=True)
    return torch.sqrt((spec.real.pow(2) + spec.imag.pow(2)).clamp(min=1e-12))


@functools.cache
def _mel_basis(sample_rate: int, n_fft: int, n_mels: int) -> torch.Tensor:
    import librosa

    return torch.from_numpy(librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels))  # [M, K]


def log_mel(audio: torch.Tensor, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Differentiable log-magnitude mel spectrogram: [B, T] → [B, 80, frames]."""
    mag = stft_magnitude(audio, MEL_N_FFT, MEL_HOP, MEL_N_FFT)  # [B, 513, frames]
    basis = _mel_basis(sample_rate, MEL_N_FFT, MEL_BANDS).to(audio.device, audio.dtype)  # [80, 513]
    return torch.log((basis @ mag).clamp(min=LOG_FLOOR))  # [B, 80, frames]


def log_mel_l1(audio: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean |log-mel(audio) - log-mel(target)| in natural-log units; both [B, T]."""
    return (log_mel(audio) - log_mel(target)).abs().mean()


def multi_resolution_stft_loss(
    audio: torch.Tensor,
    target: torch.Tensor,
    resolutions: tuple[tuple[int, int, int], ...] = STFT_RESOLUTIONS,
) -> torch.Tensor:
    """Spectral convergence + log-magnitude L1, averaged over ``(n_fft, hop, win)`` resolutions.

    Args:
        audio, target: [B, T].

    Returns:
        A scalar.
    """
    total = audio.new_zeros(())
    for n_fft, hop, win in resolutions:
        pred = stft_magnitude(audio, n_fft, hop, win)  # [B, K, frames]
        true = stft_magnitude(target, n_fft, hop, win)
        convergence = torch.linalg.norm(true - pred) / torch.linalg.norm(true).clamp(min=1e-8)
        log_l1 = (torch.log(pred.clamp(min=LOG_FLOOR)) - torch.log(true.clamp(min=LOG_FLOOR))).abs().mean()
        total = total + convergence + log_l1
    return total / len(resolutions)
