"""Measures of audio: is it speech, how far is it from a reference, does its pitch agree,
can Whisper understand it, and does it sound like the same speaker.

The model-based measures (:func:`intelligibility`, :func:`transcribe`, :func:`speaker_similarity`)
share one signature, ``(audio, [reference,] sample_rate=SAMPLE_RATE, *, options)``, and one set of
input checks (:mod:`.inputs`): empty, silent, non-finite or multi-channel audio raises
``ValueError``; audio at another rate is resampled and the result's ``resampled_from`` says so.
"""

from .asr import AsrModel, AsrModelInfo, Transcript, Word, load_asr_model, transcribe
from .distance import aligned_log_mel_distance, log_mel_distance
from .harvard import HARVARD_SENTENCES, harvard_list
from .inputs import ModelUnavailableError
from .intelligibility import ErrorRates, IntelligibilityResult, SentenceScore, error_rates, intelligibility
from .pitch import F0Agreement, f0_agreement, pyin_f0
from .speaker import SpeakerSimilarity, load_speaker_encoder, speaker_embedding, speaker_similarity
from .speech import SpeechStats, speech_stats
from .text_normalization import normalize_text

__all__ = [
    "HARVARD_SENTENCES",
    "AsrModel",
    "AsrModelInfo",
    "ErrorRates",
    "F0Agreement",
    "IntelligibilityResult",
    "ModelUnavailableError",
    "SentenceScore",
    "SpeakerSimilarity",
    "SpeechStats",
    "Transcript",
    "Word",
    "aligned_log_mel_distance",
    "error_rates",
    "f0_agreement",
    "harvard_list",
    "intelligibility",
    "load_asr_model",
    "load_speaker_encoder",
    "log_mel_distance",
    "normalize_text",
    "pyin_f0",
    "speaker_embedding",
    "speaker_similarity",
    "speech_stats",
    "transcribe",
]
