"""Seams between separately spoken chunks, and the long-text failure modes.

    .venv/bin/python bench/seams.py                          # jf_alpha and jm_kumo, ~15 min on 2 busy cores
    .venv/bin/python bench/seams.py --voices jf_alpha jf_nezumi jm_kumo

Three parts, written to ``bench/results/seams.json``:

* ``rows``: :func:`kokoro_lab.original.seams.compare_joins` for every voice and every pair of
  ``SENTENCE_PAIRS`` (two sentences) and ``CLAUSE_PAIRS`` (a sentence cut at a comma): each join
  of :func:`~kokoro_lab.original.seams.join_candidates` (naive concatenation, silence gaps,
  crossfades, and the chosen join that shortens the quiet stretch) measured at its seam: energy
  jump, spectral-flux peak, and the pause against the pause the same voice makes at that point
  when it speaks the pair as one utterance. ``summary`` averages them per join and kind.
* ``punctuation``: what the model makes of a chunk that holds only punctuation ("...", "—",
  "!!!"), which the long-text path skips: seconds of audio and how much of it is loud.
* ``drift``: does speech rush or fade at the end of long chunks
  (:func:`kokoro_lab.original.chunk_drift.ending_drift`)? Chunks of ``--long-from`` tokens or
  more of the Harvard sentences, packed as the long-text path packs them, against single sample
  sentences.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PUNCTUATION_ONLY = ("...", "—", "!!!", "?!")


def summarize(rows: list[dict]) -> list[dict]:
    """Per (kind, join): mean pause error and pause, worst energy jump and flux peak, over voices and pairs."""
    out = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        for name in dict.fromkeys(r["join"] for r in rows):
            mine = [r for r in rows if r["kind"] == kind and r["join"] == name]
            out.append(
                {
                    "kind": kind,
                    "join": name,
                    "seams": len(mine),
                    "mean_pause_s": float(np.mean([r["pause_s"] for r in mine])),
                    "mean_pause_error_s": float(np.mean([r["pause_error_s"] for r in mine])),
                    "max_pause_error_s": float(np.max([r["pause_error_s"] for r in mine])),
                    "max_energy_jump_db": float(np.max([r["energy_jump_db"] for r in mine])),
                    "max_flux_peak_db": float(np.max([r["flux_peak_db"] for r in mine])),
                }
            )
    return out


def punctuation_only(voice: str) -> list[dict]:
    """Audio the model makes from chunks of punctuation alone (phonemized as the text path does)."""
    from kokoro_lab.audio import QUIET_DBFS, frame_levels_db
    from kokoro_lab.original.model import load_kmodel
    from kokoro_lab.original.streaming import speak_chunk
    from kokoro_lab.original.voices import load_voice

    model, _ = load_kmodel()
    rows = []
    for text in PUNCTUATION_ONLY:
        audio, ids, _ = speak_chunk(model, load_voice(voice), text, 1.0, 0)
        levels = frame_levels_db(audio)
        rows.append(
            {
                "voice": voice,
                "text": text,
                "tokens": len(ids) - 2,
                "seconds": len(audio) / 24_000,
                "loud_fraction": float(np.mean(levels >= QUIET_DBFS)),
                "peak_dbfs": float(20 * np.log10(np.abs(audio).max() + 1e-12)),
            }
        )
    return rows


def drift(voice: str, long_from: int, count: int) -> list[dict]:
    """Ending drift of ``count`` long packed chunks and ``count`` short single sentences."""
    from kokoro_lab.coreml.buckets import SAMPLE_TEXTS
    from kokoro_lab.original.chunk_drift import ending_drift
    from kokoro_lab.original.chunking import plan_chunks
    from kokoro_lab.original.model import load_kmodel
    from kokoro_lab.original.streaming import speak_chunk
    from kokoro_lab.original.voices import load_voice
    from kokoro_lab.quality import HARVARD_SENTENCES

    model, _ = load_kmodel()
    long = [c for c in plan_chunks(" ".join(HARVARD_SENTENCES)) if c.n_tokens >= long_from][:count]
    short = [c for t in SAMPLE_TEXTS for c in plan_chunks(t) if c.n_tokens < 80][:count]
    rows = []
    for size, chunks in (("long", long), ("short", short)):
        for c in chunks:
            audio, ids, durations = speak_chunk(model, load_voice(voice), c.phonemes, 1.0, 0)
            d = ending_drift(audio, ids, durations)
            rows.append(
                {
                    "voice": voice,
                    "size": size,
                    "tokens": c.n_tokens,
                    "speech_s": d.speech_s,
                    "rate_ratio": d.rate_ratio,
                    "level_change_db": d.level_change_db,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--voices", nargs="+", default=["jf_alpha", "jm_kumo"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--long-from", type=int, default=120, help="drift: tokens of a long chunk, at least")
    parser.add_argument("--drift-chunks", type=int, default=4, help="drift: long and short chunks per voice")
    args = parser.parse_args()

    from kokoro_lab.benchmarking import pin_threads, print_table, write_results
    from kokoro_lab.original.seams import CLAUSE_PAIRS, SEAM_TRIM_S, SENTENCE_PAIRS, compare_joins

    pin_threads(args.threads)
    started = time.perf_counter()
    rows = compare_joins(args.voices)
    summary = summarize(rows)
    print_table(
        summary,
        {
            "kind": "kind",
            "join": "join",
            "mean_pause_s": "pause s",
            "mean_pause_error_s": "|pause − natural| s",
            "max_energy_jump_db": "max jump dB",
            "max_flux_peak_db": "max flux dB",
        },
        digits=3,
    )
    punctuation = [r for v in args.voices for r in punctuation_only(v)]
    print_table(punctuation, {"voice": "voice", "text": "text", "seconds": "s", "loud_fraction": "loud"})
    drifts = [r for v in args.voices for r in drift(v, args.long_from, args.drift_chunks)]
    drift_summary = [
        {
            "voice": v,
            "size": size,
            "chunks": len(mine),
            "median_rate_ratio": float(np.median([r["rate_ratio"] for r in mine])),
            "median_level_change_db": float(np.median([r["level_change_db"] for r in mine])),
        }
        for v in args.voices
        for size in ("long", "short")
        if (mine := [r for r in drifts if r["voice"] == v and r["size"] == size])
    ]
    print_table(
        drift_summary,
        {"voice": "voice", "size": "size", "chunks": "chunks"}
        | {"median_rate_ratio": "rate ratio", "median_level_change_db": "level change dB"},
    )
    path = write_results(
        "seams",
        rows,
        {
            "threads": args.threads,
            "voices": args.voices,
            "sentence_pairs": [list(p) for p in SENTENCE_PAIRS],
            "clause_pairs": [list(p) for p in CLAUSE_PAIRS],
            "seam_trim_s": SEAM_TRIM_S,
            "long_from": args.long_from,
            "drift_chunks": args.drift_chunks,
            "seconds": time.perf_counter() - started,
        },
        extra={
            "summary": summary,
            "punctuation": punctuation,
            "drift": drifts,
            "drift_summary": drift_summary,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
