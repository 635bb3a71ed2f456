"""Figures and players for the chapter on what users ask for: timestamps, long text, mixing, streaming."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Sequence

import numpy as np

from ..config import SAMPLE_RATE
from ..original.timestamps import WordTiming


def wav_base64(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> str:
    """``audio`` ([T] float) as a 16-bit mono WAV file, base64-encoded for a ``data:`` URL."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(np.asarray(audio, np.float32).reshape(-1), -1, 1), sample_rate, format="WAV")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def word_player_html(audio: np.ndarray, words: Sequence[WordTiming], sample_rate: int = SAMPLE_RATE) -> str:
    """An ``<audio>`` player that highlights each word while it is spoken, as self-contained HTML.

    The audio is embedded as a base64 WAV; a small script follows the player's ``currentTime``
    (on every animation frame while it plays) and marks the word whose [start, end) holds it.
    Clicking a word plays from its start. No widget kernel is needed, so it works in the static
    HTML book. Element ids derive from a hash of the content, so the same input gives the same HTML.
    """
    spans = [(w.word, round(w.start_s, 3), round(w.end_s, 3)) for w in words]
    wav = wav_base64(audio, sample_rate)
    uid = "wp" + hashlib.sha1((wav + json.dumps(spans)).encode()).hexdigest()[:10]
    items = " ".join(
        f'<span data-start="{s}" data-end="{e}" style="padding:1px 2px;border-radius:3px;cursor:pointer">'
        f"{html.escape(w)}</span>"
        for w, s, e in spans
    )
    return f"""<div id="{uid}" style="font-size:1.15em;line-height:1.8">
<audio controls preload="auto" src="data:audio/wav;base64,{wav}" style="width:100%"></audio>
<div class="words">{items}</div>
</div>
<script>
(function() {{
  const box = document.getElementById("{uid}");
  const player = box.querySelector("audio");
  const words = Array.from(box.querySelectorAll("span[data-start]"));
  function mark() {{
    const t = player.currentTime;
    for (const w of words) {{
      const on = t >= parseFloat(w.dataset.start) && t < parseFloat(w.dataset.end);
      w.style.background = on ? "#ffd54f" : "";
    }}
    if (!player.paused) requestAnimationFrame(mark);
  }}
  player.addEventListener("play", () => requestAnimationFrame(mark));
  player.addEventListener("seeked", mark);
  player.addEventListener("pause", mark);
  for (const w of words) {{
    w.addEventListener("click", () => {{ player.currentTime = parseFloat(w.dataset.start); player.play(); }});
  }}
}})();
</script>"""


def word_player(audio: np.ndarray, words: Sequence[WordTiming], sample_rate: int = SAMPLE_RATE):
    """:func:`word_player_html` as an ``IPython.display.HTML`` object."""
    from IPython.display import HTML

    return HTML(word_player_html(audio, words, sample_rate))


def plot_word_boundaries(
    audio: np.ndarray,
    words: Sequence[WordTiming],
    sample_rate: int = SAMPLE_RATE,
    ax=None,
    title: str | None = None,
    seams: Sequence[int] = (),
):
    """The log-mel spectrogram with each word's start (solid) and end (dotted), labelled.

    ``seams``: samples where separately spoken chunks were joined, drawn as red dashed lines.
    """
    import matplotlib.pyplot as plt

    from .plots import plot_mel

    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.4))
    plot_mel(audio, sample_rate, ax=ax, title=title or "word boundaries from the predicted durations")
    top = ax.get_ylim()[1]
    for k, w in enumerate(words):
        ax.axvline(w.start_s, color="white", lw=0.9)
        ax.axvline(w.end_s, color="white", lw=0.7, ls=":")
        ax.text(
            (w.start_s + w.end_s) / 2,
            top * (0.93 if k % 2 == 0 else 0.83),
            w.word.strip(".,;:!?\"'"),
            color="white",
            ha="center",
            fontsize=7,
        )
    for s in seams:
        ax.axvline(s / sample_rate, color="red", lw=1.5, ls="--")
    return ax


def mix_sweep(
    text: str,
    start: str = "jf_alpha",
    end: str = "jm_kumo",
    steps: int = 5,
    reference_text: str = "Rain fell softly on the tin roof all night long.",
) -> list[dict]:
    """Speak ``text`` with mixes from ``start`` to ``end`` and measure each.

    Returns:
        One row per weight ``w`` of ``end`` (0, 1/(steps-1), …, 1): ``voice`` (the mix string),
        ``weight``, ``median_f0_hz`` (pyin, voiced frames), ``similarity_start`` and
        ``similarity_end`` (resemblyzer cosine against each end voice speaking
        ``reference_text``, another sentence, so the measure is of the speaker, not the words).
    """
    from ..original.synthesis import synthesize
    from ..quality import pyin_f0, speaker_similarity

    refs = {v: synthesize(reference_text, voice=v).audio for v in (start, end)}
    rows = []
    for w in np.linspace(0.0, 1.0, steps):
        voice = f"{start}:{1 - w:g},{end}:{w:g}"
        audio = synthesize(text, voice=voice).audio
        f0 = pyin_f0(audio)
        rows.append(
            {
                "voice": voice,
                "weight": float(w),
                "median_f0_hz": float(np.nanmedian(f0)),
                "similarity_start": float(speaker_similarity(audio, refs[start])),
                "similarity_end": float(speaker_similarity(audio, refs[end])),
            }
        )
    return rows


def plot_mix_sweep(rows: Sequence[dict], start: str = "jf_alpha", end: str = "jm_kumo"):
    """Median F0 and speaker similarity to each end voice against the mix weight."""
    import matplotlib.pyplot as plt

    w = [r["weight"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    axes[0].plot(w, [r["median_f0_hz"] for r in rows], "o-")
    axes[0].set(xlabel=f"weight of {end}", ylabel="median F0 (Hz)", title="pitch")
    axes[1].plot(w, [r["similarity_start"] for r in rows], "o-", label=f"to {start}")
    axes[1].plot(w, [r["similarity_end"] for r in rows], "s-", label=f"to {end}")
    axes[1].set(xlabel=f"weight of {end}", ylabel="speaker similarity (cosine)", title="speaker")
    axes[1].legend()
    fig.tight_layout()
    return axes


def plot_streaming(payload: dict):
    """Time to first audio (log scale) and real-time factor against words, stream vs whole text."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for mode, style in (("stream", "o-"), ("whole", "s--")):
        rows = sorted((r for r in payload["rows"] if r["mode"] == mode), key=lambda r: r["words"])
        axes[0].plot([r["words"] for r in rows], [r["ttfa_s"] for r in rows], style, label=mode)
        timed = [r for r in rows if r.get("rtf") is not None]
        axes[1].plot([r["words"] for r in timed], [r["rtf"] for r in timed], style, label=mode)
    axes[0].set(xscale="log", yscale="log", xlabel="words", ylabel="seconds", title="time to first audio")
    axes[1].set(xscale="log", xlabel="words", ylabel="compute s per audio s", title="real-time factor")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    return axes
