"""A new language for Kokoro: Luxembourgish text, how much of it the vocabulary covers, and a mapping.

Kokoro's tokenizer is one id per character of the phoneme string, over a fixed vocabulary of
114 symbols. eSpeak NG ships a Luxembourgish voice (``lb``, by Marco Barnig) and misaki's eSpeak
backend runs it offline, so ``phonemize(text, "lb")`` gives phonemes at once; but some of the
characters eSpeak writes for Luxembourgish are not in Kokoro's vocabulary, and ``tokenize`` would
drop those sounds (with a warning). Before fine-tuning on a new language, measure:
:func:`coverage` counts every symbol the phonemized text uses and how much of it Kokoro has, both
over distinct symbols (type coverage) and over occurrences (token coverage).

Measured on :func:`texts` (51 sentences with 293 running words, and a list of 294 words; eSpeak
NG through misaki 0.9.4), eSpeak's ``lb`` output uses 49 distinct symbols (whitespace excluded)
in 3,148 occurrences. Kokoro's vocabulary has 45 of them, a type coverage of 91.8%, and 3,010 of
the occurrences, a token coverage of 95.6%. The 4 missing symbols, with their counts: ``ʀ`` 78,
``g`` 43, ``X`` 10, ``ʑ`` 7. The only combining mark eSpeak writes is the nasal tilde U+0303 (4
times: ``ɑ̃ː`` in *Restaurant*), which Kokoro has as a token of its own (French and Portuguese
nasal vowels). After :func:`to_kokoro` both coverages are 100%.

:data:`MAPPING_TABLE` maps each missing symbol to the nearest one Kokoro has, plus one symbol
Kokoro has but eSpeak's ``lb`` voice uses for another sound; :func:`to_kokoro` applies it:

======  ===========================  ===========  ==============================================
symbol  example (eSpeak ``lb``)      replacement  why
======  ===========================  ===========  ==============================================
``ʀ``   *Stären* ʃtˈɛːʀən            ``ʁ``        Uvular trill; Kokoro has the uvular fricative
                                                  (French r). Both are /ʁ/ in Luxembourgish:
                                                  eSpeak itself writes ʁ in codas (*Kanner*
                                                  kˈɑnʁ).
``g``   *gutt* gˈut                  ``ɡ``        The same sound: eSpeak's ``lb`` voice writes
                                                  ASCII g (U+0067), Kokoro's vocabulary has the
                                                  IPA letter ɡ (U+0261).
``X``   *aacht* ˈaːXt                ``χ``        Not IPA: the ``lb`` voice defines no IPA for its
                                                  fricative ``x`` and prints its name. It occurs
                                                  only after back vowels (*Woch*, *Buch*), where
                                                  Luxembourgish has uvular [χ] (the partner of ʁ).
``ʑ``   *Bierger* bˈiːʁʑʁ            ``ʒ``        Voiced alveolo-palatal fricative; Kokoro has
                                                  the voiceless ɕ but not ʑ. ʒ is the nearest
                                                  voiced sibilant (a palatalised ʒ is ʑ).
``ɳ``   *néng* nˈeɳ                  ``ŋ``        In the vocabulary, but as Hindi's retroflex n.
                                                  The ``lb`` voice labels its velar nasal (the
                                                  *ng* of *Dschungel*) ɳ; Luxembourgish has ŋ.
======  ===========================  ===========  ==============================================

The mapping loses two distinctions, ʀ/ʁ (allophones of one Luxembourgish phoneme) and ʑ/ʒ
(neighbours); the alternative is new tokens: :mod:`.vocab_extension` grows the embeddings by
:data:`NEW_SOUNDS`, rows copied from the replacements above, for fine-tuning to tell them apart.
"""

from __future__ import annotations

import functools
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..original.text import phonemize
from ..original.text import vocab as kokoro_vocab

# Short everyday sentences: greetings, weather, family, numbers and time, shopping.
EVERYDAY_SENTENCES = (
    "Moien!",
    "Moien, wéi geet et?",
    "Merci, et geet mer gutt.",
    "Gudde Moien!",
    "Gudden Owend!",
    "Gutt Nuecht!",
    "Äddi, bis muer!",
    "Bis geschwënn!",
    "Wéi heeschs du?",
    "Ech heeschen Anna.",
    "Ech wunnen zu Lëtzebuerg.",
    "Ech schwätze Lëtzebuergesch.",
    "Schwätzt Dir Franséisch?",
    "Merci villmols!",
    "Entschëllegt, ech verstinn net.",
    "Kënnt Dir mir hëllefen?",
    "Haut ass et kal.",
    "Et reent haut.",
    "D'Sonn schéngt.",
    "Muer gëtt et waarm.",
    "Et schneit am Wanter.",
    "Den Himmel ass gro.",
    "Ech hunn zwee Bridder an eng Schwëster.",
    "Meng Mamm schafft am Spidol.",
    "Mäi Papp kacht gären.",
    "Eis Kanner ginn an d'Schoul.",
    "Mäi Brudder spillt Fussball.",
    "Meng Boma wunnt um Land.",
    "Eent, zwee, dräi, véier, fënnef.",
    "Sechs, siwen, aacht, néng, zéng.",
    "Ech sinn drësseg Joer al.",
    "Wéi spéit ass et?",
    "Et ass dräi Auer.",
    "De Bus kënnt an zéng Minutten.",
    "Wéi vill kascht dat?",
    "Dat kascht fënnef Euro.",
    "Ech hätt gär e Kaffi, wann ech gelift.",
    "Ech hätt gär e Brout.",
    "Hutt Dir Mëllech?",
    "Ech ginn akafen.",
    "D'Geschäft mécht um néng Auer op.",
    "Mir iessen haut den Owend Fësch.",
    "Ech drénken e Glas Waasser.",
    "Ech hunn Honger.",
    "Wou ass d'Gare?",
)

# Words chosen to reach every vowel, diphthong and consonant of Luxembourgish (after the example
# words in eSpeak's ph_luxembourgish), then days, months, numbers, family, colours and food.
INVENTORY_WORDS = (
    # vowels and diphthongs
    "Kapp", "Kap", "Stären", "Méck", "hell", "liesen", "Kanner", "midd", "Biischt", "Sprooch",
    "gutt", "Duuscht", "Süden", "Restaurant", "Cousin", "Saison", "Pardon", "Zäit", "Auto",
    "Raum", "Leit", "fréi", "Euro", "hien", "Schoul", "Buedem",
    # consonants
    "Bierger", "Jugend", "Dschungel", "Garage", "Joer", "Woch", "Nuecht", "Buch", "Frënd",
    # days and months
    "Méindeg", "Dënschdeg", "Mëttwoch", "Donneschdeg", "Freideg", "Samschdeg", "Sonndeg",
    "Januar", "Februar", "Mäerz", "Abrëll", "Mee", "Juni", "Juli", "August", "September",
    "Oktober", "November", "Dezember",
    # numbers
    "eent", "zwee", "dräi", "véier", "fënnef", "sechs", "siwen", "aacht", "néng", "zéng",
    "eelef", "zwielef", "zwanzeg", "honnert", "dausend",
    # family, colours, food
    "Mamm", "Papp", "Brudder", "Schwëster", "Kand", "Boma", "Bopa", "Famill",
    "rout", "gréng", "blo", "giel", "wäiss", "schwaarz",
    "Brout", "Kéis", "Fleesch", "Gromperen", "Ee", "Mëllech", "Waasser", "Kaffi", "Téi", "Äppel",
    "Bier",
)  # fmt: skip


# Stop words that eSpeak's lb voice phonemizes to nothing at all (alone, it reads no sound for them).
SILENT_STOP_WORDS = frozenset({"à", "ë"})


class MappingRow(NamedTuple):
    """One row of the mapping table: what eSpeak writes, where, what Kokoro gets instead, and why."""

    symbol: str
    example: str  # a word and eSpeak's phonemes for it
    replacement: str
    why: str
    new_sound: bool  # a sound Kokoro lacks (a candidate new token), not just another spelling


MAPPING_TABLE = (
    MappingRow(
        "ʀ", "Stären ʃtˈɛːʀən", "ʁ", "uvular trill; Kokoro has the uvular fricative, /ʁ/ in both", True
    ),
    MappingRow("g", "gutt gˈut", "ɡ", "the same sound: ASCII g (U+0067) vs the IPA letter ɡ (U+0261)", False),
    MappingRow(
        "X",
        "aacht ˈaːXt",
        "χ",
        "the lb voice's name for its fricative (no IPA given); uvular after back vowels",
        False,
    ),
    MappingRow(
        "ʑ", "Bierger bˈiːʁʑʁ", "ʒ", "voiced alveolo-palatal fricative; nearest voiced sibilant", True
    ),
    MappingRow(
        "ɳ", "néng nˈeɳ", "ŋ", "in the vocabulary as Hindi's retroflex n; lb means the velar nasal", False
    ),
)
MAPPING = {row.symbol: row.replacement for row in MAPPING_TABLE}  # eSpeak lb symbol → Kokoro's
# The sounds Kokoro lacks, and the existing symbol a new token's embedding rows start from.
NEW_SOUNDS = {row.symbol: row.replacement for row in MAPPING_TABLE if row.new_sound}


def to_kokoro(phonemes: str, keep: Iterable[str] = ()) -> str:
    """Map eSpeak ``lb`` phonemes onto Kokoro's vocabulary with :data:`MAPPING`, character by character.

    Args:
        phonemes: ``phonemize(text, "lb")``.
        keep: symbols to leave as they are because the vocabulary was extended with them
            (e.g. ``NEW_SOUNDS`` after :func:`.vocab_extension.extend_vocabulary`).

    Returns:
        The same string with each mapped symbol replaced; anything else is untouched.
    """
    keep = set(keep)
    return "".join(ch if ch in keep else MAPPING.get(ch, ch) for ch in phonemes)


@functools.cache
def fable_sentences() -> tuple[str, ...]:
    """*The North Wind and the Sun* in Luxembourgish (6 sentences), as spaCy ships it."""
    from spacy.lang.lb.examples import sentences

    return tuple(sentences)


@functools.cache
def stop_words() -> tuple[str, ...]:
    """spaCy's 204 Luxembourgish stop words (the most frequent function words), sorted."""
    from spacy.lang.lb.stop_words import STOP_WORDS

    return tuple(sorted(STOP_WORDS))


def sentences() -> tuple[str, ...]:
    """The fable, then :data:`EVERYDAY_SENTENCES`: 51 sentences."""
    return fable_sentences() + EVERYDAY_SENTENCES


def words() -> tuple[str, ...]:
    """The stop words eSpeak says something for, then :data:`INVENTORY_WORDS` not among them."""
    stops = tuple(w for w in stop_words() if w not in SILENT_STOP_WORDS)
    return stops + tuple(w for w in dict.fromkeys(INVENTORY_WORDS) if w not in stops)


def texts() -> tuple[str, ...]:
    """Every sentence and word: the text set the coverage figures are measured on."""
    return sentences() + words()


def symbol_kind(symbol: str) -> str:
    """``"combining mark"``, ``"stress"`` (ˈ ˌ), ``"length"`` (ː), ``"punctuation"`` or ``"phone"``."""
    if unicodedata.combining(symbol):
        return "combining mark"
    if symbol in "ˈˌ":
        return "stress"
    if symbol == "ː":
        return "length"
    if unicodedata.category(symbol)[0] in "PS":
        return "punctuation"
    return "phone"


@dataclass(frozen=True)
class Coverage:
    """Which phoneme symbols a text set uses, and how many of them a vocabulary has.

    A symbol is one character, as Kokoro tokenizes: a combining diacritic (the nasal tilde of
    ``ɑ̃``) counts as a symbol of its own. Whitespace is left out (it is a word boundary, and in
    every vocabulary).
    """

    counts: dict[str, int]  # symbol → occurrences, most frequent first
    covered: frozenset[str]  # the symbols the vocabulary has
    examples: dict[str, list[tuple[str, str]]]  # missing symbol → up to 3 (text, its phonemes)
    n_texts: int

    @property
    def missing(self) -> dict[str, int]:
        """Symbols the vocabulary lacks → occurrences, most frequent first."""
        return {s: n for s, n in self.counts.items() if s not in self.covered}

    @property
    def type_coverage(self) -> float:
        """Fraction of the distinct symbols that the vocabulary has."""
        return len(self.covered) / len(self.counts) if self.counts else 1.0

    @property
    def token_coverage(self) -> float:
        """Fraction of all symbol occurrences that the vocabulary has (what tokenize keeps)."""
        total = sum(self.counts.values())
        return sum(n for s, n in self.counts.items() if s in self.covered) / total if total else 1.0

    @property
    def combining(self) -> dict[str, int]:
        """The combining marks among the symbols → occurrences (each is a token for Kokoro)."""
        return {s: n for s, n in self.counts.items() if symbol_kind(s) == "combining mark"}

    def report(self) -> str:
        """A plain-text summary: totals, the coverages, and each missing symbol with examples."""
        lines = [
            f"{self.n_texts} texts, {len(self.counts)} distinct symbols, {sum(self.counts.values())} "
            f"occurrences; type coverage {self.type_coverage:.1%}, token coverage {self.token_coverage:.1%}",
        ]
        for s, n in self.missing.items():
            name = unicodedata.name(s, "?")
            shown = "; ".join(f"{t} → {p}" for t, p in self.examples[s])
            lines.append(f"  missing {s!r} (U+{ord(s):04X} {name}, {symbol_kind(s)}): {n} × e.g. {shown}")
        for s, n in self.combining.items():
            where = "in" if s in self.covered else "not in"
            lines.append(
                f"  combining mark U+{ord(s):04X} {unicodedata.name(s, '?')}: {n} ×, {where} the vocabulary"
            )
        return "\n".join(lines)


def coverage(
    texts: Sequence[str],
    lang: str = "lb",
    vocab: dict[str, int] | None = None,
    mapped: bool = False,
) -> Coverage:
    """Phonemize ``texts`` and measure how much of their symbol inventory ``vocab`` covers.

    Args:
        texts: sentences or words (e.g. :func:`texts`).
        lang: the language code for :func:`kokoro_lab.original.text.phonemize`.
        vocab: symbol → id; Kokoro's by default.
        mapped: measure after :func:`to_kokoro` (what Kokoro would get), not eSpeak's raw output.
    """
    v = kokoro_vocab() if vocab is None else vocab
    counts: Counter[str] = Counter()
    found: dict[str, dict[str, str]] = {}  # missing symbol → {text: phonemes}
    for text in texts:
        phonemes = phonemize(text, lang)
        if mapped:
            phonemes = to_kokoro(phonemes)
        for s in phonemes:
            if s.isspace():
                continue
            counts[s] += 1
            if s not in v:
                found.setdefault(s, {})[text] = phonemes
    counts_sorted = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    # the shortest texts make the clearest examples
    examples = {s: sorted(found[s].items(), key=lambda tp: (len(tp[0]), tp[0]))[:3] for s in found}
    return Coverage(
        counts=counts_sorted,
        covered=frozenset(s for s in counts if s in v),
        examples={s: examples[s] for s in counts_sorted if s not in v},
        n_texts=len(texts),
    )
