"""Peak memory per path, each path in its own process.

    .venv/bin/python bench/memory.py                    # ~20 min on 2 cores
    .venv/bin/python bench/memory.py --repeats 1        # one process per path, ~7 min

A child process per path loads what the path needs, synthesizes the same text twice and
exits; the parent reads the child's peak resident set size (``ru_maxrss``, via ``os.wait4``).
The child also reports its RSS after loading and the peak during synthesis alone (Linux
``VmHWM`` after resetting it through ``/proc/self/clear_refs``). The official path loads
``kokoro.KModel`` exactly as kokoro does; kokoro-lab's paths load through ``load_kmodel`` (with
its strict check). The traced path loads a ``torch.jit.save``-d module, as a deployment would,
without the eager model.

How much freed memory the allocator hands back varies from process to process, so each path
runs ``--repeats`` times, round-robin over the paths; the rows give the median, min and max.
Writes ``bench/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from kokoro_lab.benchmarking import (
    OFFICIAL,
    ORT,
    PATHS,
    TRACED,
    fitting_bucket,
    pin_threads,
    print_table,
    rss_mb,
    run_child,
    write_results,
)

TEXT = "The quick brown fox jumps over the lazy dog."


def child(path: str, threads: int, voice: str, traced_file: str | None) -> None:
    """Runs in the child process: load, reset the peak, synthesize twice, print JSON."""
    from kokoro_lab.benchmarking import SynthesisPaths, peak_rss_mb, reset_peak_rss, self_maxrss_mb, utterance

    pin_threads(threads)
    import torch

    start = time.perf_counter()
    tokens, ref_s = utterance(TEXT, voice)
    bucket = fitting_bucket(len(tokens))
    if path == TRACED:
        from kokoro_lab.rewrite.model import pad_inputs

        module = torch.jit.load(traced_file)
        input_ids, mask = pad_inputs(tokens, bucket.max_tokens)

        def run():
            with torch.inference_mode():
                return module(input_ids, ref_s, torch.zeros(1, 9), mask, torch.ones(1))

    else:
        sp = SynthesisPaths(threads, [path])
        if path == OFFICIAL:  # as a kokoro user loads it: no kokoro-lab loader in between
            from kokoro import KModel

            from kokoro_lab.config import REPO_ID, config_path
            from kokoro_lab.original.checkpoint import resolve_checkpoint

            checkpoint = str(resolve_checkpoint().path)
            sp._official = KModel(repo_id=REPO_ID, config=str(config_path()), model=checkpoint).eval()
        elif path == ORT:
            from kokoro_lab.original.onnx_reference import _session

            _session(threads)
        else:
            sp.complex_free  # noqa: B018
        run = sp.make(path, tokens, ref_s, bucket)
    load_s = time.perf_counter() - start
    after_load = rss_mb()
    reset = reset_peak_rss()
    start = time.perf_counter()
    run()
    run()
    print(
        json.dumps(
            {
                "path": path,
                "bucket": None if path in (OFFICIAL, ORT) else bucket.name,
                "tokens": len(tokens) + 2,
                "load_s": load_s,
                "two_runs_s": time.perf_counter() - start,
                "rss_after_load_mb": after_load,
                "synthesis_peak_mb": peak_rss_mb() if reset else None,
                "ru_maxrss_mb": self_maxrss_mb(),
            }
        )
    )


def save_traced(threads: int, voice: str, file: str) -> None:
    """Runs in a child: trace the padded module at the text's bucket and save it."""
    from kokoro_lab.benchmarking import SynthesisPaths, utterance

    tokens, _ = utterance(TEXT, voice)
    sp = SynthesisPaths(threads, [TRACED])
    sp.traced(fitting_bucket(len(tokens))).save(file)
    print(json.dumps({"saved": file}))


def summarize(path: str, reports: list[dict]) -> dict:
    """One row per path: the median of every measure over its processes, and the spread of the peak."""
    import statistics

    row = {k: reports[0][k] for k in ("path", "bucket", "tokens")}
    for key in (
        "load_s",
        "two_runs_s",
        "rss_after_load_mb",
        "synthesis_peak_mb",
        "ru_maxrss_mb",
        "peak_rss_mb",
    ):
        values = [r[key] for r in reports if r[key] is not None]
        row[key] = statistics.median(values) if values else None
    peaks = [r["peak_rss_mb"] for r in reports]
    row.update(peak_rss_min_mb=min(peaks), peak_rss_max_mb=max(peaks), peak_rss_runs_mb=peaks)
    row["rss_after_load_runs_mb"] = [r["rss_after_load_mb"] for r in reports]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--voice", default="jf_alpha")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS))
    parser.add_argument("--repeats", type=int, default=3, help="processes per path (default: 3)")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--save-traced", help=argparse.SUPPRESS)
    parser.add_argument("--traced-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1.")
    if args.child:
        return child(args.child, args.threads, args.voice, args.traced_file)
    if args.save_traced:
        return save_traced(args.threads, args.voice, args.save_traced)

    me = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--threads",
        str(args.threads),
        "--voice",
        args.voice,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        traced_file = str(Path(tmp) / "traced.pt")
        if TRACED in args.paths:
            run_child([*me, "--save-traced", traced_file])
        runs: dict[str, list[dict]] = {path: [] for path in args.paths}
        for i in range(args.repeats):  # round-robin, so a busy moment hits every path alike
            for path in args.paths:
                report, maxrss = run_child([*me, "--child", path, "--traced-file", traced_file])
                report["peak_rss_mb"] = maxrss
                runs[path].append(report)
                print(f"[{i + 1}/{args.repeats}] {path}: peak {maxrss:.0f} MB", flush=True)
        rows = [summarize(path, reports) for path, reports in runs.items()]
    official = next((r["peak_rss_mb"] for r in rows if r["path"] == OFFICIAL), None)
    for r in rows:
        r["ratio_vs_official"] = None if official is None else r["peak_rss_mb"] / official
    print_table(
        rows,
        {
            "path": "path",
            "bucket": "bucket",
            "rss_after_load_mb": "after load MB",
            "synthesis_peak_mb": "synthesis peak MB",
            "peak_rss_mb": "peak RSS MB",
            "peak_rss_min_mb": "min",
            "peak_rss_max_mb": "max",
            "ratio_vs_official": "× official",
        },
        digits=0,
    )
    settings = {
        "threads": args.threads,
        "voice": args.voice,
        "text": TEXT,
        "runs_per_child": 2,
        "repeats": args.repeats,
        "statistic": "median over the repeats (min and max alongside)",
    }
    print("wrote", write_results("memory", rows, settings))


if __name__ == "__main__":
    main()
