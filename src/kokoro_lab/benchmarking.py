"""Benchmark helpers: the machine, timing with warm-up and repeats, peak memory, results files.

The scripts in ``bench/`` use these; the performance chapter reads the JSON files they write.
Every results file is one JSON object with ``benchmark``, ``machine``, ``settings`` and ``rows``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .atomic import atomic_path

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench" / "results"
REQUIRED_KEYS = ("benchmark", "machine", "settings", "rows")


def timing_parser(doc: str | None, repeats: int) -> argparse.ArgumentParser:
    """An argument parser with the flags every timing script shares: threads, repeats, warm-up, voice."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument(
        "--repeats", type=int, default=repeats, help=f"timed runs per case (default: {repeats})"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default: 1)")
    parser.add_argument("--voice", default="jf_alpha", help="voice pack (default: jf_alpha)")
    return parser


def pin_threads(threads: int) -> int:
    """Use ``threads`` intra-op threads in torch (and OpenMP libraries started later). → threads."""
    import torch

    if threads < 1:
        raise ValueError(f"threads must be ≥ 1, got {threads}.")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    return threads


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags(wanted=("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "neon")) -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                have = set(line.split(":", 1)[1].split())
                return [f for f in wanted if f in have]
    except OSError:
        pass
    return []


def machine_info() -> dict[str, Any]:
    """CPU, core count, OS, and the versions of Python, torch and onnxruntime."""
    import torch

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": affinity,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": ort_version,
        "torch_threads": torch.get_num_threads(),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of ``repeats`` calls after ``warmup`` discarded calls."""

    median: float
    min: float
    max: float
    times: tuple[float, ...]
    warmup: int

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["times"] = list(self.times)
        return d


def time_call(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> tuple[Timing, Any]:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed. → (timing, last result)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats ≥ 1 and warmup ≥ 0, got {repeats}, {warmup}.")
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), max(times), tuple(times), warmup), result


def time_interleaved(
    fns: dict[str, Callable[[], Any]], repeats: int = 5, warmup: int = 1
) -> tuple[dict[str, Timing], dict[str, Any]]:
    """Time several callables round-robin, so that a noisy neighbour slows all of them alike.

    Returns ``({name: timing}, {name: last result})``.
    """
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats ≥ 1 and warmup ≥ 0, got {repeats}, {warmup}.")
    results: dict[str, Any] = {}
    for _ in range(warmup):
        for name, fn in fns.items():
            results[name] = fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    timings = {
        name: Timing(statistics.median(t), min(t), max(t), tuple(t), warmup) for name, t in times.items()
    }
    return timings, results


# --- memory -----------------------------------------------------------------------------------


def rss_mb() -> float | None:
    """Current resident set size of this process in MB (Linux), else ``None``."""
    return _status_mb("VmRSS")


def peak_rss_mb() -> float | None:
    """Peak resident set size since start or since :func:`reset_peak_rss` (Linux ``VmHWM``)."""
    return _status_mb("VmHWM")


def _status_mb(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS to the current RSS (Linux ≥ 4.0). → whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_child(argv: Sequence[str], timeout: float = 1800) -> tuple[dict[str, Any], float]:
    """Run ``argv`` (a Python child that prints one JSON object last on stdout).

    Returns ``(the child's JSON, its peak RSS in MB from ru_maxrss)``. The peak is read with
    ``os.wait4`` for this child alone, so other children do not mix in.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, text=True)
        deadline = time.monotonic() + timeout
        while True:  # reap it ourselves: Popen.wait() would discard the rusage
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise TimeoutError(f"{' '.join(argv)} ran longer than {timeout:.0f} s.")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{stderr[-2000:]}")
    lines = [line for line in stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(argv)} printed no JSON result:\n{stdout[-2000:]}\n{stderr[-2000:]}")
    maxrss = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return json.loads(lines[-1]), maxrss


def self_maxrss_mb() -> float:
    """This process's ``ru_maxrss`` in MB (Linux reports KB, macOS bytes)."""
    import resource

    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


# --- results files ----------------------------------------------------------------------------


def write_results(
    name: str,
    rows: list[dict[str, Any]],
    settings: dict[str, Any],
    machine: dict[str, Any] | None = None,
    directory: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``bench/results/<name>.json`` atomically (replacing an older file). → the path."""
    directory = RESULTS_DIR if directory is None else Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "machine": machine_info() if machine is None else machine,
        "settings": settings,
        "rows": rows,
        **(extra or {}),
    }
    path = directory / f"{name}.json"
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        tmp.chmod(0o644)  # a results file to commit and share, not a private temporary
    return path


def load_results(name: str, directory: Path | None = None, required: bool = True) -> dict[str, Any] | None:
    """Read ``bench/results/<name>.json``; ``None`` if missing and not ``required``.

    Raises:
        FileNotFoundError: missing and ``required``, naming the script that writes it.
        ValueError: the file lacks one of the top-level keys.
    """
    directory = RESULTS_DIR if directory is None else Path(directory)
    path = directory / f"{name}.json"
    if not path.exists():
        if required:
            raise FileNotFoundError(f"{path} is missing; run `.venv/bin/python bench/{name}.py` first.")
        return None
    payload = json.loads(path.read_text(encoding="utf-8"))
    missing = (
        [k for k in REQUIRED_KEYS if k not in payload] if payload.get("benchmark") != "conversion" else []
    )
    if missing:
        raise ValueError(f"{path} lacks {missing}; re-run bench/{name}.py.")
    return payload


def markdown_table(rows: Sequence[dict[str, Any]], columns: dict[str, str], digits: int = 2) -> str:
    """A Markdown table of ``rows``; ``columns`` maps row keys to headers. Floats get ``digits``."""

    def fmt(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:,.{digits}f}"
        return str(v)

    head = "| " + " | ".join(columns.values()) + " |"
    rule = "|" + "|".join(" --- " for _ in columns) + "|"
    body = ["| " + " | ".join(fmt(r.get(k)) for k in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def print_table(rows: Sequence[dict[str, Any]], columns: dict[str, str], digits: int = 2) -> None:
    """Print ``rows`` as an aligned text table (for the scripts' console output)."""
    text = [[h for h in columns.values()]]
    for r in rows:
        text.append(
            [
                "–" if r.get(k) is None else f"{r[k]:.{digits}f}" if isinstance(r[k], float) else str(r[k])
                for k in columns
            ]
        )
    widths = [max(len(row[i]) for row in text) for i in range(len(columns))]
    for j, row in enumerate(text):
        print("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


# --- plots ------------------------------------------------------------------------------------


def plot_scaling(rows: Sequence[dict[str, Any]], title: str = "synthesis time against text length"):
    """Seconds (median, min–max bars) against tokens, one line per path. → the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for path in dict.fromkeys(r["path"] for r in rows):
        pts = sorted((r for r in rows if r["path"] == path), key=lambda r: r["tokens"])
        x = [r["tokens"] for r in pts]
        med = [r["median_s"] for r in pts]
        err = [[r["median_s"] - r["min_s"] for r in pts], [r["max_s"] - r["median_s"] for r in pts]]
        axes[0].errorbar(x, med, yerr=err, marker="o", capsize=3, label=path)
        axes[1].plot(x, [r["rtf"] for r in pts], marker="o", label=path)
    axes[0].set(xlabel="phoneme tokens", ylabel="seconds (median, min–max)", title=title)
    axes[1].set(xlabel="phoneme tokens", ylabel="real-time factor (s per s of audio)", title="RTF")
    axes[1].axhline(1.0, color="grey", lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_padding(rows: Sequence[dict[str, Any]], title: str = "one short text in each bucket"):
    """Seconds per bucket for each path: what padding costs. → the figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    buckets = list(dict.fromkeys(r["bucket"] for r in rows))
    paths = list(dict.fromkeys(r["path"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(paths)
    for i, path in enumerate(paths):
        vals = [
            next((r["median_s"] for r in rows if r["path"] == path and r["bucket"] == b), np.nan)
            for b in buckets
        ]
        ax.bar(np.arange(len(buckets)) + i * width, vals, width, label=path)
    ax.set_xticks(np.arange(len(buckets)) + width * (len(paths) - 1) / 2, buckets)
    ax.set(xlabel="bucket", ylabel="seconds (median)", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_stages(rows: Sequence[dict[str, Any]], title: str = "where the time goes"):
    """Stacked bars of seconds per stage, one bar per path. → the figure."""
    import matplotlib.pyplot as plt

    paths = list(dict.fromkeys(r["path"] for r in rows))
    stages = list(dict.fromkeys(r["stage"] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 3.5))
    bottom = [0.0] * len(paths)
    for stage in stages:
        vals = [
            next((r["seconds"] for r in rows if r["path"] == p and r["stage"] == stage), 0.0) for p in paths
        ]
        ax.barh(paths, vals, left=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set(xlabel="seconds (profiler, one run)", title=title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_book_times(
    rows: Sequence[dict[str, Any]], budget_s: float = 15 * 60, title: str = "the book, chapter by chapter"
):
    """Horizontal bars of seconds per notebook, stacked in running order against ``budget_s``. → the figure."""
    import matplotlib.pyplot as plt

    names = [r["notebook"].removesuffix(".ipynb") for r in rows]
    seconds = [r["seconds"] for r in rows]
    fig, (ax, total) = plt.subplots(
        2, 1, figsize=(8, 0.3 * len(rows) + 1.8), height_ratios=[len(rows), 1.5], constrained_layout=True
    )
    ax.barh(names, seconds, color=["C0" if r["ok"] else "C3" for r in rows])
    ax.invert_yaxis()
    ax.set(xlabel="seconds", title=title)
    left = 0.0
    for name, s in zip(names, seconds, strict=True):
        total.barh([""], [s], left=left, edgecolor="white")
        if s > 0.05 * budget_s:
            total.text(left + s / 2, 0, name[:2], ha="center", va="center", fontsize=8, color="white")
        left += s
    total.axvline(budget_s, color="k", ls="--", lw=1)
    total.set(
        xlabel=f"cumulative seconds (dashed: the {budget_s / 60:.0f}-minute goal)",
        xlim=(0, max(left, budget_s) * 1.05),
    )
    return fig


# --- the synthesis paths ----------------------------------------------------------------------

OFFICIAL = "official KModel"
LAB = "kokoro-lab eager"
LAB_PADDED = "kokoro-lab eager, padded"
TRACED = "TorchScript trace"
ORT = "onnxruntime int8"
PATHS = (OFFICIAL, LAB, LAB_PADDED, TRACED, ORT)
PIPELINE = "two-stage pipeline, padded"  # bench/pipeline.py: each stage at the smallest bucket that fits


def fitting_bucket(n_phonemes: int, frames: int | None = None):
    """The smallest named bucket that holds ``n_phonemes`` tokens (and ``frames``, if given).

    Past the named buckets, a larger one is built: tokens rounded up to a multiple of 32 (at
    most 512), frames to whole 5-second steps with the buckets' 10 % margin over ``frames``.
    """
    import math

    from .coreml.buckets import BUCKETS, SAFETY_MARGIN, Bucket, frames_for

    for b in sorted(BUCKETS.values(), key=lambda b: b.max_tokens):
        if n_phonemes + 2 <= b.max_tokens and (frames is None or frames <= b.max_frames):
            return b
    if n_phonemes + 2 > 512:
        raise ValueError(f"{n_phonemes} phoneme tokens exceed ALBERT's 510; split the text.")
    need = frames if frames is not None else 6 * (n_phonemes + 2)  # ~6 frames per token at most
    seconds = 5.0 * math.ceil(need * (1 + SAFETY_MARGIN) / frames_for(5.0))
    tokens = min(512, 32 * math.ceil((n_phonemes + 2) / 32))
    return Bucket(f"{seconds:g}s (built)", seconds, max_tokens=tokens, max_frames=frames_for(seconds))


@dataclass
class Output:
    """What every path returns: seconds of audio and per-token durations (boundaries included)."""

    audio_s: float
    durations: list[int]


class LazyModels:
    """The official ``KModel`` and its ``disable_complex=True`` twin, each loaded on first use."""

    _official = _complex_free = None

    @property
    def official(self):
        from .original.model import load_kmodel

        if self._official is None:
            self._official, _ = load_kmodel()
        return self._official

    @property
    def complex_free(self):
        from .original.model import load_kmodel

        if self._complex_free is None:
            self._complex_free, _ = load_kmodel(disable_complex=True)
        return self._complex_free


class SynthesisPaths(LazyModels):
    """Callables that synthesize one utterance along each path, models loaded once.

    ``KokoroCompleteCoreML`` runs at the given bucket: ``trim=True`` for :data:`LAB`, the padded
    computation for :data:`LAB_PADDED`, and ``torch.jit.trace`` of the padded module for
    :data:`TRACED` (traced once per bucket). All torch paths run under ``torch.inference_mode``.
    """

    def __init__(self, threads: int, paths: Sequence[str] = PATHS):
        unknown = set(paths) - set(PATHS)
        if unknown:
            raise ValueError(f"Unknown paths {sorted(unknown)}; choose from {PATHS}.")
        self.threads = pin_threads(threads)
        self.paths = tuple(paths)
        self._official = self._complex_free = None
        self._traced: dict[tuple[int, int], Any] = {}
        self.trace_seconds: dict[str, float] = {}

    def traced(self, bucket):
        """``torch.jit.trace`` of the padded module for ``bucket`` (cached)."""
        import torch

        from .rewrite.model import KokoroCompleteCoreML, pad_inputs

        key = (bucket.max_tokens, bucket.max_frames)
        if key not in self._traced:
            module = KokoroCompleteCoreML(self.complex_free, *key).eval()
            ids, mask = pad_inputs([50, 83, 156], bucket.max_tokens)
            inputs = (ids, torch.zeros(1, 256), torch.zeros(1, 9), mask, torch.ones(1))
            start = time.perf_counter()
            with torch.no_grad():
                self._traced[key] = torch.jit.trace(module, inputs, check_trace=False)
            self.trace_seconds[bucket.name] = time.perf_counter() - start
        return self._traced[key]

    def make(
        self, path: str, tokens: Sequence[int], ref_s, bucket=None, speed: float = 1.0
    ) -> Callable[[], Output]:
        """A no-argument callable synthesizing ``tokens`` along ``path``. → :class:`Output`."""
        import torch

        from .config import SAMPLE_RATE
        from .rewrite.model import KokoroCompleteCoreML, pad_inputs

        tokens = [int(t) for t in tokens]
        n = len(tokens) + 2
        if path == OFFICIAL:
            model, ids = self.official, torch.tensor([[0, *tokens, 0]])

            def run():
                with torch.inference_mode():
                    audio, dur = model.forward_with_tokens(ids, ref_s, speed)
                return Output(audio.numel() / SAMPLE_RATE, [int(d) for d in dur.reshape(-1)])

            return run
        if path == ORT:
            from .original.onnx_reference import onnx_synthesize

            def run():
                audio, dur = onnx_synthesize(tokens, ref_s, speed, threads=self.threads)
                return Output(audio.size / SAMPLE_RATE, [int(d) for d in dur])

            return run
        if bucket is None:
            raise ValueError(f"{path} needs a bucket; use fitting_bucket().")
        input_ids, mask = pad_inputs(tokens, bucket.max_tokens)
        inputs = (input_ids, ref_s, torch.zeros(1, 9), mask, torch.tensor([float(speed)]))
        if path == TRACED:
            module = self.traced(bucket)
        else:
            module = KokoroCompleteCoreML(
                self.complex_free, bucket.max_tokens, bucket.max_frames, trim=path == LAB
            ).eval()

        def run():
            with torch.inference_mode():
                _, length, dur, overflow = module(*inputs)
            if int(overflow) > 0:
                raise ValueError(f"{path}: the text overflows bucket {bucket.name}; choose a larger one.")
            return Output(int(length) / SAMPLE_RATE, [int(d) for d in dur[0, :n]])

        return run


def utterance(text: str, voice: str = "jf_alpha") -> tuple[list[int], Any]:
    """Phoneme token ids (no boundaries) and the style ``ref_s`` [1, 256] for ``text``."""
    from .original.text import phonemize, tokenize
    from .original.voices import load_voice, style_for

    tokens = list(tokenize(phonemize(text)))
    return tokens, style_for(load_voice(voice), len(tokens))


__all__ = [
    "LAB",
    "LAB_PADDED",
    "OFFICIAL",
    "ORT",
    "PATHS",
    "PIPELINE",
    "RESULTS_DIR",
    "TRACED",
    "Output",
    "SynthesisPaths",
    "fitting_bucket",
    "utterance",
    "Timing",
    "load_results",
    "machine_info",
    "markdown_table",
    "peak_rss_mb",
    "pin_threads",
    "plot_padding",
    "plot_scaling",
    "plot_stages",
    "print_table",
    "reset_peak_rss",
    "rss_mb",
    "run_child",
    "self_maxrss_mb",
    "time_call",
    "time_interleaved",
    "write_results",
]
