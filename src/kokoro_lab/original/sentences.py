"""Split English text into sentences with a regular expression that knows its abbreviations.

A sentence ends at ``.``, ``!``, ``?`` or ``…`` (closing quotes and brackets included) followed by
white space and anything but a lower-case letter or a clause mark, and always at a blank line. A full
stop does not end a sentence after a title ("Dr.", "Mrs."), a Latin abbreviation ("e.g.",
"i.e.", "vs."), a single capital initial ("J. R. R. Tolkien") or inside a number ("3.5"), which
has no space after it. Abbreviations that often end a sentence too ("etc.", "a.m.", "Inc.") end
one only when the next word is capitalised.
"""

from __future__ import annotations

import re

# Never a sentence end: a name or a clause follows them.
TITLES = frozenset(
    "mr mrs ms dr prof sr jr st mt rev gen col capt lt sgt hon fr sen rep gov pres "
    "e.g i.e vs cf viz al approx no nos fig figs vol ch pp p ca".split()
)
# Often a sentence end, sometimes not: trusted when the next word is lower case only.
MAYBE_FINAL = frozenset(
    "etc a.m p.m inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec".split()
)

# Terminal punctuation, closing quotes/brackets, then the white space we may cut at.
_END = re.compile(r"([.!?…]+)([\"'”’)\]]*)(\s+)")
_PARAGRAPH = re.compile(r"\n\s*\n")
_NEXT_CONTINUES = re.compile(r"[a-z,;:]")  # lower case or a clause mark: the same sentence goes on


def _word_before(text: str, end: int) -> str:
    """The white-space-delimited word that ends at ``end`` (its trailing dot excluded)."""
    start = text.rfind(" ", 0, end) + 1
    return text[start:end].lstrip("\"'“‘([")


def _ends_sentence(text: str, m: re.Match) -> bool:
    punct, rest = m.group(1), text[m.end() :]
    if _NEXT_CONTINUES.match(rest):
        return False  # "He said hi. then left" stays one sentence
    if punct != ".":
        return True  # "!", "?", "...", "…"
    word = _word_before(text, m.start())
    key = word.lower()
    if key in TITLES or (len(word) == 1 and word.isupper()):
        return False  # "Dr. Smith", "e.g. Paris", "J. R. R. Tolkien"
    if key in MAYBE_FINAL:
        return True  # capitalised next word: "… and so on, etc. Then we left."
    if re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word):  # an acronym: "U.S.A."
        return _looks_final(rest)
    return True


def _looks_final(rest: str) -> bool:
    """After an acronym such as "U.S.A.": a new sentence only if a common sentence opener follows."""
    first = re.match(r"[\"'“‘(\[]*(\w+)", rest)
    return bool(first) and first.group(1) in _OPENERS


_OPENERS = frozenset(
    "The A An It He She They We I You This That These Those There Then But And So Yet In On At "
    "After Before When While If Our My His Her Their Its".split()
)


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences, white space inside each collapsed to single spaces.

    Args:
        text: any English text; line breaks inside a paragraph are treated as spaces, and a
            blank line always ends a sentence.

    Returns:
        The sentences in order, each stripped and non-empty, with their final punctuation.
    """
    out: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        paragraph = " ".join(paragraph.split())
        start = 0
        for m in _END.finditer(paragraph):
            if _ends_sentence(paragraph, m):
                out.append(paragraph[start : m.end(2)])
                start = m.end()
        if paragraph[start:].strip():
            out.append(paragraph[start:].strip())
    return out
