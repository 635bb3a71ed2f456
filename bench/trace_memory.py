"""Why tracing and traced graphs take more memory than eager mode, and what helps.

    .venv/bin/python bench/trace_memory.py               # ~20 min on 2 cores
    .venv/bin/python bench/trace_memory.py --repeats 1   # ~10 min (17 min on a busy machine)

Each configuration runs in its own child process (``--repeats`` times, round-robin), on the
single graph at the 10 s bucket with the text of ``bench/memory.py``:

* ``trace``: load the model, ``torch.jit.trace`` the padded module; the peak RSS during the trace
  (``VmHWM`` reset after loading), the RSS after it, and after ``malloc_trim``. Against the eager
  forward pass of the same module; with ``MALLOC_ARENA_MAX=2``; and inside
  :func:`kokoro_lab.coreml.heap.mapped_blocks` (what ``kokoro_lab.coreml.convert.trace`` does).
* ``run``: load a saved trace, synthesize twice; the peak RSS of each run. Default (profiling
  executor); ``MALLOC_ARENA_MAX=2``; ``malloc_trim`` after each run; ``optimized_execution(False)``;
  :func:`kokoro_lab.coreml.heap.mapped_blocks`; and :func:`kokoro_lab.coreml.heap.legacy_executor`. Each run's audio is hashed, to show that
  every configuration computes the same bits.

Writes ``bench/results/trace_memory.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")

from kokoro_lab.benchmarking import print_table, run_child, write_results  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog."
TRACE_CONFIGS = {  # name → (environment, flags)
    "eager forward (reference)": ({}, ["eager"]),
    "trace, default": ({}, []),
    "trace, MALLOC_ARENA_MAX=2": ({"MALLOC_ARENA_MAX": "2"}, []),
    "trace in mapped_blocks() (the fix)": ({}, ["mapped"]),
}
RUN_CONFIGS = {
    "run, default (profiling executor)": ({}, []),
    "run, MALLOC_ARENA_MAX=2": ({"MALLOC_ARENA_MAX": "2"}, []),
    "run, malloc_trim after each run": ({}, ["trim"]),
    "run, optimized_execution(False)": ({}, ["noopt"]),
    "run in mapped_blocks()": ({}, ["mapped"]),
    "run in legacy_executor() (the fix)": ({}, ["legacy"]),
}


def _inputs():
    import torch

    from kokoro_lab.benchmarking import fitting_bucket, utterance
    from kokoro_lab.rewrite.model import pad_inputs

    tokens, ref_s = utterance(TEXT)
    bucket = fitting_bucket(len(tokens))
    input_ids, mask = pad_inputs(tokens, bucket.max_tokens)
    return bucket, (input_ids, ref_s, torch.zeros(1, 9), mask, torch.ones(1))


def child_trace(flags: list[str], save: str | None) -> dict:
    import torch

    from kokoro_lab.benchmarking import peak_rss_mb, pin_threads, reset_peak_rss, rss_mb
    from kokoro_lab.coreml.convert import quiet_trace
    from kokoro_lab.coreml.heap import mapped_blocks, trim_heap
    from kokoro_lab.original.model import load_kmodel
    from kokoro_lab.rewrite.model import KokoroCompleteCoreML

    pin_threads(2)
    bucket, inputs = _inputs()
    model, _ = load_kmodel(disable_complex=True)
    module = KokoroCompleteCoreML(model, bucket.max_tokens, bucket.max_frames).eval()
    before = rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    if "eager" in flags:
        with torch.inference_mode():
            module(*inputs)
    else:
        heap = mapped_blocks() if "mapped" in flags else torch.no_grad()
        with heap, torch.no_grad(), quiet_trace():
            traced = torch.jit.trace(module, inputs, check_trace=False)
        if save:
            traced.save(save)
    seconds = time.perf_counter() - start
    peak, after = peak_rss_mb(), rss_mb()
    trim_heap()
    return {
        "before_mb": before,
        "peak_mb": peak,
        "after_mb": after,
        "after_trim_mb": rss_mb(),
        "seconds": seconds,
    }


def child_run(flags: list[str], traced_file: str) -> dict:
    import contextlib

    import torch

    from kokoro_lab.benchmarking import peak_rss_mb, pin_threads, reset_peak_rss, rss_mb
    from kokoro_lab.coreml.heap import legacy_executor, mapped_blocks, trim_heap

    pin_threads(2)
    _, inputs = _inputs()
    module = torch.jit.load(traced_file)
    after_load = rss_mb()
    context = contextlib.nullcontext()
    if "legacy" in flags:
        context = legacy_executor()
    elif "noopt" in flags:
        context = torch.jit.optimized_execution(False)
    elif "mapped" in flags:
        context = mapped_blocks()
    peaks, seconds, hashes = [], [], []
    with context:
        for _ in range(2):
            reset_peak_rss()
            start = time.perf_counter()
            with torch.inference_mode():
                audio, *_ = module(*inputs)
            seconds.append(time.perf_counter() - start)
            peaks.append(peak_rss_mb())
            hashes.append(hashlib.sha256(audio.numpy().tobytes()).hexdigest()[:16])
            if "trim" in flags:
                trim_heap()
    return {"after_load_mb": after_load, "run_peaks_mb": peaks, "run_seconds": seconds, "audio_sha": hashes}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=2, help="processes per configuration (default 2)")
    parser.add_argument("--child", choices=["trace", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--flags", nargs="*", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "trace":
        print(json.dumps(child_trace(args.flags, args.file)))
        return
    if args.child == "run":
        print(json.dumps(child_run(args.flags, args.file)))
        return
    me = [sys.executable, str(Path(__file__).resolve())]

    def child(kind: str, env: dict, flags: list[str], file: str) -> dict:
        command = [*me, "--child", kind, "--file", file, "--flags", *flags]
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # run_child passes this process's environment on
        try:
            report, maxrss = run_child(command)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        report["ru_maxrss_mb"] = maxrss
        return report

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        traced_file = str(Path(tmp) / "traced.pt")
        runs: dict[str, list[dict]] = {name: [] for name in (*TRACE_CONFIGS, *RUN_CONFIGS)}
        for i in range(args.repeats):
            for name, (env, flags) in TRACE_CONFIGS.items():
                save = traced_file if not os.path.exists(traced_file) and "eager" not in flags else ""
                runs[name].append(child("trace", env, flags, save))
                print(f"[{i + 1}/{args.repeats}] {name}: peak {runs[name][-1]['peak_mb']:.0f} MB", flush=True)
            for name, (env, flags) in RUN_CONFIGS.items():
                runs[name].append(child("run", env, flags, traced_file))
                print(f"[{i + 1}/{args.repeats}] {name}: peaks {runs[name][-1]['run_peaks_mb']}", flush=True)
    for name, reports in runs.items():
        if name in TRACE_CONFIGS:
            peaks = [r["peak_mb"] for r in reports]
            row = {
                "part": "trace",
                "config": name,
                "peak_mb": statistics.median(peaks),
                "peak_runs_mb": peaks,
                "before_mb": statistics.median(r["before_mb"] for r in reports),
                "after_mb": statistics.median(r["after_mb"] for r in reports),
                "after_trim_mb": statistics.median(r["after_trim_mb"] for r in reports),
                "seconds": statistics.median(r["seconds"] for r in reports),
            }
        else:
            peaks = [max(r["run_peaks_mb"]) for r in reports]
            row = {
                "part": "run",
                "config": name,
                "peak_mb": statistics.median(peaks),
                "peak_runs_mb": peaks,
                "before_mb": statistics.median(r["after_load_mb"] for r in reports),
                "seconds": statistics.median(s for r in reports for s in r["run_seconds"]),
                "audio_sha": sorted({h for r in reports for h in r["audio_sha"]}),
            }
        rows.append(row)
    print_table(
        rows, {"config": "configuration", "before_mb": "before MB", "peak_mb": "peak MB", "seconds": "s"}, 0
    )
    settings = {"threads": 2, "text": TEXT, "repeats": args.repeats, "bucket": "10s"}
    print("wrote", write_results("trace_memory", rows, settings))


if __name__ == "__main__":
    main()
