"""Scaling with text length, the cost of padding, and where the time goes by stage.

    .venv/bin/python bench/scaling.py                    # ~20 min on 2 cores
    .venv/bin/python bench/scaling.py --parts padding stages                    # ~5 min

Three parts, three results files in ``bench/results/``:

* ``scaling.json``: seconds against text length (10 to 500 tokens) for the official KModel,
  kokoro-lab eager (``trim=True``), the traced fixed-shape module and onnxruntime int8. The
  fixed-shape paths run at the smallest bucket that fits; past the named buckets a larger one
  is built (``fitting_bucket``).
* ``padding.json``: one short text in every bucket, and in a bucket built to fit it tightly:
  trimmed eager, padded eager, traced. The padded paths pay for every padded frame.
* ``stages.json``: one profiled call per path with ``torch.profiler`` ranges around ALBERT,
  the text encoders and LSTMs, prosody, decoder and generator (``kokoro_lab.profiling``).
"""

from __future__ import annotations

import math

from kokoro_lab.benchmarking import (
    LAB,
    LAB_PADDED,
    OFFICIAL,
    ORT,
    TRACED,
    SynthesisPaths,
    fitting_bucket,
    print_table,
    time_interleaved,
    timing_parser,
    utterance,
    write_results,
)
from kokoro_lab.coreml.buckets import BUCKETS, Bucket, frames_for, sample_texts

LENGTHS = (10, 25, 50, 100, 160, 250, 500)  # target token counts (boundaries included)
SHORT_TEXT = "Thank you."
STAGE_TEXT = " ".join(
    ["The quick brown fox jumps over the lazy dog.", "Rain fell softly on the tin roof all night long."]
)


def _row(path, tokens, bucket, timing, out, base=None):
    return {
        "path": path,
        "tokens": tokens,
        "bucket": bucket,
        "audio_s": out.audio_s,
        "median_s": timing.median,
        "min_s": timing.min,
        "max_s": timing.max,
        "times_s": list(timing.times),
        "rtf": timing.median / out.audio_s,
        "ratio_vs_official": None if base is None else timing.median / base,
    }


def scaling(sp: SynthesisPaths, voice: str, repeats: int, warmup: int) -> list[dict]:
    texts = sample_texts()
    chosen = []
    for target in LENGTHS:
        best = min(texts, key=lambda s: abs(s.n_tokens - target))
        if best not in chosen:
            chosen.append(best)
    rows = []
    for sample in chosen:
        tokens, ref_s = utterance(sample.text, voice)
        reference = sp.make(OFFICIAL, tokens, ref_s)()
        bucket = fitting_bucket(len(tokens), sum(reference.durations))
        paths = [OFFICIAL, LAB, TRACED, ORT]
        fns = {p: sp.make(p, tokens, ref_s, bucket) for p in paths}
        reps = repeats if sample.n_tokens <= 200 else max(1, math.ceil(repeats / 2))
        print(f"{sample.n_tokens} tokens, bucket {bucket.name} ({reps} repeats)", flush=True)
        timings, outs = time_interleaved(fns, repeats=reps, warmup=warmup)
        base = timings[OFFICIAL].median
        for p in paths:
            rows.append(
                _row(
                    p,
                    sample.n_tokens,
                    None if p in (OFFICIAL, ORT) else bucket.name,
                    timings[p],
                    outs[p],
                    base,
                )
            )
            rows[-1]["bucket_frames"] = None if p in (OFFICIAL, ORT) else bucket.max_frames
    return rows


def tight_bucket(n_phonemes: int, frames: int) -> Bucket:
    """A bucket built around one text: tokens and frames rounded up to multiples of 8."""
    max_frames = 8 * math.ceil(frames / 8)
    return Bucket(
        f"{max_frames} frames (tight)",
        max_frames / frames_for(1.0),
        8 * math.ceil((n_phonemes + 2) / 8),
        max_frames,
    )


def padding(sp: SynthesisPaths, voice: str, repeats: int, warmup: int) -> list[dict]:
    tokens, ref_s = utterance(SHORT_TEXT, voice)
    frames = sum(sp.make(OFFICIAL, tokens, ref_s)().durations)
    buckets = [tight_bucket(len(tokens), frames), *sorted(BUCKETS.values(), key=lambda b: b.max_frames)]
    rows = []
    for bucket in buckets:
        if len(tokens) + 2 > bucket.max_tokens or frames > bucket.max_frames:
            continue
        fns = {p: sp.make(p, tokens, ref_s, bucket) for p in (LAB, LAB_PADDED, TRACED)}
        print(f"{len(tokens) + 2} tokens, {frames} frames in bucket {bucket.name}", flush=True)
        timings, outs = time_interleaved(fns, repeats=repeats, warmup=warmup)
        for p in fns:
            row = _row(p, len(tokens) + 2, bucket.name, timings[p], outs[p])
            row.update(
                bucket_frames=bucket.max_frames,
                bucket_tokens=bucket.max_tokens,
                padded_frames_fraction=1 - frames / bucket.max_frames,
            )
            rows.append(row)
    return rows


def stages(sp: SynthesisPaths, voice: str) -> list[dict]:
    import torch

    from kokoro_lab.profiling import lab_targets, official_targets, profile_stages
    from kokoro_lab.rewrite.model import KokoroCompleteCoreML, pad_inputs

    tokens, ref_s = utterance(STAGE_TEXT, voice)
    frames = sum(sp.make(OFFICIAL, tokens, ref_s)().durations)
    bucket = fitting_bucket(len(tokens), frames)
    ids = torch.tensor([[0, *tokens, 0]])
    input_ids, mask = pad_inputs(tokens, bucket.max_tokens)
    inputs = (input_ids, ref_s, torch.zeros(1, 9), mask, torch.ones(1))
    official = sp.official
    runs = {OFFICIAL: (lambda: official.forward_with_tokens(ids, ref_s, 1.0), official_targets(official))}
    for path, trim in ((LAB, True), (LAB_PADDED, False)):
        module = KokoroCompleteCoreML(sp.complex_free, bucket.max_tokens, bucket.max_frames, trim=trim).eval()
        runs[path] = (lambda m=module: m(*inputs), lab_targets(module))
    rows = []
    for path, (fn, targets) in runs.items():
        with torch.inference_mode():
            fn()  # warm-up
            seconds = profile_stages(fn, targets)
        total = seconds.pop("total")
        for stage, s in seconds.items():
            rows.append(
                {
                    "path": path,
                    "stage": stage,
                    "seconds": s,
                    "share": s / total,
                    "total_s": total,
                    "tokens": len(tokens) + 2,
                    "frames": frames,
                    "bucket": None if path == OFFICIAL else bucket.name,
                }
            )
        print(f"{path}: " + ", ".join(f"{k} {v:.2f}s" for k, v in seconds.items()) + f"; total {total:.2f}s")
    return rows


def main() -> None:
    parser = timing_parser(__doc__, repeats=3)
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["scaling", "padding", "stages"],
        default=["scaling", "padding", "stages"],
    )
    args = parser.parse_args()
    sp = SynthesisPaths(args.threads)
    settings = {"threads": args.threads, "repeats": args.repeats, "warmup": args.warmup, "voice": args.voice}
    columns = {
        "path": "path",
        "tokens": "tokens",
        "bucket": "bucket",
        "audio_s": "audio s",
        "median_s": "median s",
        "rtf": "RTF",
    }
    if "padding" in args.parts:
        rows = padding(sp, args.voice, args.repeats, args.warmup)
        print_table(rows, {**columns, "padded_frames_fraction": "padding"})
        print(
            "wrote",
            write_results(
                "padding", rows, {**settings, "text": SHORT_TEXT, "trace_seconds": sp.trace_seconds}
            ),
        )
    if "stages" in args.parts:
        rows = stages(sp, args.voice)
        print("wrote", write_results("stages", rows, {**settings, "text": STAGE_TEXT, "profiled_runs": 1}))
    if "scaling" in args.parts:
        rows = scaling(sp, args.voice, args.repeats, args.warmup)
        print_table(rows, {**columns, "ratio_vs_official": "× official"})
        settings.update(
            lengths=list(LENGTHS),
            trace_seconds=sp.trace_seconds,
            long_text_repeats=math.ceil(args.repeats / 2),
        )
        print("wrote", write_results("scaling", rows, settings))


if __name__ == "__main__":
    main()
