"""Long text → chunks the model speaks one at a time, each small enough for a CoreML bucket.

The text is split into sentences (:func:`~kokoro_lab.original.sentences.split_sentences`), each
sentence is phonemized whole (so eSpeak NG sees its context), and the sentences are packed into
chunks of at most ``max_phonemes`` tokens (default: the 15 s bucket's). A sentence longer than
that is cut between words, preferring a cut after ``; : — …`` or a comma, near the even split.

Where the phonemes meet the model, sentence-final intonation is kept only where a sentence
really ends:

* a chunk cut mid-sentence never ends with ``.``, ``!`` or ``?`` (a comma stays a comma, and a
  cut between plain words ends with no punctuation at all);
* eSpeak NG writes the full stop of an abbreviation ("Dr." → ``dˈɑːktɚ.``), which makes the model
  stop and fall as at a sentence end; inside a sentence those stops are dropped;
* a spaced double hyphen (``--``) becomes an em dash, which eSpeak keeps as a pause (it drops
  ``--``).

Chunks holding only punctuation ("...", "—") are skipped: the model speaks them as noise.
The first chunk is never packed with a second sentence, so a stream starts after one sentence.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .sentences import split_sentences
from .text import phonemize, vocab
from .timestamps import METHODS, NON_SOUNDS, WordAlignment, align_words, is_word

# The 15 s CoreML bucket's max_phonemes (kokoro_lab.coreml.buckets, which original/ does not
# import; tests/test_long_text.py checks that they agree): about 12 s of speech at most.
DEFAULT_MAX_PHONEMES = 158
CLAUSE_END = ";:—…"  # a cut after these sounds natural; after a comma nearly so
_INNER_STOP = re.compile(r"(?<![.])\.(?=\s)")  # a lone "." followed by a space: not the sentence's end
_DOUBLE_HYPHEN = re.compile(r"\s+-{2,}\s+|(?<=\w)-{2,}(?=\w)")


@dataclass(frozen=True)
class Chunk:
    """One model call's worth of text."""

    text: str
    phonemes: str
    alignment: WordAlignment  # the chunk's words and the phoneme characters of each
    ends_sentence: bool  # False when a long sentence was cut after this chunk

    @property
    def n_tokens(self) -> int:
        """Phoneme tokens (the model's two boundary tokens not included)."""
        return count_tokens(self.phonemes)


def count_tokens(phonemes: str) -> int:
    """Tokens :func:`~kokoro_lab.original.text.tokenize` makes of ``phonemes`` (unknown symbols dropped)."""
    v = vocab()
    return sum(c in v for c in phonemes)


def has_sound(phonemes: str) -> bool:
    """True if ``phonemes`` holds at least one sound, not only punctuation."""
    v = vocab()
    return any(c in v and c not in NON_SOUNDS for c in phonemes)


def sentence_phonemes(sentence: str, lang: str = "a") -> tuple[str, str]:
    """Phonemize one sentence as the long-text path does. → (the text used, its phonemes).

    ``--`` becomes an em dash first; full stops of abbreviations inside the sentence are dropped.
    """
    text = _DOUBLE_HYPHEN.sub(" — ", sentence).strip()
    phonemes = _INNER_STOP.sub("", phonemize(text, lang))
    return text, phonemes


def _word_starts(text: str) -> list[int]:
    return [m.start() for m in re.finditer(r"\S+", text) if is_word(m.group())]


def _cuts(alignment: WordAlignment) -> list[int]:
    """Phoneme-string index between words k-1 and k, for k = 0..n (a space where there is one)."""
    ph, spans = alignment.phonemes, alignment.spans
    cuts = [0]
    for k in range(1, len(spans)):
        space = ph.rfind(" ", spans[k - 1][1], spans[k][0])  # the last one: a lone "—" stays behind
        cuts.append(space if space >= 0 else spans[k][0])  # eSpeak may join words: "ɪnðə"
    return [*cuts, len(ph)]


def _slice(alignment: WordAlignment, text: str, starts: list[int], cuts: list[int], i: int, j: int) -> Chunk:
    """The chunk holding words [i, j) of one sentence."""
    raw = alignment.phonemes[cuts[i] : cuts[j]]
    lead = len(raw) - len(raw.lstrip())
    phonemes = raw.strip()
    final = j == len(alignment.words)
    if not final and not phonemes.endswith("..."):
        phonemes = phonemes.rstrip(".!?").rstrip()  # no sentence-final fall mid-sentence
    shift = cuts[i] + lead
    spans = [(max(0, a - shift), max(0, b - shift)) for a, b in alignment.spans[i:j]]
    piece_text = text[starts[i] if i else 0 : starts[j] if j < len(starts) else len(text)].strip()
    return Chunk(
        piece_text, phonemes, WordAlignment(alignment.words[i:j], spans, phonemes, alignment.method), final
    )


# Costs of a way to cut a long sentence (lower is better), minimised over all cuts.
CHUNK_COST = 0.2  # every chunk: fewer seams
BARE_CUT_COST = 0.5  # a cut between words with no mark: more than a chunk, so one more chunk may avoid it
COMMA_CUT_COST = 0.05
SHORT_CHUNK_COST = 0.3  # a chunk under a quarter of the limit: a short style vector, an abrupt phrase
BALANCE_COST = 0.2  # × (tokens / limit)² per chunk: prefers even pieces


def _cut_cost(text: str, starts: list[int], e: int) -> float:
    """Cost of cutting before word ``e`` (``e == len(starts)``: the sentence's end, free)."""
    if e == len(starts):
        return 0.0
    between = text[starts[e - 1] : starts[e]].rstrip()
    return 0.0 if between[-1:] in CLAUSE_END else COMMA_CUT_COST if between.endswith(",") else BARE_CUT_COST


def split_sentence(
    text: str, phonemes: str, lang: str = "a", max_phonemes: int = DEFAULT_MAX_PHONEMES
) -> list[Chunk]:
    """Cut one sentence into chunks of at most ``max_phonemes`` tokens, between words.

    The cuts minimise a cost (the ``*_COST`` constants): a little per chunk, more for a cut
    with no clause mark or comma, a short chunk, or uneven chunks.

    Args:
        text: the sentence (as :func:`sentence_phonemes` returned it).
        phonemes: its phonemes.
        lang: the language code it was phonemized with.
        max_phonemes: the token limit per chunk.

    Raises:
        ValueError: a single word has more than ``max_phonemes`` tokens.
    """
    alignment = align_words(text, phonemes, lang)
    n = len(alignment.words)
    starts, cuts = _word_starts(text), _cuts(alignment)
    if count_tokens(phonemes) <= max_phonemes or n < 2:
        return [_slice(alignment, text, starts, cuts, 0, n)]

    ph, v = alignment.phonemes, vocab()
    before = list(itertools.accumulate((c in v for c in ph), initial=0))  # tokens in ph[:j]
    first = [len(ph)] * (len(ph) + 1)  # first non-space index ≥ j
    for j in range(len(ph) - 1, -1, -1):
        first[j] = j if not ph[j].isspace() else first[j + 1]
    last = [0] * (len(ph) + 1)  # end of the last non-space character ≤ j
    for j in range(1, len(ph) + 1):
        last[j] = j if not ph[j - 1].isspace() else last[j - 1]

    def tokens(i: int, j: int) -> int:  # count_tokens(ph[cuts[i] : cuts[j]].strip())
        a, b = first[cuts[i]], last[cuts[j]]
        return before[b] - before[a] if b > a else 0

    best: list[tuple[float, int]] = [(0.0, -1)] + [(math.inf, -1)] * n  # cost of words [0, e), last cut
    for e in range(1, n + 1):
        for i in range(e - 1, -1, -1):
            t = tokens(i, e)
            if t > max_phonemes:
                break  # longer pieces only grow
            cost = (
                best[i][0] + CHUNK_COST + _cut_cost(text, starts, e) + BALANCE_COST * (t / max_phonemes) ** 2
            )
            cost += SHORT_CHUNK_COST if t < max_phonemes / 4 else 0.0
            if cost < best[e][0]:
                best[e] = (cost, i)
        if best[e][0] == math.inf and tokens(e - 1, e) > max_phonemes:
            raise ValueError(
                f"The word {alignment.words[e - 1]!r} alone has {tokens(e - 1, e)} phoneme tokens, more than "
                f"max_phonemes={max_phonemes}; raise max_phonemes or shorten the word."
            )
    bounds, e = [], n
    while e > 0:
        bounds.append(e)
        e = best[e][1]
    bounds = [0, *reversed(bounds)]
    return [_slice(alignment, text, starts, cuts, i, j) for i, j in itertools.pairwise(bounds)]


def _merge(a: Chunk, b: Chunk) -> Chunk:
    shift = len(a.phonemes) + 1
    spans = [*a.alignment.spans, *((s + shift, e + shift) for s, e in b.alignment.spans)]
    method = max(a.alignment.method, b.alignment.method, key=METHODS.index)
    phonemes = f"{a.phonemes} {b.phonemes}"
    alignment = WordAlignment([*a.alignment.words, *b.alignment.words], spans, phonemes, method)
    return Chunk(f"{a.text} {b.text}", phonemes, alignment, b.ends_sentence)


def plan_chunks(
    text: str, lang: str = "a", max_phonemes: int = DEFAULT_MAX_PHONEMES, pack: bool = True
) -> Iterator[Chunk]:
    """Yield the chunks of ``text`` in order, phonemizing one sentence ahead (lazily).

    Args:
        text: any amount of text; blank lines end sentences.
        lang: Kokoro language code.
        max_phonemes: tokens per chunk at most (default the 15 s bucket's ``max_phonemes``).
        pack: put consecutive whole sentences into one chunk while they fit (not the first chunk).

    Raises:
        ValueError: the text is empty or has nothing to say but punctuation.
    """
    if not 1 <= max_phonemes <= 510:
        raise ValueError(f"max_phonemes must be in 1..510, got {max_phonemes}.")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Text is empty; give at least one word to speak.")
    pending: Chunk | None = None
    emitted = 0
    for sentence in split_sentences(text):
        prepared, phonemes = sentence_phonemes(sentence, lang)
        if not has_sound(phonemes):
            continue  # "...", "—": punctuation only, which the model turns into noise
        for piece in split_sentence(prepared, phonemes, lang, max_phonemes):
            if (
                pending is not None
                and pack
                and emitted > 0
                and pending.ends_sentence
                and count_tokens(f"{pending.phonemes} {piece.phonemes}") <= max_phonemes
            ):
                pending = _merge(pending, piece)
                continue
            if pending is not None:
                yield pending
                emitted += 1
            pending = piece
    if pending is None:
        raise ValueError(
            f"Nothing to speak in {text[:40]!r}: it holds only punctuation; give at least one word."
        )
    yield pending
