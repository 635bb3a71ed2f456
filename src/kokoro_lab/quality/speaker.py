"""Speaker similarity: cosine of resemblyzer's d-vectors (a GE2E speaker encoder, 256 values).

resemblyzer ships its weights as ``pretrained.pt`` inside the package. Its own ``VoiceEncoder``
reads them with a bare ``torch.load``, which on torch < 2.6 unpickles arbitrary objects. Here the
file's SHA-256 is checked first, then it is read with ``torch.load(weights_only=True)`` into the
same network, and resemblyzer's own preprocessing and ``embed_utterance`` do the rest.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import SAMPLE_RATE
from .inputs import ModelUnavailableError, check_audio

ENCODER_RATE = 16_000  # Hz, resemblyzer's hparams.sampling_rate
EMBEDDING_DIM = 256
# resemblyzer 0.1.4's pretrained.pt (17,090,379 bytes); a different file is not the model measured here.
RESEMBLYZER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
INSTALL_SPEAKER = 'pip install resemblyzer "setuptools<81"'
_TRAINING_ONLY = ("similarity_weight", "similarity_bias")  # GE2E loss parameters, not the encoder


@dataclass(frozen=True)
class SpeakerSimilarity:
    """How alike two voices sound to the speaker encoder."""

    cosine: float  # cosine of the two embeddings; resemblyzer's are ≥ 0, so 0..1, 1 = same voice
    resampled_from: int | None  # the input rate when it was not 24 kHz

    def __float__(self) -> float:
        return self.cosine


def _import_resemblyzer():
    try:
        with warnings.catch_warnings():
            # webrtcvad, which resemblyzer imports, imports pkg_resources (hence setuptools<81)
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            warnings.filterwarnings(
                "ignore", message=".*scipy.ndimage.morphology", category=DeprecationWarning
            )
            import resemblyzer
    except ImportError as e:  # a missing resemblyzer, webrtcvad or pkg_resources alike
        raise ModelUnavailableError(
            f"The speaker encoder comes from resemblyzer, which did not import ({e}): {INSTALL_SPEAKER}"
        ) from e
    return resemblyzer


def weights_path() -> Path:
    """The ``pretrained.pt`` shipped inside the installed resemblyzer package."""
    resemblyzer = _import_resemblyzer()
    return Path(resemblyzer.__file__).resolve().parent / "pretrained.pt"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.cache
def load_speaker_encoder():
    """resemblyzer's ``VoiceEncoder`` on the CPU with its verified weights, loaded once.

    Raises:
        ModelUnavailableError: resemblyzer is missing, or its ``pretrained.pt`` is missing, is not
            the expected file, or does not fit the network.
    """
    resemblyzer = _import_resemblyzer()
    import torch
    from resemblyzer import hparams

    path = weights_path()
    if not path.is_file():
        raise ModelUnavailableError(f"resemblyzer's weights {path} are missing; reinstall: {INSTALL_SPEAKER}")
    digest = _sha256(path)
    if digest != RESEMBLYZER_SHA256:
        raise ModelUnavailableError(
            f"{path} has SHA-256 {digest}, not resemblyzer 0.1.4's {RESEMBLYZER_SHA256}; "
            f"reinstall it: pip install --force-reinstall resemblyzer==0.1.4"
        )

    class VerifiedVoiceEncoder(resemblyzer.VoiceEncoder):
        """resemblyzer's network, built without its own ``torch.load``."""

        def __init__(self, state_dict: dict):
            torch.nn.Module.__init__(self)  # VoiceEncoder.__init__ would load the file itself
            self.lstm = torch.nn.LSTM(
                hparams.mel_n_channels, hparams.model_hidden_size, hparams.model_num_layers, batch_first=True
            )
            self.linear = torch.nn.Linear(hparams.model_hidden_size, hparams.model_embedding_size)
            self.relu = torch.nn.ReLU()
            self.device = torch.device("cpu")
            self.load_state_dict(state_dict, strict=True)  # every weight present, nothing left over
            self.eval()

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)  # tensors only, no code
        state = {k: v for k, v in checkpoint["model_state"].items() if k not in _TRAINING_ONLY}
        return VerifiedVoiceEncoder(state)
    except Exception as e:
        raise ModelUnavailableError(
            f"Could not load resemblyzer's weights from {path}: {e}; {INSTALL_SPEAKER}"
        ) from e


def _embed(audio: np.ndarray, sample_rate: int, name: str) -> tuple[np.ndarray, int | None]:
    checked = check_audio(audio, sample_rate, ENCODER_RATE, name)
    encoder = load_speaker_encoder()
    from resemblyzer import preprocess_wav

    # volume up to -30 dBFS (never down) and pauses over ~0.2 s cut, as resemblyzer was trained
    wav = preprocess_wav(checked.samples)
    if wav.size < ENCODER_RATE // 10:  # the VAD kept almost nothing: embed the whole signal
        wav = checked.samples
    embedding = encoder.embed_utterance(wav.astype(np.float32))  # [256], L2-normalised
    return embedding.astype(np.float32), checked.resampled_from


def speaker_embedding(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """resemblyzer's utterance embedding of ``audio``.

    Args:
        audio: mono speech [T] at ``sample_rate`` Hz (resampled to 16 kHz).
        sample_rate: Hz.

    Returns:
        [256] float32, unit L2 norm, every value ≥ 0.
    """
    return _embed(audio, sample_rate, "audio")[0]


def speaker_similarity(
    audio: np.ndarray, reference: np.ndarray, sample_rate: int = SAMPLE_RATE
) -> SpeakerSimilarity:
    """Cosine similarity of the speakers of ``audio`` and ``reference``.

    Args:
        audio, reference: mono speech [T], [T'] (any lengths, any texts), both at ``sample_rate``.
        sample_rate: Hz; resampled to 16 kHz.

    Returns:
        :class:`SpeakerSimilarity`; ``float()`` of it is the cosine. Over Harvard lists 1–5,
        Kokoro's jf_alpha and jm_kumo score 0.84 and 0.87 on average (never under 0.67) against
        themselves on another sentence, and 0.47 (at most 0.60) against each other.
    """
    a, resampled_from = _embed(audio, sample_rate, "audio")
    b, _ = _embed(reference, sample_rate, "reference")
    cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
    return SpeakerSimilarity(cosine, resampled_from)
