"""Measures of audio: is it speech, how far is it from a reference, does its pitch agree."""

from .distance import aligned_log_mel_distance, log_mel_distance
from .pitch import F0Agreement, f0_agreement, pyin_f0
from .speech import SpeechStats, speech_stats

__all__ = [
    "F0Agreement",
    "SpeechStats",
    "aligned_log_mel_distance",
    "f0_agreement",
    "log_mel_distance",
    "pyin_f0",
    "speech_stats",
]
