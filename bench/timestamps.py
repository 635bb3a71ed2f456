"""Word timestamps against an independent source: Whisper's word timings, and the audio's pauses.

    .venv/bin/python bench/timestamps.py                     # 40 Harvard sentences × 2 voices
    .venv/bin/python bench/timestamps.py --sentences 8 --voices jm_kumo

The Harvard sentences (``kokoro_lab.quality.HARVARD_SENTENCES``) are spoken ``--per-text`` at a
time by ``kokoro_lab.synthesize`` (one model call per text), and each text's audio is
transcribed by Whisper tiny.en with word timestamps (``kokoro_lab.quality.transcribe``). Our
words are matched to Whisper's by spelling, in order (``kokoro_lab.original.word_check``), and
for every matched word the start-time error (ours − Whisper's) is measured. Reported per voice
and over all: the median and 90th percentile of |error|, the median signed error (a constant
offset between the two), and the control: the same comparison with every one of our words
shifted by one position (our next word's start against Whisper's word), which must be far worse.

The check that needs no recogniser (``kokoro_lab.original.pause_check``): at each sentence end
inside a text, the boundary between the two words' timings must fall in a quiet stretch of the
audio; between words with no mark it mostly does not (the control).

Writes ``bench/results/timestamps.json``. About 5 min on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

MEDIAN_GOAL_S = 0.060  # the goal for the median |start error| against Whisper


def summarize(errors: np.ndarray, control: np.ndarray) -> dict:
    """The statistics of one set of start errors (seconds) and its shifted-by-one control."""
    return {
        "matched_words": len(errors),
        "median_abs_error_s": float(np.median(np.abs(errors))),
        "p90_abs_error_s": float(np.percentile(np.abs(errors), 90)),
        "median_signed_error_s": float(np.median(errors)),
        "control_median_abs_error_s": float(np.median(np.abs(control))),
        "control_p90_abs_error_s": float(np.percentile(np.abs(control), 90)),
    }


def agreement(boundaries, marked: bool) -> float | None:
    """Fraction of the (un)marked boundaries in a quiet stretch; None if there are none."""
    from kokoro_lab.original.pause_check import pause_agreement

    value = pause_agreement(boundaries, marked)
    return None if np.isnan(value) else value


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=40, help="Harvard sentences, from the first (≤ 50)")
    parser.add_argument("--per-text", type=int, default=4, help="sentences spoken in one call")
    parser.add_argument("--voices", nargs="+", default=["jf_alpha", "jm_kumo"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from kokoro_lab import synthesize
    from kokoro_lab.benchmarking import pin_threads, print_table, write_results
    from kokoro_lab.original.pause_check import check_pauses
    from kokoro_lab.original.timestamps import text_words
    from kokoro_lab.original.word_check import start_errors
    from kokoro_lab.quality import HARVARD_SENTENCES, load_asr_model, transcribe

    if not 1 <= args.sentences <= len(HARVARD_SENTENCES):
        parser.error(f"--sentences must be in 1..{len(HARVARD_SENTENCES)}")
    pin_threads(args.threads)
    asr = load_asr_model()
    sentences = HARVARD_SENTENCES[: args.sentences]
    texts = [" ".join(sentences[i : i + args.per_text]) for i in range(0, len(sentences), args.per_text)]

    rows, everything = [], {"errors": [], "control": [], "boundaries": []}
    started = time.perf_counter()
    for voice in args.voices:
        errors, control, boundaries, words, per_text = [], [], [], 0, []
        synth_s = asr_s = audio_s = 0.0
        for text in texts:
            t0 = time.perf_counter()
            result = synthesize(text, voice=voice)
            t1 = time.perf_counter()
            heard = transcribe(result.audio, model=asr, word_timestamps=True)
            t2 = time.perf_counter()
            synth_s, asr_s, audio_s = synth_s + t1 - t0, asr_s + t2 - t1, audio_s + result.seconds
            pairs = [(w.word, w.start) for w in heard.words]
            errors.extend(mine := start_errors(result.words, pairs))
            per_text.append(float(np.median(np.abs(mine))))
            control.extend(start_errors(result.words, pairs, shift=1))
            boundaries.extend(check_pauses(result.words, result.audio))
            words += len(text_words(text))
            print(
                f"{voice}: {len(result.words)} words, {result.seconds:.1f} s, heard {heard.text!r}",
                flush=True,
            )
        errors, control = np.array(errors), np.array(control)
        row = {"voice": voice, "texts": len(texts), "sentences": len(sentences), "words": words}
        row |= summarize(errors, control)
        row |= {
            "marked_boundaries": sum(b.marked for b in boundaries),
            "marked_in_quiet": agreement(boundaries, True),
            "unmarked_boundaries": sum(not b.marked for b in boundaries),
            "unmarked_in_quiet": agreement(boundaries, False),
            "audio_s": audio_s,
            "synthesis_s": synth_s,
            "asr_s": asr_s,
            "errors_s": [round(float(e), 4) for e in errors],
            "text_median_abs_errors_s": per_text,
        }
        rows.append(row)
        everything["errors"].extend(errors)
        everything["control"].extend(control)
        everything["boundaries"].extend(boundaries)
    b = everything["boundaries"]
    total = {"voice": "all", "texts": sum(r["texts"] for r in rows), "sentences": len(sentences)}
    total |= {"words": sum(r["words"] for r in rows)}
    total |= summarize(np.array(everything["errors"]), np.array(everything["control"]))
    total |= {
        "marked_boundaries": sum(x.marked for x in b),
        "marked_in_quiet": agreement(b, True),
        "unmarked_boundaries": sum(not x.marked for x in b),
        "unmarked_in_quiet": agreement(b, False),
    }
    total |= {k: sum(r[k] for r in rows) for k in ("audio_s", "synthesis_s", "asr_s")}
    total["errors_s"] = [e for r in rows for e in r["errors_s"]]
    total["text_median_abs_errors_s"] = [e for r in rows for e in r["text_median_abs_errors_s"]]
    rows.append(total)
    print_table(
        rows,
        {
            "voice": "voice",
            "matched_words": "matched",
            "median_abs_error_s": "median |err| s",
            "p90_abs_error_s": "p90 |err| s",
            "median_signed_error_s": "median err s",
            "control_median_abs_error_s": "control median s",
            "marked_in_quiet": "marked in quiet",
            "unmarked_in_quiet": "unmarked in quiet",
        },
        digits=3,
    )
    goal = {"median_abs_error_s": total["median_abs_error_s"], "limit_s": MEDIAN_GOAL_S}
    goal["met"] = goal["median_abs_error_s"] <= MEDIAN_GOAL_S
    path = write_results(
        "timestamps",
        rows,
        {
            "threads": args.threads,
            "voices": args.voices,
            "sentences": len(sentences),
            "per_text": args.per_text,
            "asr": f"{asr.info.name} ({asr.info.source})",
            "seconds": time.perf_counter() - started,
        },
        extra={"goal": goal},
    )
    print(f"\ngoal: median |start error| {goal['median_abs_error_s'] * 1000:.0f} ms (≤ 60 ms); wrote {path}")


if __name__ == "__main__":
    main()
