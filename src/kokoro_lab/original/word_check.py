"""Word timings against an independent aligner's, such as a speech recogniser's word timestamps.

:func:`match_words` pairs our words with the words another source heard (by their spelling,
case and punctuation ignored, in order: a word either side missed or misheard is skipped), and
:func:`start_errors` gives the start-time difference of every matched pair. The control
(``shift=1``) compares each of our words with the *next* heard word instead: if the timings
carry information, that is far worse than the real pairing.

The module needs no recogniser itself: give it ``(word, start_s)`` pairs from anywhere
(``bench/timestamps.py`` uses Whisper's, via :mod:`kokoro_lab.quality`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import numpy as np

from .timestamps import WordTiming

_NOT_LETTERS = re.compile(r"[^\w']+")


def spelling(word: str) -> str:
    """A word as compared: lower case, only letters, digits and apostrophes ("Hello," → "hello")."""
    return _NOT_LETTERS.sub("", word.lower().replace("’", "'")).strip("'")


def match_words(ours: Sequence[str], theirs: Sequence[str]) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``: our word ``i`` is their word ``j`` (same spelling, in order).

    Runs of words that agree are found with :class:`difflib.SequenceMatcher`; every other word
    (misheard, missing, split differently) is left unmatched.
    """
    a, b = [spelling(w) for w in ours], [spelling(w) for w in theirs]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [
        (i + k, j + k)
        for tag, i, _, j, n_end in matcher.get_opcodes()
        if tag == "equal"
        for k in range(n_end - j)
        if a[i + k]  # a word with no letters is no evidence
    ]


def start_errors(
    words: Sequence[WordTiming], heard: Sequence[tuple[str, float]], shift: int = 0
) -> np.ndarray:
    """Our start minus their start, in seconds, for every matched word. → [n_matched - shift].

    Args:
        words: our word timings, in order.
        heard: ``(word, start_s)`` per word the other source heard, in order.
        shift: 0 for the real comparison; 1 for the control, which compares our word ``i + 1``
            with their word matched to our word ``i``.
    """
    pairs = match_words([w.word for w in words], [h[0] for h in heard])
    return np.array(
        [words[i + shift].start_s - heard[j][1] for i, j in pairs if i + shift < len(words)], dtype=np.float64
    )
