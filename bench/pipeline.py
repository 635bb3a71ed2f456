"""One graph or two: the two-stage pipeline against the single graph and the official model.

    .venv/bin/python bench/pipeline.py                          # every part, ~35 min on 2 cores
    .venv/bin/python bench/pipeline.py --parts ladder           # ~5 min
    .venv/bin/python bench/pipeline.py --parts paths configurations memory conversion

Work is measured as CPU seconds (``time.process_time``) of one thread: on a shared machine wall
time also counts the neighbours, while one thread's CPU time is the work the computation does.
Each part replaces its section of ``bench/results/pipeline.json`` and keeps the others:

* ``ladder``: the acoustic stage at frame counts from 40 to 600, built for F (``padded_s``) and on
  exactly F valid frames without masks (``unpadded_s``, the original model's computation); the
  text stage at each token bucket. ``kokoro_lab.coreml.ladder`` chooses the ratio from these.
* ``tokens``: the acoustic stage at 80 frames with 16 and with 160 token slots (also part of
  ``ladder``): what one acoustic family for every text bucket costs.
* ``paths`` (the rows): "Thank you.", the 20 sample sentences and runs of them up to 15 s, along
  four paths: the official ``KModel``; the single graph, padded, at the smallest bucket that fits
  (``KokoroCompleteCoreML``); the pipeline, padded, at the buckets it picks; the single graph's
  trimmed eager path. CPU seconds and the ratio to the official model, per text.
* ``configurations``: "Thank you." in each single-graph bucket, and in the pipeline whose ladders
  end at that bucket's size: what a short text costs when larger texts must also fit.
* ``memory``: peak RSS per path, one child process each (as ``bench/memory.py``).
* ``conversion``: the smallest packages converted (text 16 tokens, acoustic 40 and 46 frames, fp16):
  seconds and bytes; whether two acoustic packages store the same weights; one multifunction
  package holding both; ``ct.EnumeratedShapes`` over the token axis (text stage) and over the
  frame axis (acoustic stage).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")

from kokoro_lab.benchmarking import (  # noqa: E402
    LAB,
    LAB_PADDED,
    OFFICIAL,
    PIPELINE,
    RESULTS_DIR,
    LazyModels,
    machine_info,
    pin_threads,
    print_table,
    run_child,
    write_results,
)

PARTS = ("ladder", "tokens", "paths", "configurations", "memory", "conversion")
PATH_NAMES = (OFFICIAL, LAB_PADDED, PIPELINE, LAB)
LADDER_FRAMES = (40, 60, 80, 120, 160, 240, 320, 400, 480, 600)
SHORT_TEXT = "Thank you."
MEMORY_TEXT = "The quick brown fox jumps over the lazy dog."
LONG_RUNS = 5  # runs of sentences longer than the longest sentence (160 tokens reach ~10 s at speed 1)
SLOW, SLOW_RUNS = 0.7, 3  # the longest runs again at speed 0.7: 11 to 15 s


def cpu_seconds(fn) -> float:
    """CPU seconds of one call of ``fn`` (this process; one thread)."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def measure(fns: dict, repeats: dict[str, int]) -> dict[str, list[float]]:
    """Round-robin CPU seconds: ``repeats[name]`` calls of each function."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(max(repeats.values())):
        for name, fn in fns.items():
            if i < repeats[name]:
                times[name].append(cpu_seconds(fn))
    return times


class Paths(LazyModels):
    """The four paths; each model is loaded when a path first needs it, modules per bucket."""

    def __init__(self):
        self._pipeline = None

    @property
    def pipeline(self):
        if self._pipeline is None:
            from kokoro_lab.coreml.pipeline import KokoroPipeline

            self._pipeline = KokoroPipeline.in_torch(self.complex_free)
        return self._pipeline

    def single_bucket(self, n_tokens: int, frames: int):
        from kokoro_lab.coreml.buckets import BUCKETS

        for b in sorted(BUCKETS.values(), key=lambda b: b.max_frames):
            if n_tokens <= b.max_tokens and frames <= b.max_frames:
                return b
        raise ValueError(f"{n_tokens} tokens, {frames} frames fit no single-graph bucket.")

    def make(self, path: str, tokens, ref_s, bucket=None, pipeline=None, speed: float = 1.0):
        import torch

        from kokoro_lab.rewrite.model import KokoroCompleteCoreML, pad_inputs

        if path == OFFICIAL:
            official = self.official  # loaded here, not in the first call
            ids = torch.tensor([[0, *tokens, 0]])

            def run():
                with torch.inference_mode():
                    official.forward_with_tokens(ids, ref_s, speed)

            return run
        if path == PIPELINE:
            pipe = pipeline or self.pipeline
            return lambda: pipe.synthesize_tokens(tokens, ref_s, speed)
        module = KokoroCompleteCoreML(
            self.complex_free, bucket.max_tokens, bucket.max_frames, trim=path == LAB
        ).eval()
        input_ids, mask = pad_inputs(tokens, bucket.max_tokens)
        inputs = (input_ids, ref_s, torch.zeros(1, 9), mask, torch.tensor([float(speed)]))

        def run():
            with torch.inference_mode():
                module(*inputs)

        return run


def prepare(text: str, voice: str):
    from kokoro_lab.coreml.pipeline import KokoroPipeline

    return KokoroPipeline.prepare(text, voice)


# --- parts ------------------------------------------------------------------------------------


def part_ladder(paths: Paths, repeats: int) -> dict:
    """CPU seconds of the acoustic stage per frame count (padded, unpadded) and of the text stage."""
    import torch

    from kokoro_lab.coreml.buckets import SAMPLE_TEXTS
    from kokoro_lab.coreml.ladder import TEXT_BUCKETS
    from kokoro_lab.rewrite.inputs import pad_inputs
    from kokoro_lab.rewrite.stages import AcousticStage, TextStage

    model = paths.complex_free
    tokens, ref_s = prepare(" ".join(SAMPLE_TEXTS[:3]), "jf_alpha")
    L = max(TEXT_BUCKETS)
    tokens = tokens[: L - 2]
    text_rows = []
    for bucket in TEXT_BUCKETS:
        stage = TextStage(model, bucket).eval()
        input_ids, mask = pad_inputs(tokens[: bucket // 2], bucket)
        with torch.inference_mode():
            stage(input_ids, mask, ref_s, torch.ones(1))  # warm-up
            call = functools.partial(stage, input_ids, mask, ref_s, torch.ones(1))
            times = measure({"t": call}, {"t": repeats})["t"]
        text_rows.append({"tokens": bucket, "seconds": min(times), "times_s": times})
        print(f"text stage, {bucket} tokens: {min(times):.3f} s", flush=True)
    with torch.inference_mode():
        pred_dur, d, t_en = TextStage(model, L).eval()(*pad_inputs(tokens, L), ref_s, torch.ones(1))
    rows = []
    for F in LADDER_FRAMES:
        stage = AcousticStage(model, L, F).eval()
        dur = torch.zeros_like(pred_dur)  # exactly F frames over the tokens
        dur[0, : L - 2] = F // (L - 2)
        dur[0, : F - (F // (L - 2)) * (L - 2)] += 1
        args = (d, t_en, dur, ref_s, torch.zeros(1, 9))
        fns = {
            "padded": functools.partial(stage, *args),
            "unpadded": functools.partial(stage.forward_trimmed, *args),
        }
        with torch.inference_mode():
            for fn in fns.values():
                fn()  # warm-up
            times = measure(fns, {"padded": repeats, "unpadded": repeats})
        row = {"frames": F, "padded_s": min(times["padded"]), "unpadded_s": min(times["unpadded"])}
        row |= {"padded_times_s": times["padded"], "unpadded_times_s": times["unpadded"]}
        rows.append(row)
        print(
            f"acoustic stage, {F} frames: padded {row['padded_s']:.2f} s, unpadded {row['unpadded_s']:.2f} s"
        )
    return {"ladder": rows, "text_stage": text_rows, "acoustic_tokens": part_tokens(paths, repeats)}


def part_tokens(paths: Paths, repeats: int) -> list[dict]:
    """The acoustic stage's token axis: 16 against 160 token slots, 80 frames, same text."""
    import torch

    from kokoro_lab.coreml.buckets import SAMPLE_TEXTS
    from kokoro_lab.coreml.ladder import TEXT_BUCKETS
    from kokoro_lab.rewrite.inputs import pad_inputs
    from kokoro_lab.rewrite.stages import AcousticStage, TextStage, pad_tokens

    model = paths.complex_free
    tokens, ref_s = prepare(SAMPLE_TEXTS[0], "jf_alpha")
    with torch.inference_mode():
        pred_dur, d, t_en = TextStage(model, 16).eval()(*pad_inputs(tokens[:12], 16), ref_s, torch.ones(1))
    small_dur = pred_dur.clone()
    small_dur[0, :14] = 80 // 14  # 14 tokens, boundaries included, exactly 80 frames
    small_dur[0, : 80 - 14 * (80 // 14)] += 1
    token_rows = []
    for slots in (16, max(TEXT_BUCKETS)):
        stage = AcousticStage(model, slots, 80).eval()
        p, dd, tt = pad_tokens(small_dur, d, t_en, slots)
        call = functools.partial(stage, dd, tt, p, ref_s, torch.zeros(1, 9))
        with torch.inference_mode():
            call()  # warm-up
            times = measure({"t": call}, {"t": repeats})["t"]
        token_rows.append({"tokens": slots, "frames": 80, "padded_s": min(times), "times_s": times})
        print(f"acoustic stage, {slots} token slots, 80 frames: {min(times):.2f} s", flush=True)
    return token_rows


def choose_texts(paths: Paths, voice: str) -> list[tuple[str, float]]:
    """(text, speed): 'Thank you.', the 20 sentences, LONG_RUNS runs of sentences longer than the
    longest sentence, and the longest runs again at speed SLOW, stretched towards 15 s."""
    from kokoro_lab.coreml.buckets import SAMPLE_TEXTS, predicted_frames, sample_texts
    from kokoro_lab.original.voices import load_voice, style_for

    pack = load_voice(voice)
    frames = {
        s.text: predicted_frames(paths.complex_free, s.ids, style_for(pack, len(s.ids)))
        for s in sample_texts()
        if s.n_tokens <= 160
    }
    longest = max(frames[t] for t in SAMPLE_TEXTS)
    runs = sorted((f, t) for t, f in frames.items() if t not in SAMPLE_TEXTS and longest < f <= 600)
    step = max(1, len(runs) // LONG_RUNS)
    chosen = [t for _, t in runs[step - 1 :: step]][:LONG_RUNS]
    if runs and runs[-1][1] not in chosen:
        chosen[-1] = runs[-1][1]  # the longest run
    slow = [t for f, t in runs if f / SLOW <= 600][-SLOW_RUNS:]
    return [(t, 1.0) for t in (SHORT_TEXT, *SAMPLE_TEXTS, *chosen)] + [(t, SLOW) for t in slow]


def part_paths(paths: Paths, voice: str, repeats: int) -> list[dict]:
    """One row per text and path: CPU seconds and the ratio to the official model."""
    from kokoro_lab.config import SAMPLE_RATE

    rows = []
    warm = False
    for text, speed in choose_texts(paths, voice):
        tokens, ref_s = prepare(text, voice)
        choice = paths.pipeline.choose(tokens, ref_s, speed)
        bucket = paths.single_bucket(choice.tokens, choice.frames)
        fns = {p: paths.make(p, tokens, ref_s, bucket, speed=speed) for p in PATH_NAMES}
        if not warm:
            for fn in fns.values():
                fn()
            warm = True
        reps = {p: repeats if p != LAB_PADDED else 1 for p in PATH_NAMES}  # its cost is its bucket's
        times = measure(fns, reps)
        base = statistics.median(times[OFFICIAL])
        pipeline_bucket = f"{choice.text_bucket} tokens, {choice.frame_bucket} frames"
        for p in PATH_NAMES:
            computed = {LAB_PADDED: bucket.max_frames, PIPELINE: choice.frame_bucket}.get(p, choice.frames)
            rows.append(
                {
                    "case": text if speed == 1 else f"{text} (speed {speed:g})",
                    "text": text,
                    "speed": speed,
                    "path": p,
                    "tokens": choice.tokens,
                    "frames": choice.frames,
                    "audio_s": choice.frames * 600 / SAMPLE_RATE,
                    "bucket": {LAB_PADDED: bucket.name, PIPELINE: pipeline_bucket}.get(p),
                    "computed_frames": computed,
                    "cpu_s": statistics.median(times[p]),
                    "times_s": times[p],
                    "ratio_vs_official": statistics.median(times[p]) / base,
                }
            )
        got = {r["path"]: r["ratio_vs_official"] for r in rows[-len(PATH_NAMES) :]}
        print(
            f"{choice.tokens:3d} tokens, {choice.frames:3d} frames, speed {speed:g}: official {base:.2f} s; × "
            + ", ".join(f"{p} {v:.2f}" for p, v in got.items() if p != OFFICIAL),
            flush=True,
        )
    return rows


def part_configurations(paths: Paths, voice: str, repeats: int) -> list[dict]:
    """'Thank you.' in each single-graph bucket and in the pipeline whose ladders stop there."""
    from kokoro_lab.coreml.buckets import BUCKETS
    from kokoro_lab.coreml.ladder import FRAME_BUCKETS, TEXT_BUCKETS
    from kokoro_lab.coreml.pipeline import KokoroPipeline

    tokens, ref_s = prepare(SHORT_TEXT, voice)
    rows = []
    for b in sorted(BUCKETS.values(), key=lambda b: b.max_frames):
        frames = [f for f in FRAME_BUCKETS if f <= b.max_frames] or [b.max_frames]
        texts = [t for t in TEXT_BUCKETS if t <= b.max_tokens] or [b.max_tokens]
        pipe = KokoroPipeline.in_torch(paths.complex_free, texts, frames)
        choice = pipe.choose(tokens, ref_s)
        fns = {
            "single": paths.make(LAB_PADDED, tokens, ref_s, b),
            "pipeline": paths.make(PIPELINE, tokens, ref_s, pipeline=pipe),
        }
        for fn in fns.values():
            fn()
        times = measure(fns, {"single": repeats, "pipeline": repeats})
        rows.append(
            {
                "configuration": b.name,
                "largest_frames": b.max_frames,
                "single_graph_s": statistics.median(times["single"]),
                "pipeline_s": statistics.median(times["pipeline"]),
                "pipeline_buckets": [choice.text_bucket, choice.frame_bucket],
            }
        )
        print(
            f"{SHORT_TEXT!r} up to {b.name}: single graph {rows[-1]['single_graph_s']:.2f} s, pipeline {rows[-1]['pipeline_s']:.2f} s"
        )
    return rows


def memory_child(path: str, voice: str) -> None:
    """In a child process: load, reset the peak, synthesize twice, print JSON."""
    from kokoro_lab.benchmarking import peak_rss_mb, reset_peak_rss, rss_mb, self_maxrss_mb

    pin_threads(1)
    start = time.perf_counter()
    paths = Paths()
    tokens, ref_s = prepare(MEMORY_TEXT, voice)
    bucket = None
    if path != OFFICIAL:  # the official path loads the official model only
        choice = paths.pipeline.choose(tokens, ref_s)
        bucket = paths.single_bucket(choice.tokens, choice.frames)
    run = paths.make(path, tokens, ref_s, bucket)
    load_s = time.perf_counter() - start
    after_load = rss_mb()
    reset = reset_peak_rss()
    run()
    run()
    print(
        json.dumps(
            {
                "path": path,
                "rss_after_load_mb": after_load,
                "synthesis_peak_mb": peak_rss_mb() if reset else None,
                "ru_maxrss_mb": self_maxrss_mb(),
                "load_s": load_s,
            }
        )
    )


def part_memory(me: list[str], repeats: int) -> list[dict]:
    runs: dict[str, list[dict]] = {p: [] for p in PATH_NAMES}
    for i in range(repeats):
        for p in PATH_NAMES:
            report, peak = run_child([*me, "--memory-child", p])
            report["peak_rss_mb"] = peak
            runs[p].append(report)
            print(f"[{i + 1}/{repeats}] {p}: peak {peak:.0f} MB", flush=True)
    rows = []
    for p, reports in runs.items():
        peaks = [r["peak_rss_mb"] for r in reports]
        rows.append(
            {
                "path": p,
                "text": MEMORY_TEXT,
                "peak_rss_mb": statistics.median(peaks),
                "peak_rss_runs_mb": peaks,
                "rss_after_load_mb": statistics.median(r["rss_after_load_mb"] for r in reports),
                "synthesis_peak_mb": statistics.median(r["synthesis_peak_mb"] for r in reports),
            }
        )
    official = next(r["peak_rss_mb"] for r in rows if r["path"] == OFFICIAL)
    for r in rows:
        r["ratio_vs_official"] = r["peak_rss_mb"] / official
    return rows


def _weights_digest(package: Path) -> tuple[str, int]:
    """SHA-256 and size of a package's weight file (``Data/com.apple.CoreML/weights/weight.bin``)."""
    weights = next(package.rglob("weight.bin"))
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16], weights.stat().st_size


def part_conversion(paths: Paths, keep: Path | None) -> dict:
    """Convert the smallest packages and measure what sharing weights would save."""
    from kokoro_lab.coreml.convert import package_size
    from kokoro_lab.coreml.coremltools_import import load_coremltools
    from kokoro_lab.coreml.ladder import FRAME_BUCKETS, TEXT_BUCKETS
    from kokoro_lab.coreml.pipeline_convert import convert_pipeline

    ct = load_coremltools()
    model = paths.complex_free
    out: dict = {"precision": "fp16"}
    tmp = Path(tempfile.mkdtemp(prefix="kokoro-pipeline-"))
    try:
        directory = tmp / "pipeline"
        done = convert_pipeline(
            directory,
            (TEXT_BUCKETS[0],),
            FRAME_BUCKETS[:2],
            "fp16",
            model=model,
            progress=False,
            weights="bench weights",
        )
        out["packages"] = [
            {
                "package": name,
                "size_mb": done.sizes[name] / 1e6,
                **{f"{k}_s": v for k, v in done.seconds[name].items()},
            }
            for name in done.sizes
        ]
        a, b = (directory / f"acoustic-{F}.mlpackage" for F in FRAME_BUCKETS[:2])
        (da, sa), (db, sb) = _weights_digest(a), _weights_digest(b)
        out["acoustic_weights"] = {
            "identical": da == db,
            "weight_file_mb": sa / 1e6,
            "second_weight_file_mb": sb / 1e6,
        }
        print(f"acoustic weights identical: {da == db} ({sa / 1e6:.1f} MB each)", flush=True)
        # one multifunction package with both frame buckets (iOS18 / macOS 15)
        t0 = time.perf_counter()
        desc = ct.utils.MultiFunctionDescriptor()
        for package, F in ((a, FRAME_BUCKETS[0]), (b, FRAME_BUCKETS[1])):
            desc.add_function(str(package), src_function_name="main", target_function_name=f"frames_{F}")
        desc.default_function_name = f"frames_{FRAME_BUCKETS[0]}"
        multi = tmp / "acoustic-multifunction.mlpackage"
        ct.utils.save_multifunction(desc, str(multi))
        out["multifunction"] = {
            "functions": 2,
            "size_mb": package_size(multi) / 1e6,
            "separate_mb": (package_size(a) + package_size(b)) / 1e6,
            "seconds": time.perf_counter() - t0,
        }
        print(f"multifunction: {out['multifunction']}", flush=True)
        out["enumerated"] = enumerated_attempts(model, tmp)
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def enumerated_attempts(model, tmp: Path) -> dict:
    """``ct.EnumeratedShapes``: the text stage over its token axis, the acoustic stage over frames."""
    import numpy as np
    import torch

    from kokoro_lab.coreml.convert import convert_traced, package_size, quiet_trace
    from kokoro_lab.coreml.coremltools_import import load_coremltools
    from kokoro_lab.coreml.ladder import FRAME_BUCKETS, TEXT_BUCKETS
    from kokoro_lab.coreml.manifest import TEXT_INPUTS, TEXT_OUTPUTS
    from kokoro_lab.coreml.pipeline_convert import (
        acoustic_example_inputs,
        trace_acoustic_stage,
        trace_text_stage,
    )
    from kokoro_lab.rewrite.inputs import pad_inputs
    from kokoro_lab.rewrite.stages import AcousticStage, TextStage

    ct = load_coremltools()
    result: dict = {}
    # Text stage: trace at the smallest bucket; does the trace run at the others, and convert?
    L0 = TEXT_BUCKETS[0]
    traced = trace_text_stage(model, L0)
    tokens = [50, 83, 54, 156, 57, 135, 16, 43]
    same = []
    with torch.inference_mode():
        for L in TEXT_BUCKETS:
            args = (*pad_inputs(tokens, L), torch.zeros(1, 256), torch.ones(1))
            eager = TextStage(model, L).eval()(*args)
            same.append(all(torch.equal(a, b) for a, b in zip(eager, traced(*args), strict=True)))
    shapes = ct.EnumeratedShapes(shapes=[(1, L) for L in TEXT_BUCKETS], default=(1, L0))
    fixed = {"ref_s": (1, 256), "speed": (1,)}
    inputs = {
        n: (d, shapes if n in ("input_ids", "attention_mask") else fixed[n])
        for n, (d, _) in TEXT_INPUTS.items()
    }
    t0 = time.perf_counter()
    try:
        mlmodel = convert_traced(
            traced, inputs, {n: d for n, (d, _) in TEXT_OUTPUTS.items()}, "fp16", "iOS18", True
        )
        path = tmp / "text-enumerated.mlpackage"
        mlmodel.save(str(path))
        spec = mlmodel.get_spec()
        enumerated = [len(f.type.multiArrayType.enumeratedShapes.shapes) for f in spec.description.input]
        result["text"] = {
            "converted": True,
            "size_mb": package_size(path) / 1e6,
            "enumerated_shapes": max(enumerated),
        }
    except Exception as err:  # the finding is the error
        result["text"] = {"converted": False, "error": f"{type(err).__name__}: {err}"[:500]}
    result["text"] |= {"trace_generalises": all(same), "seconds": time.perf_counter() - t0, "target": "iOS18"}
    result["text"]["note"] = "two enumerated inputs (input_ids, attention_mask) need iOS18"
    print(f"text stage, enumerated: {result['text']}", flush=True)
    # Acoustic stage, as traced: F is a Python int in the trace (the alignment's arange); no input
    # has a frame axis, so nothing can be enumerated. Show it: the trace at F0 run on new inputs
    # still returns F0 frames.
    F0, F1 = FRAME_BUCKETS[:2]
    traced = trace_acoustic_stage(model, 16, F0)
    with torch.inference_mode():
        audio, *_ = traced(*acoustic_example_inputs(16, F1))
    result["acoustic"] = {
        "frame_axis_is_an_input": False,
        "trace_output_samples": int(audio.shape[-1]),
        "traced_for_samples": F0 * 600,
        "note": "max_frames is a constant of the trace (torch.arange(max_frames) in the alignment); "
        "the inputs are per token, so no input shape carries F",
    }

    # A variant that takes F from an input's shape: a [1, F] frame grid.
    class ByShape(torch.nn.Module):
        def __init__(self, stage):
            super().__init__()
            self.stage = stage

        def forward(self, d, t_en, pred_dur, ref_s, random_phases, frame_grid):
            self.stage.max_frames = frame_grid.shape[-1]  # a traced size, not a constant
            return self.stage.synthesize(d, t_en, pred_dur, ref_s, random_phases)

    stage = AcousticStage(model, 16, F0).eval()
    example = (*acoustic_example_inputs(16, F0), torch.zeros(1, F0))
    with torch.no_grad(), quiet_trace():
        by_shape = torch.jit.trace(ByShape(stage), example, check_trace=False)
        # checked on a real text's features (8 tokens, fewer than F0 frames) at the next rung
        pred_dur, d, t_en = TextStage(model, 16).eval()(
            *pad_inputs(tokens, 16), torch.zeros(1, 256), torch.ones(1)
        )
        args = (d, t_en, pred_dur, torch.zeros(1, 256), torch.zeros(1, 9), torch.zeros(1, F1))
        got = by_shape(*args)
        want = AcousticStage(model, 16, F1).eval().synthesize(*args[:-1])
    generalises = all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(got, want, strict=True))
    shapes = ct.EnumeratedShapes(shapes=[(1, F) for F in FRAME_BUCKETS[:4]], default=(1, F0))
    L = 16
    inputs = {
        "d": ("float32", (1, L, 640)),
        "t_en": ("float32", (1, 512, L)),
        "pred_dur": ("float32", (1, L)),
        "ref_s": ("float32", (1, 256)),
        "random_phases": ("float32", (1, 9)),
        "frame_grid": ("float32", shapes),
    }
    outputs = {"audio": "float32", "audio_length_samples": "int32", "frame_overflow": "int32"}
    t0 = time.perf_counter()
    variant: dict = {"trace_generalises": generalises, "frames": list(FRAME_BUCKETS[:4])}
    try:
        mlmodel = convert_traced(by_shape, inputs, outputs, "fp16", "iOS17", True)
        path = tmp / "acoustic-enumerated.mlpackage"
        mlmodel.save(str(path))
        variant |= {"converted": True, "size_mb": package_size(path) / 1e6}
    except Exception as err:  # the finding is the error
        variant |= {"converted": False, "error": f"{type(err).__name__}: {err}"[:500]}
    variant["seconds"] = time.perf_counter() - t0
    result["acoustic_frame_grid"] = variant
    print(f"acoustic stage with a frame-grid input, enumerated: {variant}", flush=True)
    del np
    return result


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per path and text (default 2)")
    parser.add_argument("--memory-repeats", type=int, default=2, help="processes per path (default 2)")
    parser.add_argument("--voice", default="jf_alpha")
    parser.add_argument("--keep", type=Path, default=None, help="keep the converted packages here")
    parser.add_argument("--memory-child", choices=PATH_NAMES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child, args.voice)
    pin_threads(1)
    old = RESULTS_DIR / "pipeline.json"
    previous = json.loads(old.read_text()) if old.exists() else {}
    sections = {
        k: previous.get(k)
        for k in ("ladder", "text_stage", "acoustic_tokens", "configurations", "memory", "conversion")
    }
    rows = previous.get("rows", [])
    settings = previous.get("settings", {}) | {
        "threads": 1,
        "clock": "CPU seconds (time.process_time), one thread",
    }
    settings |= {"voice": args.voice, "memory_text": MEMORY_TEXT, "short_text": SHORT_TEXT}
    settings["repeats_per_part"] = settings.get("repeats_per_part", {}) | {  # parts may run alone
        part: args.memory_repeats if part == "memory" else args.repeats
        for part in args.parts
        if part != "conversion"  # converted once
    }
    if "paths" in args.parts:
        settings["repeats"] = args.repeats  # the rows' repeats
    from kokoro_lab.coreml.ladder import FRAME_BUCKETS, FRAME_LADDER_RATIO, TEXT_BUCKETS

    paths = Paths()
    parts = set(args.parts)
    if "ladder" in parts:
        sections |= part_ladder(paths, args.repeats)
    if "tokens" in parts and "ladder" not in parts:
        sections["acoustic_tokens"] = part_tokens(paths, args.repeats)
    if "paths" in parts:
        settings |= {"frame_ladder_ratio": FRAME_LADDER_RATIO, "frame_buckets": list(FRAME_BUCKETS)}
        settings |= {"text_buckets": list(TEXT_BUCKETS)}
        rows = part_paths(paths, args.voice, args.repeats)
        print_table(
            rows,
            {
                "tokens": "tokens",
                "frames": "frames",
                "path": "path",
                "cpu_s": "CPU s",
                "ratio_vs_official": "× official",
            },
        )
    if "configurations" in parts:
        sections["configurations"] = part_configurations(paths, args.voice, args.repeats)
    if "memory" in parts:
        me = [sys.executable, str(Path(__file__).resolve()), "--voice", args.voice]
        sections["memory"] = part_memory(me, args.memory_repeats)
    if "conversion" in parts:
        sections["conversion"] = part_conversion(paths, args.keep)
    missing = [k for k, v in sections.items() if v is None] + ([] if rows else ["rows"])
    if missing:
        print(f"not written yet: {missing}; run the other parts too", file=sys.stderr)
    print("wrote", write_results("pipeline", rows, settings, machine=machine_info(), extra=sections))


if __name__ == "__main__":
    main()
