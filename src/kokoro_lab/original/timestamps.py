"""Word timestamps from the duration predictor: which tokens belong to which word, and when.

Kokoro predicts a duration for every phoneme token (in frames of 600 samples at 24 kHz, the
speed already applied), so a word's start and end follow from the tokens that spell it. What
the front-end installed here offers for the word → token map is eSpeak NG through misaki (see
:mod:`kokoro_lab.original.text`), which returns one phoneme string and no word boundaries of its
own. The map is rebuilt in one of three ways, tried in order and recorded as ``method``:

``"spaces"``
    The phoneme string, split at spaces, has as many sounding words as the text, and every word
    phonemized alone is one phoneme word: word *i* is phoneme word *i*.
``"word-by-word"``
    Some words are several phoneme words ("$3.50" → three; "--" is no word at all): each text
    word is phonemized alone (eSpeak is fast: about 0.05 ms a word), and when the pieces add up
    to the sentence's count, consecutive phoneme words are grouped by those counts.
``"char-aligned"``
    They still do not add up, because eSpeak joins words in context ("in the" → ``ɪnðə``): the
    word-by-word phonemes are aligned with the sentence's character by character (stress marks
    ignored) and each word takes the characters aligned with its own.
"""

from __future__ import annotations

import difflib
import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..config import SAMPLE_RATE, SAMPLES_PER_FRAME
from .text import phonemize, vocab

# Vocabulary symbols that are not sounds: pauses, quotes and intonation arrows.
NON_SOUNDS = frozenset(' !"(),.:;?—“”…→↓↗↘')
STRESS = frozenset("ˈˌ")
SPOKEN_PUNCTUATION = frozenset("&%@#*§°")  # Unicode calls them punctuation; eSpeak reads them out
METHODS = ("spaces", "word-by-word", "char-aligned")


@dataclass(frozen=True)
class WordTiming:
    """One word of the text and when it is spoken, in seconds from the start of the audio."""

    word: str  # as written, punctuation attached ("Hello,")
    start_s: float
    end_s: float
    tokens: tuple[int, ...]  # the token ids that spell it, first to last sound (pauses excluded)
    phonemes: str = ""
    chunk: int = 0  # the synthesis chunk its first token is in

    def as_dict(self) -> dict:
        return {
            "word": self.word,
            "start": round(self.start_s, 4),
            "end": round(self.end_s, 4),
            "phonemes": self.phonemes,
            "tokens": list(self.tokens),
            "chunk": self.chunk,
        }


@dataclass(frozen=True)
class WordAlignment:
    """Text words and the characters of a phoneme string that spell each of them."""

    words: list[str]
    spans: list[tuple[int, int]]  # [start, stop) into ``phonemes``; start == stop: no sound
    phonemes: str
    method: str  # one of METHODS


def is_word(token: str) -> bool:
    """A white-space token is a word if it holds a letter, digit or symbol ("&", "%"), not only "--"."""
    return any(unicodedata.category(c)[0] in "LNS" or c in SPOKEN_PUNCTUATION for c in token)


def text_words(text: str) -> list[str]:
    """The words of ``text`` as written (split at white space, punctuation-only tokens dropped)."""
    return [t for t in text.split() if is_word(t)]


def _is_sound(c: str) -> bool:
    return c in vocab() and c not in NON_SOUNDS


def _sounding_spans(phonemes: str) -> list[tuple[int, int]]:
    """[start, stop) of each space-separated phoneme word, trimmed to its first and last sound."""
    spans, i = [], 0
    for part in phonemes.split(" "):
        idx = [i + k for k, c in enumerate(part) if _is_sound(c)]
        if idx:
            spans.append((idx[0], idx[-1] + 1))
        i += len(part) + 1
    return spans


@functools.lru_cache(maxsize=4096)
def _word_phonemes(word: str, lang: str) -> str:
    try:
        return phonemize(word, lang)
    except ValueError:  # nothing eSpeak can say
        return ""


def _count_sounding(phonemes: str) -> int:
    return len(_sounding_spans(phonemes))


def _char_align(words: list[str], phonemes: str, lang: str) -> list[tuple[int, int]]:
    """Spans for ``words`` by aligning their one-by-one phonemes with ``phonemes`` (difflib)."""
    pos = [j for j, c in enumerate(phonemes) if _is_sound(c) and c not in STRESS]
    b = "".join(phonemes[j] for j in pos)
    pieces = ["".join(c for c in _word_phonemes(w, lang) if _is_sound(c) and c not in STRESS) for w in words]
    a = "".join(pieces)
    bounds = np.cumsum([0, *map(len, pieces)])
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()

    def to_b(i: int) -> int:  # a boundary in ``a`` → a boundary in ``b``
        for tag, i1, i2, j1, j2 in opcodes:
            if i1 <= i < i2:
                return j1 + (i - i1 if tag == "equal" else round((i - i1) * (j2 - j1) / (i2 - i1)))
        return len(b)

    spans = []
    for k in range(len(words)):
        s = 0 if k == 0 else to_b(int(bounds[k]))  # sounds before the first match are the first word's
        e = len(b) if k == len(words) - 1 else to_b(int(bounds[k + 1]))
        if e <= s:
            at = pos[s] if s < len(pos) else len(phonemes)
            spans.append((at, at))
            continue
        start, stop = pos[s], pos[e - 1] + 1
        while start > 0 and phonemes[start - 1] in STRESS:  # the word's own stress mark
            start -= 1
        spans.append((start, stop))
    return spans


def align_words(text: str, phonemes: str, lang: str = "a") -> WordAlignment:
    """Find the characters of ``phonemes`` (eSpeak NG's phonemes of ``text``) that spell each word.

    Args:
        text: the text that was phonemized.
        phonemes: its phoneme string, as :func:`~kokoro_lab.original.text.phonemize` returned it
            (or with punctuation removed; only sounds are matched).
        lang: the language code it was phonemized with (used by the word-by-word fallbacks).

    Returns:
        A :class:`WordAlignment` whose ``method`` says which of the module's three ways was used.
    """
    words = text_words(text)
    sounding = _sounding_spans(phonemes)
    counts = [_count_sounding(_word_phonemes(w, lang)) for w in words]  # phoneme words of each, alone
    if sum(counts) != len(sounding):
        return WordAlignment(words, _char_align(words, phonemes, lang), phonemes, "char-aligned")
    spans, k = [], 0
    for n in counts:
        if n:
            spans.append((sounding[k][0], sounding[k + n - 1][1]))
        else:  # eSpeak says nothing for it alone: an empty span where the next word starts
            at = sounding[k][0] if k < len(sounding) else len(phonemes)
            spans.append((at, at))
        k += n
    method = "spaces" if all(n == 1 for n in counts) else "word-by-word"
    return WordAlignment(words, spans, phonemes, method)


def _char_locations(full: str, chunks: Sequence[str]) -> list[tuple[int, int] | None]:
    """For each character of ``full``: (chunk, index in that chunk), or None for white space.

    The chunks must hold ``full``'s non-space characters in order (what ``split_phonemes`` makes).
    """
    where: list[tuple[int, int] | None] = [None] * len(full)
    theirs = [(ci, pi) for ci, c in enumerate(chunks) for pi, ch in enumerate(c) if not ch.isspace()]
    ours = [j for j, c in enumerate(full) if not c.isspace()]
    if len(theirs) != len(ours) or any(
        full[j] != chunks[ci][pi] for j, (ci, pi) in zip(ours, theirs, strict=True)
    ):
        raise ValueError("The chunks do not spell the phoneme string they were split from.")
    for j, loc in zip(ours, theirs, strict=True):
        where[j] = loc
    return where


def _token_index(phonemes: str) -> list[int | None]:
    """Index of each character's token in ``[0, *tokenize(phonemes), 0]``; None if it is dropped."""
    v, out, t = vocab(), [], 1
    for c in phonemes:
        out.append(t if c in v else None)
        t += c in v
    return out


def word_timings(
    alignment: WordAlignment,
    chunks: Sequence[str],
    tokens: Sequence[Sequence[int]],
    durations: Sequence[np.ndarray],
    starts: Sequence[int],
    sample_rate: int = SAMPLE_RATE,
) -> list[WordTiming]:
    """Start and end of every aligned word.

    Args:
        alignment: words aligned with a phoneme string (:func:`align_words`).
        chunks: that string as it was synthesized, in pieces (white space may differ).
        tokens: per chunk, the model's input ids ``[0, *ids, 0]``.
        durations: per chunk, frames per token (600 samples each), aligned with ``tokens``.
        starts: per chunk, the sample at which its audio starts in the joined audio.
        sample_rate: Hz.

    Returns:
        One :class:`WordTiming` per word; a word with no sound of its own gets a zero-length
        timing where the previous word ends.
    """
    where = _char_locations(alignment.phonemes, chunks)
    index = [_token_index(c) for c in chunks]
    edges = [np.concatenate([[0], np.cumsum(d)]) * SAMPLES_PER_FRAME for d in durations]  # samples

    def locate(j: int) -> tuple[int, int]:  # character → (chunk, token index)
        ci, pi = where[j]
        return ci, index[ci][pi]

    out: list[WordTiming] = []
    for word, (a, b) in zip(alignment.words, alignment.spans, strict=True):
        if a == b or where[a] is None or index[where[a][0]][where[a][1]] is None:
            t = out[-1].end_s if out else float(starts[0]) / sample_rate
            out.append(WordTiming(word, t, t, (), "", out[-1].chunk if out else 0))
            continue
        (c0, t0), (c1, t1) = locate(a), locate(b - 1)
        ids = tokens[c0][t0 : t1 + 1] if c0 == c1 else [*tokens[c0][t0:-1], *tokens[c1][1 : t1 + 1]]
        out.append(
            WordTiming(
                word,
                float(starts[c0] + edges[c0][t0]) / sample_rate,
                float(starts[c1] + edges[c1][t1 + 1]) / sample_rate,
                tuple(int(i) for i in ids),
                alignment.phonemes[a:b],
                c0,
            )
        )
    return out
