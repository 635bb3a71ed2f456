"""Griffin–Lim: turn a log-mel spectrogram back into audio without a neural vocoder.

Griffin–Lim estimates the phase the mel spectrogram threw away by alternating between the time and
frequency domains. It is slow, and it sounds metallic and phasey, but it needs no training, so it
shows what a predicted mel *contains*. Kokoro itself never makes a mel: its iSTFTNet decoder goes
from features straight to a waveform.
"""

from __future__ import annotations

import numpy as np
import torch

from .data import MEL_SETTINGS


def griffin_lim(log_mel: torch.Tensor | np.ndarray, n_iter: int = 32) -> np.ndarray:
    """Natural-log magnitude mel [T, n_mels] (as in the corpus, *not* normalised) → 24 kHz audio [≈ 600·T].

    Uses ``librosa.feature.inverse.mel_to_audio`` with the corpus's analysis settings.
    """
    import librosa

    mel = torch.as_tensor(log_mel).detach().cpu().float().numpy()
    if mel.ndim != 2 or mel.shape[1] != MEL_SETTINGS["n_mels"]:
        raise ValueError(
            f"Expected a log-mel of shape [T, {MEL_SETTINGS['n_mels']}], got {mel.shape}; "
            "pass mel[0] for a batch, and denormalise model output first (dataset.denormalize)."
        )
    s = MEL_SETTINGS
    audio = librosa.feature.inverse.mel_to_audio(
        np.exp(mel.T),
        sr=s["sample_rate"],
        n_fft=s["n_fft"],
        hop_length=s["hop_length"],
        win_length=s["win_length"],
        fmin=s["fmin"],
        fmax=s["fmax"],
        power=1.0,
        n_iter=n_iter,
    )
    return audio.astype(np.float32)
