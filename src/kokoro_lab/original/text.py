"""Text → phonemes → token ids, offline.

English uses misaki's full G2P when its spaCy model is installed, and otherwise misaki's eSpeak
NG backend (``phonemizer-fork`` with ``espeakng-loader``), which needs no download. The other
languages go through eSpeak NG as well.

Besides Kokoro's own languages, eSpeak NG's Luxembourgish (``"lb"``) is available: Kokoro was
not trained on it, so its phonemes come back as eSpeak writes them, and some are not in Kokoro's
vocabulary (:mod:`kokoro_lab.finetune.new_language` measures which and maps them).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import warnings

from ..config import MAX_PHONEME_TOKENS, load_config

# Kokoro's language codes (first letter of a voice name) → eSpeak NG voices.
LANGUAGES = {
    "a": "en-us",
    "b": "en-gb",
    "e": "es",
    "f": "fr-fr",
    "h": "hi",
    "i": "it",
    "p": "pt-br",
}
# Languages Kokoro was not trained on, by their eSpeak NG names: phonemized but not mapped.
EXTRA_LANGUAGES = {"lb": "lb"}  # Luxembourgish
_ESPEAK_VOICES = LANGUAGES | EXTRA_LANGUAGES
_ALIASES = {v: k for k, v in LANGUAGES.items()} | {"en": "a", "en-us": "a", "en-gb": "b"}
_SPLIT_AFTER = re.compile(r"(?<=[.!?;:,—…])\s+")
SYLLABIC_MARK = "\u0329"  # combining vertical line below


class TextTooLongError(ValueError):
    """The phonemes exceed the model's 510-token context and splitting is off."""


def _lang_code(lang: str) -> str:
    code = _ALIASES.get(lang, lang)
    if code not in _ESPEAK_VOICES:
        valid = sorted(_ESPEAK_VOICES) + sorted(set(_ALIASES) - set(_ESPEAK_VOICES))
        raise ValueError(f"Unsupported language {lang!r}; use one of {valid}.")
    return code


@functools.cache
def _g2p(code: str):
    if code in "ab" and importlib.util.find_spec("en_core_web_sm") is not None:
        from misaki import en, espeak

        fallback = espeak.EspeakFallback(british=code == "b")
        return en.G2P(trf=False, british=code == "b", fallback=fallback)
    from misaki import espeak

    return espeak.EspeakG2P(language=_ESPEAK_VOICES[code])


def phonemize(text: str, lang: str = "a") -> str:
    """Convert ``text`` to phonemes: Kokoro's alphabet for its own languages, eSpeak's for ``"lb"``.

    Args:
        text: the text to speak.
        lang: a Kokoro language code (``"a"`` American English, ``"b"`` British, ``"e"``, ``"f"``,
            ``"h"``, ``"i"``, ``"p"``) or its eSpeak name such as ``"en-us"``; or ``"lb"``
            (Luxembourgish), whose phonemes are eSpeak's, after misaki's merges and unmapped: pass
            them through :func:`kokoro_lab.finetune.new_language.to_kokoro` before tokenizing.

    Raises:
        ValueError: ``text`` is empty or only whitespace, or ``lang`` is unknown.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Text is empty; give at least one word to speak.")
    phonemes, _ = _g2p(_lang_code(lang))(text.strip())
    # eSpeak NG marks a syllabic consonant with U+0329 ("kitten" → kˈɪʔn̩). Kokoro's vocabulary
    # has no such mark, so tokenize() would drop it with a warning; dropping it here gives the
    # same tokens, as misaki's English fallback does for ʔn̩.
    return phonemes.replace(SYLLABIC_MARK, "").strip()


def vocab() -> dict[str, int]:
    """Kokoro's phoneme vocabulary: 114 symbols with ids up to 177; 0 is the boundary/pad id."""
    return load_config()["vocab"]


def tokenize(phonemes: str, vocab: dict[str, int] | None = None) -> list[int]:
    """Map phonemes to token ids (without the two 0 boundary tokens), one per character.

    Unknown symbols are dropped with a warning that names them.

    Args:
        phonemes: the phoneme string.
        vocab: symbol → id; Kokoro's by default, or an extended one
            (:func:`kokoro_lab.finetune.vocab_extension.extend_vocabulary`).

    Raises:
        ValueError: nothing is left after dropping unknown symbols.
        TextTooLongError: more than 510 tokens remain; split the text first
            (:func:`split_phonemes`, or ``split=True`` in :func:`kokoro_lab.synthesize`).
    """
    v = load_config()["vocab"] if vocab is None else vocab
    ids = [v[p] for p in phonemes if p in v]
    unknown = sorted({p for p in phonemes if p not in v})
    if unknown:
        whose = "Kokoro's vocabulary" if vocab is None else "the given vocabulary"
        warnings.warn(f"Dropped phoneme symbols not in {whose}: {unknown}", stacklevel=2)
    if not ids:
        raise ValueError(
            f"No known phoneme symbols in {phonemes[:40]!r}; Kokoro's vocabulary is IPA-like "
            "(see kokoro_lab.original.text.vocab()). Pass text through phonemize() first."
        )
    if len(ids) > MAX_PHONEME_TOKENS:
        raise TextTooLongError(
            f"{len(ids)} tokens exceed Kokoro's limit of {MAX_PHONEME_TOKENS}; "
            "split the text (split=True) or shorten it."
        )
    return ids


def split_phonemes(phonemes: str, max_tokens: int = MAX_PHONEME_TOKENS) -> list[str]:
    """Split a phoneme string at punctuation into pieces of at most ``max_tokens`` symbols.

    Pieces are packed greedily; a piece with no punctuation inside the limit is cut at a space.
    """
    v = vocab()

    def n_tokens(s: str) -> int:
        return sum(p in v for p in s)

    out: list[str] = []
    cur = ""
    for piece in _SPLIT_AFTER.split(phonemes.strip()):
        while n_tokens(piece) > max_tokens:  # no punctuation to split at: cut at a word boundary
            cut = piece.rfind(" ", 0, max_tokens)
            cut = cut if cut > 0 else max_tokens
            head, piece = piece[:cut], piece[cut:].lstrip()
            if cur:
                out.append(cur)
                cur = ""
            out.append(head)
        candidate = f"{cur} {piece}".strip()
        if cur and n_tokens(candidate) > max_tokens:
            out.append(cur)
            cur = piece
        else:
            cur = candidate
    if cur:
        out.append(cur)
    return out
