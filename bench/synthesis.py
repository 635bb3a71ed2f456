"""Synthesis speed: the same texts and voice along every path, timed side by side.

    .venv/bin/python bench/synthesis.py            # ~15 min on 2 cores
    .venv/bin/python bench/synthesis.py --repeats 3 --texts short         # a quick look

Paths: the official ``kokoro.KModel`` (eager); ``KokoroCompleteCoreML`` at the smallest bucket
that fits, eager with ``trim=True`` and eager padded; the padded module traced with
``torch.jit.trace``; onnxruntime on the int8 ONNX that PyPI ships. Calls are interleaved
(official, lab, …, official, lab, …), so a noisy neighbour slows them all alike. Prints a table
and writes ``bench/results/synthesis.json``.
"""

from __future__ import annotations

from kokoro_lab.benchmarking import (
    OFFICIAL,
    PATHS,
    SynthesisPaths,
    fitting_bucket,
    print_table,
    time_interleaved,
    timing_parser,
    utterance,
    write_results,
)
from kokoro_lab.coreml.buckets import SAMPLE_TEXTS

TEXTS = {
    "short": SAMPLE_TEXTS[0],  # "The quick brown fox …": 49 tokens, about 4 s of audio
    "medium": " ".join(SAMPLE_TEXTS[2:4]),  # two sentences: 144 tokens, about 9 s
    "long": " ".join(SAMPLE_TEXTS[5:8]),  # three sentences: 232 tokens, about 15 s
}


def main() -> None:
    parser = timing_parser(__doc__, repeats=5)
    parser.add_argument("--texts", nargs="+", choices=list(TEXTS), default=list(TEXTS))
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    args = parser.parse_args()
    if OFFICIAL not in args.paths:
        parser.error("the official KModel path is the reference for the ratios; keep it in --paths.")

    sp = SynthesisPaths(args.threads, args.paths)
    rows = []
    for label in args.texts:
        text = TEXTS[label]
        tokens, ref_s = utterance(text, args.voice)
        reference = sp.make(OFFICIAL, tokens, ref_s)()
        frames = sum(reference.durations)
        bucket = fitting_bucket(len(tokens), frames)
        fns = {path: sp.make(path, tokens, ref_s, bucket) for path in args.paths}
        print(f"\n{label}: {len(tokens)} tokens, {frames} frames, bucket {bucket.name}", flush=True)
        timings, outputs = time_interleaved(fns, repeats=args.repeats, warmup=args.warmup)
        base = timings[OFFICIAL].median
        for path in args.paths:
            t, out = timings[path], outputs[path]
            rows.append(
                {
                    "text": label,
                    "tokens": len(tokens),
                    "bucket": bucket.name if path not in (OFFICIAL, "onnxruntime int8") else None,
                    "path": path,
                    "audio_s": out.audio_s,
                    "median_s": t.median,
                    "min_s": t.min,
                    "max_s": t.max,
                    "times_s": list(t.times),
                    "rtf": t.median / out.audio_s,
                    "ratio_vs_official": t.median / base,
                    "durations_match_official": out.durations == reference.durations,
                    "frames_vs_official": sum(out.durations) - frames,
                }
            )
        print_table(
            [r for r in rows if r["text"] == label],
            {
                "path": "path",
                "audio_s": "audio s",
                "median_s": "median s",
                "min_s": "min s",
                "max_s": "max s",
                "rtf": "RTF",
                "ratio_vs_official": "× official",
                "durations_match_official": "same durations",
            },
        )
    path = write_results(
        "synthesis",
        rows,
        {
            "threads": args.threads,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "voice": args.voice,
            "texts": {k: TEXTS[k] for k in args.texts},
            "trace_seconds": sp.trace_seconds,
            "notes": "interleaved calls; torch paths under torch.inference_mode; the official KModel "
            "keeps its source noise, which does not change durations",
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
