"""Word timings written out: WebVTT and SRT subtitles, and a JSON list of words (all atomic).

Words are grouped into cues of a few words: a cue ends after a sentence, after a clause mark
once it holds three words, or at ``max_words``. WebVTT cues also carry each word's start as an
inline timestamp (``Hello, <00:00:00.840>world.``), which players use to highlight the word
being spoken; SRT has no such tags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import atomic_path
from .timestamps import WordTiming

SENTENCE_END = ".!?…"
CLAUSE_END = ",;:—"


@dataclass(frozen=True)
class Cue:
    """Consecutive words shown together, from the first one's start to the last one's end."""

    words: tuple[WordTiming, ...]

    @property
    def start_s(self) -> float:
        return self.words[0].start_s

    @property
    def end_s(self) -> float:
        return self.words[-1].end_s

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)


def _ends(word: str, marks: str) -> bool:
    return word.rstrip("\"')]”’")[-1:] in marks


def cues(words: Sequence[WordTiming], max_words: int = 8) -> list[Cue]:
    """Group ``words`` into cues (see the module docstring)."""
    if max_words < 1:
        raise ValueError(f"max_words must be ≥ 1, got {max_words}.")
    out, current = [], []
    for w in words:
        current.append(w)
        if (
            len(current) >= max_words
            or _ends(w.word, SENTENCE_END)
            or (len(current) >= 3 and _ends(w.word, CLAUSE_END))
        ):
            out.append(Cue(tuple(current)))
            current = []
    if current:
        out.append(Cue(tuple(current)))
    return out


def timestamp(seconds: float, decimal: str = ".") -> str:
    """``HH:MM:SS.mmm`` (WebVTT) or, with ``decimal=","``, ``HH:MM:SS,mmm`` (SRT)."""
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def _times(cue_list: list[Cue]) -> list[tuple[float, float]]:
    """Cue times in whole milliseconds, each cue at least 1 ms long and none before the last."""
    out, last = [], 0.0
    for c in cue_list:
        start = max(round(c.start_s, 3), last)
        end = max(round(c.end_s, 3), start + 0.001)
        out.append((start, end))
        last = end
    return out


def to_vtt(words: Sequence[WordTiming], max_words: int = 8) -> str:
    """WebVTT text: cues of words, each word after the first tagged with its start time."""
    cue_list = cues(words, max_words)
    lines = ["WEBVTT", ""]
    for i, (c, (start, end)) in enumerate(zip(cue_list, _times(cue_list), strict=True), start=1):
        parts = [c.words[0].word]
        for w in c.words[1:]:
            t = round(w.start_s, 3)
            # an inline timestamp must lie strictly inside its cue
            parts.append(f"<{timestamp(t)}>{w.word}" if start < t < end else w.word)
        lines += [str(i), f"{timestamp(start)} --> {timestamp(end)}", " ".join(parts), ""]
    return "\n".join(lines)


def to_srt(words: Sequence[WordTiming], max_words: int = 8) -> str:
    """SubRip text: numbered cues of words."""
    cue_list = cues(words, max_words)
    lines = []
    for i, (c, (start, end)) in enumerate(zip(cue_list, _times(cue_list), strict=True), start=1):
        lines += [str(i), f"{timestamp(start, ',')} --> {timestamp(end, ',')}", c.text, ""]
    return "\n".join(lines)


def to_json(words: Sequence[WordTiming], **meta: Any) -> str:
    """``{**meta, "words": [{"word", "start", "end", "phonemes", "tokens", "chunk"}, …]}``, seconds."""
    return json.dumps({**meta, "words": [w.as_dict() for w in words]}, ensure_ascii=False, indent=1) + "\n"


def _write(path: str | os.PathLike, text: str, overwrite: bool) -> Path:
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_vtt(path: str | os.PathLike, words: Sequence[WordTiming], overwrite: bool = False) -> Path:
    """Write WebVTT subtitles atomically. Raises ``OutputExistsError`` rather than clobber a file."""
    return _write(path, to_vtt(words), overwrite)


def write_srt(path: str | os.PathLike, words: Sequence[WordTiming], overwrite: bool = False) -> Path:
    """Write SRT subtitles atomically. Raises ``OutputExistsError`` rather than clobber a file."""
    return _write(path, to_srt(words), overwrite)


def write_json(
    path: str | os.PathLike, words: Sequence[WordTiming], overwrite: bool = False, **meta: Any
) -> Path:
    """Write the word timings (and ``meta``, e.g. voice and alignment) as JSON, atomically."""
    return _write(path, to_json(words, **meta), overwrite)
