"""The results files in ``bench/results/``, read and checked against what their scripts write.

:func:`load_checked` reads ``bench/results/<name>.json`` and checks it against ``SCHEMAS[name]``:
the keys of ``settings`` and of each row, the kind of every row field (``"positive"``: a finite
number > 0, …; a ``?`` suffix lets the field be ``null`` or absent), the paths each group of rows
must hold (every path for every text, …), and the arithmetic the script did (medians, ratios,
totals). A file that does not match raises :class:`ResultsError` naming the file, the field and the
command that rewrites it, so a stale or hand-edited file is caught where it is read.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from .benchmarking import LAB, LAB_PADDED, OFFICIAL, ORT, PATHS, PIPELINE, RESULTS_DIR, TRACED


class ResultsError(ValueError):
    """A results file is missing, unreadable, or does not match its schema."""


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {  # kind → (description, test)
    "str": ("a non-empty string", lambda x: isinstance(x, str) and x != ""),
    "bool": ("true or false", lambda x: isinstance(x, bool)),
    "int": ("an integer", _int),
    "count": ("an integer ≥ 0", lambda x: _int(x) and x >= 0),
    "≥ 0": ("a finite number ≥ 0", lambda x: _number(x) and x >= 0),
    "positive": ("a finite number > 0", lambda x: _number(x) and x > 0),
    "fraction": ("a finite number in [0, 1]", lambda x: _number(x) and 0 <= x <= 1),
    "number": ("a finite number", _number),
    "positives": (
        "a non-empty list of finite numbers > 0",
        lambda x: isinstance(x, list) and x != [] and all(_number(v) and v > 0 for v in x),
    ),
    "dict": ("an object", lambda x: isinstance(x, dict)),
    "list": ("a list", lambda x: isinstance(x, list)),
    "any": ("anything", lambda x: True),
}

Rule = tuple[str, Callable[[Any], bool]]  # (what must hold, test on a row or on the whole file)


@dataclass(frozen=True)
class Schema:
    """What one results file holds; see the module docstring."""

    command: str  # rewrites the file, run from the repository root
    settings: tuple[str, ...]  # keys ``settings`` must hold
    rows: dict[str, str]  # row field → kind in KINDS, "?" suffix: may be null or absent
    paths: tuple[str, ...] = ()  # path names every group of rows holds
    group: str | None = None  # the row field that groups the rows (None: one group)
    extra: dict[str, str] = field(default_factory=dict)  # top-level keys besides the four → kind
    row_rules: tuple[Rule, ...] = ()
    file_rules: tuple[Rule, ...] = ()


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


MACHINE = {"cpu": "str", "cpu_count": "positive", "usable_cpus": "positive", "python": "str"}
MACHINE |= {"torch": "str", "onnxruntime": "str", "torch_threads": "positive", "date_utc": "str"}
TIMED = {"path": "str", "tokens": "count", "bucket": "str?", "audio_s": "positive"}
TIMED |= {k: "positive" for k in ("median_s", "min_s", "max_s", "rtf")} | {"times_s": "positives"}
TIMING_RULES: tuple[Rule, ...] = (
    ("min_s ≤ median_s ≤ max_s", lambda r: r["min_s"] <= r["median_s"] <= r["max_s"]),
    ("median_s = median(times_s)", lambda r: _close(r["median_s"], statistics.median(r["times_s"]))),
    ("rtf = median_s / audio_s", lambda r: _close(r["rtf"], r["median_s"] / r["audio_s"])),
)
TIMING_SETTINGS = ("threads", "repeats", "warmup", "voice")


def _ratios(key: str, group: str | None = None) -> Rule:
    """ratio_vs_official = ``key`` / the official row's ``key`` (of the same ``group``)."""

    def test(payload: dict) -> bool:
        base = {r.get(group): r[key] for r in payload["rows"] if r["path"] == OFFICIAL}
        return all(_close(r["ratio_vs_official"], r[key] / base[r.get(group)]) for r in payload["rows"])

    same = f" of the same {group}" if group else ""
    return f"ratio_vs_official = {key} / the official {key}{same}", test


def _shares_sum_to_one(payload: dict) -> bool:
    paths = {r["path"] for r in payload["rows"]}
    return all(_close(sum(r["share"] for r in payload["rows"] if r["path"] == p), 1.0) for p in paths)


def _within_spread(row: dict) -> bool:
    return row["peak_rss_min_mb"] <= row["peak_rss_mb"] <= row["peak_rss_max_mb"]


def _one_text(payload: dict) -> bool:
    return len({r["audio_s"] for r in payload["rows"]}) == 1


def _total_of_steps(row: dict) -> bool:
    steps = [v for k, v in row.items() if k.endswith("_s") and k != "total_s"]
    return _close(row["total_s"], sum(steps))


def _total_of_rows(payload: dict) -> bool:
    return math.isclose(payload["total_seconds"], sum(r["seconds"] for r in payload["rows"]), abs_tol=1e-6)


def _steps_from_zero(payload: dict) -> bool:
    steps = [r["step"] for r in payload["rows"]]
    return steps[0] == 0 and all(a < b for a, b in pairwise(steps))


def _ladder_measured(payload: dict) -> bool:
    """The acoustic stage per frame count: positive seconds, frame counts increasing from 40."""
    rows = payload["ladder"]
    frames = [r["frames"] for r in rows]
    return (
        len(rows) >= 2
        and frames[0] == 40
        and all(a < b for a, b in pairwise(frames))
        and all(_number(r["padded_s"]) and _number(r["unpadded_s"]) and r["padded_s"] > 0 for r in rows)
        and all(_close(r["padded_s"], min(r["padded_times_s"])) for r in rows)
    )


def _memory_measured(payload: dict) -> bool:
    """Every path has a peak; ratio_vs_official = peak / the official peak."""
    rows = {r["path"]: r for r in payload["memory"]}
    if set(rows) != {OFFICIAL, LAB_PADDED, PIPELINE, LAB}:
        return False
    base = rows[OFFICIAL]["peak_rss_mb"]
    return all(_close(r["ratio_vs_official"], r["peak_rss_mb"] / base) for r in rows.values())


def _conversion_measured(payload: dict) -> bool:
    conv = payload["conversion"]
    return bool(conv["packages"]) and all(p["size_mb"] > 0 for p in conv["packages"])


def _optional_ratio(r: dict) -> bool:
    have = r.get("total_s") is not None, r.get("audio_s") is not None, r.get("rtf") is not None
    return not any(have) or (all(have) and _close(r["rtf"], r["total_s"] / r["audio_s"]))


def _ttfa_ratios(payload: dict) -> bool:
    rows = payload["rows"]
    first = min(r["words"] for r in rows)
    sentence = {r["mode"]: r["ttfa_s"] for r in rows if r["words"] == first}
    stream = {r["words"]: r["ttfa_s"] for r in rows if r["mode"] == "stream"}
    return all(
        _close(r["ttfa_vs_stream"], r["ttfa_s"] / stream[r["words"]])
        and (
            r.get("ttfa_vs_sentence") is None
            or _close(r["ttfa_vs_sentence"], r["ttfa_s"] / sentence[r["mode"]])
        )
        for r in rows
    )


def _goal_of_longest(payload: dict) -> bool:
    longest = max((r for r in payload["rows"] if r["mode"] == "stream"), key=lambda r: r["words"])
    goal = payload["goal"]
    return (
        goal["words"] == longest["words"]
        and _close(goal["ttfa_vs_sentence"], longest["ttfa_vs_sentence"])
        and goal["met"] == (goal["ttfa_vs_sentence"] <= goal["limit"])
    )


def _abs_median_of_errors(r: dict) -> bool:
    """median_abs_error_s = median(|errors_s|), the errors being stored to 0.1 ms."""
    errors = r["errors_s"]
    return len(errors) == r["matched_words"] and math.isclose(
        r["median_abs_error_s"], statistics.median(abs(e) for e in errors), abs_tol=1e-4
    )


def _timestamps_total(payload: dict) -> bool:
    """The last row ("all") pools the voices' rows, and the goal is its median."""
    *voices, total = payload["rows"]
    goal = payload["goal"]
    return (
        total["voice"] == "all"
        and bool(voices)
        and total["matched_words"] == sum(r["matched_words"] for r in voices)
        and _close(goal["median_abs_error_s"], total["median_abs_error_s"])
        and goal["met"] == (goal["median_abs_error_s"] <= goal["limit_s"])
    )


def _seam_summary(payload: dict) -> bool:
    """summary: per (kind, join), the mean pause error of the rows and their count."""
    rows = payload["rows"]
    for s in payload["summary"]:
        mine = [r["pause_error_s"] for r in rows if r["kind"] == s["kind"] and r["join"] == s["join"]]
        if len(mine) != s["seams"] or not _close(s["mean_pause_error_s"], statistics.fmean(mine)):
            return False
    kinds = {s["kind"] for s in payload["summary"]}
    return all(len({s["seams"] for s in payload["summary"] if s["kind"] == k}) == 1 for k in kinds)


def _alignment_errors(r: dict) -> bool:
    """median_frames and bias_frames are the median |error| and error of errors_frames (signed,
    estimated − true, stored to 0.01 frame), one per boundary."""
    e = r["errors_frames"]
    if len(e) != r["boundaries"] or not e:
        return False
    return math.isclose(
        r["median_frames"], statistics.median(abs(x) for x in e), abs_tol=0.01
    ) and math.isclose(r["bias_frames"], statistics.median(e), abs_tol=0.01)


def _alignment_goal(payload: dict) -> bool:
    """The goal is the median over the Kokoro rows of the first configuration, against 1 frame."""
    kind, passes = payload["settings"]["configs"][0]
    rows = [
        r for r in payload["rows"] if r["source"] == "kokoro" and (r["kind"], r["passes"]) == (kind, passes)
    ]
    pooled = [abs(e) for r in rows for e in r["errors_frames"]]
    goal = payload["goal"]
    return (
        bool(rows)
        and math.isclose(goal["median_frames"], statistics.median(pooled), abs_tol=0.01)
        and goal["met"] == (goal["median_frames"] <= goal["limit_frames"])
    )


SCHEMAS: dict[str, Schema] = {
    "synthesis": Schema(
        ".venv/bin/python bench/synthesis.py",
        (*TIMING_SETTINGS, "texts"),
        {"text": "str", **TIMED, "ratio_vs_official": "positive", "durations_match_official": "bool"}
        | {"frames_vs_official": "int"},
        paths=PATHS,
        group="text",
        row_rules=TIMING_RULES,
        file_rules=(_ratios("median_s", "text"),),
    ),
    "scaling": Schema(
        ".venv/bin/python bench/scaling.py --parts scaling",
        (*TIMING_SETTINGS, "lengths"),
        {**TIMED, "ratio_vs_official": "positive", "bucket_frames": "count?"},
        paths=(OFFICIAL, LAB, TRACED, ORT),
        group="tokens",
        row_rules=TIMING_RULES,
        file_rules=(_ratios("median_s", "tokens"),),
    ),
    "padding": Schema(
        ".venv/bin/python bench/scaling.py --parts padding",
        (*TIMING_SETTINGS, "text"),
        {**TIMED, "bucket": "str", "bucket_frames": "positive", "bucket_tokens": "positive"}
        | {"padded_frames_fraction": "fraction"},
        paths=(LAB, LAB_PADDED, TRACED),
        group="bucket",
        row_rules=TIMING_RULES,
        file_rules=(("one text: the same audio_s in every row", _one_text),),
    ),
    "stages": Schema(
        ".venv/bin/python bench/scaling.py --parts stages",
        (*TIMING_SETTINGS, "text"),
        {"path": "str", "stage": "str", "seconds": "≥ 0", "share": "fraction", "total_s": "positive"}
        | {"tokens": "positive", "frames": "positive", "bucket": "str?"},
        paths=(OFFICIAL, LAB, LAB_PADDED),
        group="stage",
        row_rules=(("share = seconds / total_s", lambda r: _close(r["share"], r["seconds"] / r["total_s"])),),
        file_rules=(("each path's shares sum to 1", _shares_sum_to_one),),
    ),
    "memory": Schema(
        ".venv/bin/python bench/memory.py",
        ("threads", "voice", "text", "repeats"),
        {"path": "str", "bucket": "str?", "tokens": "positive", "synthesis_peak_mb": "positive?"}
        | dict.fromkeys(("load_s", "two_runs_s", "rss_after_load_mb", "ru_maxrss_mb"), "positive")
        | dict.fromkeys(
            ("peak_rss_mb", "peak_rss_min_mb", "peak_rss_max_mb", "ratio_vs_official"), "positive"
        )
        | {"peak_rss_runs_mb": "positives", "rss_after_load_runs_mb": "positives"},
        paths=PATHS,
        row_rules=(
            ("peak_rss_min_mb ≤ peak_rss_mb ≤ peak_rss_max_mb", _within_spread),
            ("peak_rss_mb ≥ rss_after_load_mb", lambda r: r["peak_rss_mb"] >= r["rss_after_load_mb"]),
        ),
        file_rules=(_ratios("peak_rss_mb"),),
    ),
    "pipeline": Schema(
        ".venv/bin/python bench/pipeline.py",
        ("threads", "clock", "repeats", "voice", "frame_ladder_ratio", "frame_buckets", "text_buckets"),
        {"case": "str", "text": "str", "speed": "positive", "path": "str", "tokens": "positive"}
        | {"frames": "positive", "audio_s": "positive", "bucket": "str?", "computed_frames": "positive"}
        | {"cpu_s": "positive", "times_s": "positives", "ratio_vs_official": "positive"},
        paths=(OFFICIAL, LAB_PADDED, PIPELINE, LAB),
        group="case",
        extra={"ladder": "list", "text_stage": "list", "acoustic_tokens": "list", "configurations": "list"}
        | {"memory": "list", "conversion": "dict"},
        row_rules=(
            ("cpu_s = median(times_s)", lambda r: _close(r["cpu_s"], statistics.median(r["times_s"]))),
            ("computed_frames ≥ frames", lambda r: r["computed_frames"] >= r["frames"]),
        ),
        file_rules=(
            _ratios("cpu_s", "case"),
            ("the ladder: frame counts from 40 up, padded_s = min(padded_times_s)", _ladder_measured),
            ("memory: one row per path, ratio_vs_official = peak / the official peak", _memory_measured),
            ("conversion: packages with sizes", _conversion_measured),
        ),
    ),
    "trace_memory": Schema(
        ".venv/bin/python bench/trace_memory.py",
        ("threads", "text", "repeats", "bucket"),
        {"part": "str", "config": "str", "peak_mb": "positive", "peak_runs_mb": "positives"}
        | {
            "before_mb": "positive",
            "after_mb": "positive?",
            "after_trim_mb": "positive?",
            "seconds": "positive",
        }
        | {"audio_sha": "list?"},
        row_rules=(
            (
                "peak_mb = median(peak_runs_mb)",
                lambda r: _close(r["peak_mb"], statistics.median(r["peak_runs_mb"])),
            ),
            ("part is trace or run", lambda r: r["part"] in ("trace", "run")),
        ),
        file_rules=(
            (
                "every run configuration computes the same audio",
                lambda p: len({h for r in p["rows"] if r["part"] == "run" for h in r["audio_sha"]}) == 1,
            ),
        ),
    ),
    "conversion": Schema(
        ".venv/bin/python bench/conversion.py",
        ("buckets", "precisions", "compress", "threads"),
        {"bucket": "str", "max_tokens": "positive", "max_frames": "positive", "precision": "str"}
        | {"compression": "str", "size_mb": "positive", "trace_s": "positive", "convert_s": "positive"}
        | {"compress_s": "positive?", "save_s": "positive", "total_s": "positive"},
        extra={"weights": "str"},
        row_rules=(("total_s = the sum of the steps' seconds", _total_of_steps),),
    ),
    "book": Schema(
        ".venv/bin/python bench/book_times.py",
        ("timeout_s", "executor", "offline"),
        {"notebook": "str", "seconds": "positive", "ok": "bool", "error": "str?"},
        extra={"total_seconds": "positive"},
        row_rules=(("ok exactly when error is null", lambda r: r["ok"] == (r.get("error") is None)),),
        file_rules=(("total_seconds = the sum of the rows' seconds", _total_of_rows),),
    ),
    "finetune": Schema(
        ".venv/bin/python bench/finetune.py --results finetune",
        ("steps", "batch_size", "lr", "freeze", "start_voice", "target_voice", "eval_every", "seed"),
        {"step": "count", "duration_mae_frames": "≥ 0", "f0_mean_abs_hz": "≥ 0"}
        | {"f0_median_abs_cents": "≥ 0", "f0_voiced_frames": "count", "log_mel_db": "≥ 0"},
        extra={"history": "dict", "true_voice": "dict", "seconds_per_step": "dict", "peak_rss_mb": "positive"}
        | {"train_seconds": "positive", "held_out_sentences": "list"},
        file_rules=(("steps start at 0 and increase", _steps_from_zero),),
    ),
    "quality": Schema(
        ".venv/bin/python bench/quality.py",
        ("sentences", "texts", "voice", "asr", "fp32_wer", "fp32_cer", "parts"),
        {"part": "str", "name": "str", "kind": "str", "description": "str", "sentences": "positive"}
        | {"wer": "≥ 0", "cer": "≥ 0", "log_mel_db": "≥ 0?", "speaker_similarity": "fraction?"}
        | {"reference": "str", "size_mb": "positive?", "minimum_target": "str?", "note": "str?"},
        extra={"weights": "str", "size_check": "list"},
        file_rules=(("names are unique", lambda p: len({r["name"] for r in p["rows"]}) == len(p["rows"])),),
    ),
    "sensitivity": Schema(
        ".venv/bin/python bench/sensitivity.py",
        ("schemes", "voice", "texts", "fp32_wer"),
        {"variant": "str", "group": "str", "scheme": "str", "params": "count", "saved_mb": "≥ 0"}
        | {"wer": "≥ 0", "cer": "≥ 0", "log_mel_db": "≥ 0", "speaker_similarity": "fraction"},
        extra={"weights": "str"},
    ),
    "package_check": Schema(
        ".venv/bin/python bench/package_check.py",
        ("bucket", "variants"),
        {"variant": "str", "target": "str", "weights_compared": "positive", "max_rel_diff": "≥ 0"}
        | {"max_abs_diff": "≥ 0", "worst_weight": "str", "equal_fraction": "fraction"}
        | {"non_weights_compressed": "list", "package_mb": "positive", "predicted_mb": "positive"}
        | {"fp16_package_mb": "positive", "compress_s": "positive"},
        extra={"weights": "str"},
    ),
    "streaming": Schema(
        ".venv/bin/python bench/streaming.py",
        ("threads", "repeats", "warmup", "voice", "lengths", "full_up_to", "max_phonemes"),
        {"mode": "str", "words": "positive", "chunks": "positive", "tokens": "positive"}
        | {"ttfa_s": "positive", "ttfa_times_s": "positives", "ttfa_vs_stream": "positive"}
        | {
            "ttfa_vs_sentence": "positive?",
            "total_s": "positive?",
            "audio_s": "positive?",
            "rtf": "positive?",
        }
        | {"same_audio_as_stream": "bool?"},
        extra={"goal": "dict"},
        row_rules=(
            ("mode is stream or whole", lambda r: r["mode"] in ("stream", "whole")),
            (
                "ttfa_s = median(ttfa_times_s)",
                lambda r: _close(r["ttfa_s"], statistics.median(r["ttfa_times_s"])),
            ),
            ("rtf = total_s / audio_s (all three or none)", _optional_ratio),
            (
                "a whole run's TTFA is its total time",
                lambda r: r["mode"] == "stream" or _close(r["ttfa_s"], r["total_s"]),
            ),
            (  # one chunk: the first audio is all of it, and the two differ only by timing noise
                "a stream's TTFA ≤ its total time (texts of more than one chunk)",
                lambda r: (
                    r["mode"] == "whole"
                    or r["total_s"] is None
                    or r["chunks"] == 1
                    or r["ttfa_s"] <= r["total_s"]
                ),
            ),
            ("whole-text audio = the streamed audio", lambda r: r.get("same_audio_as_stream") is not False),
        ),
        file_rules=(
            ("ttfa_vs_sentence and ttfa_vs_stream are the TTFA ratios", _ttfa_ratios),
            ("goal is the longest text's TTFA ratio against its limit", _goal_of_longest),
        ),
    ),
    "timestamps": Schema(
        ".venv/bin/python bench/timestamps.py",
        ("threads", "voices", "sentences", "per_text", "asr"),
        {"voice": "str", "texts": "positive", "sentences": "positive", "words": "positive"}
        | {"matched_words": "positive", "median_abs_error_s": "≥ 0", "p90_abs_error_s": "≥ 0"}
        | {"median_signed_error_s": "number", "control_median_abs_error_s": "≥ 0"}
        | {"control_p90_abs_error_s": "≥ 0", "marked_boundaries": "count", "marked_in_quiet": "fraction?"}
        | {"unmarked_boundaries": "count", "unmarked_in_quiet": "fraction?", "audio_s": "positive"}
        | {
            "synthesis_s": "positive",
            "asr_s": "positive",
            "errors_s": "list",
            "text_median_abs_errors_s": "list",
        },
        extra={"goal": "dict"},
        row_rules=(
            (
                "median_abs_error_s ≤ p90_abs_error_s",
                lambda r: r["median_abs_error_s"] <= r["p90_abs_error_s"],
            ),
            ("median_abs_error_s = median(|errors_s|), one error per matched word", _abs_median_of_errors),
        ),
        file_rules=(("the last row pools the voices and the goal is its median", _timestamps_total),),
    ),
    "alignment": Schema(
        ".venv/bin/python bench/alignment.py --results alignment",
        ("sentences", "record_voices", "reference", "threads", "configs"),
        {"source": "str", "recorder": "str", "kind": "str", "passes": "positive", "utterances": "positive"}
        | {"boundaries": "positive", "median_frames": "≥ 0", "p90_frames": "≥ 0", "mean_frames": "≥ 0"}
        | {"within_1_frame": "fraction", "seconds_per_utterance": "positive", "errors_frames": "list"}
        | {"bias_frames": "number", "centred_median_frames": "≥ 0", "centred_p90_frames": "≥ 0"},
        extra={"costs": "dict", "goal": "dict", "espeak_coverage": "dict", "kokoro_onset_frames": "dict"},
        row_rules=(
            ("median_frames ≤ p90_frames", lambda r: r["median_frames"] <= r["p90_frames"]),
            (
                "median_frames = median(|errors_frames|), bias_frames = median(errors_frames)",
                _alignment_errors,
            ),
        ),
        file_rules=(("the goal is the pooled median of the Kokoro rows", _alignment_goal),),
    ),
    "seams": Schema(
        ".venv/bin/python bench/seams.py",
        ("threads", "voices", "seam_trim_s"),
        {"voice": "str", "kind": "str", "join": "str", "energy_jump_db": "≥ 0", "flux_peak_db": "≥ 0"}
        | {"pause_s": "≥ 0", "natural_pause_s": "≥ 0", "pause_error_s": "≥ 0"},
        extra={"summary": "list", "punctuation": "list", "drift": "list", "drift_summary": "list"},
        row_rules=(
            (
                "pause_error_s = |pause_s − natural_pause_s|",
                lambda r: _close(r["pause_error_s"], abs(r["pause_s"] - r["natural_pause_s"])),
            ),
        ),
        file_rules=(("summary holds each join's mean pause error, as many seams per join", _seam_summary),),
    ),
}


def check_results(name: str, payload: Any, source: str | Path | None = None) -> dict[str, Any]:
    """Check ``payload`` (a results file's JSON) against ``SCHEMAS[name]``. → ``payload``.

    Raises:
        ResultsError: ``name`` has no schema, or the payload breaks it; the message names
            ``source`` (default: the file's usual path), the field, and the command to re-run.
    """
    if name not in SCHEMAS:
        raise ResultsError(f"no schema for results {name!r}; known: {', '.join(SCHEMAS)}.")
    schema = SCHEMAS[name]
    source = source or RESULTS_DIR / f"{name}.json"

    def fail(problem: str) -> ResultsError:
        return ResultsError(f"{source}: {problem}; re-run `{schema.command}`.")

    def check(where: str, mapping: dict, fields: dict[str, str]) -> None:
        for key, kind in fields.items():
            what, test = KINDS[kind.rstrip("?")]
            if key not in mapping and not kind.endswith("?"):
                raise fail(f"{where or 'the file'} lacks {key!r}")
            value, label = mapping.get(key), f"{where}[{key!r}]" if where else key
            if not (kind.endswith("?") and value is None) and not test(value):
                raise fail(f"{label} is {value!r}, not {what}")

    def holds(test: Callable[[Any], bool], value: Any) -> bool:
        try:
            return bool(test(value))
        except (TypeError, KeyError, ValueError, ZeroDivisionError):  # a hand-edited value it cannot use
            return False

    if not isinstance(payload, dict):
        raise fail(f"the file holds {type(payload).__name__}, not an object")
    check("", payload, {"benchmark": "str", "machine": "dict", "settings": "dict", "rows": "list"})
    check("", payload, schema.extra)
    if payload["benchmark"] != name:
        raise fail(f"benchmark is {payload['benchmark']!r}, not {name!r}")
    check("machine", payload["machine"], MACHINE)
    check("settings", payload["settings"], dict.fromkeys(schema.settings, "any"))
    rows = payload["rows"]
    if not rows:
        raise fail("rows is empty")
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise fail(f"rows[{i}] is {row!r}, not an object")
        check(f"rows[{i}]", row, schema.rows)
    if schema.paths:
        for value in dict.fromkeys(r.get(schema.group) for r in rows):
            have = {r["path"] for r in rows if r.get(schema.group) == value}
            if have != set(schema.paths):
                rows_of = f"the rows with {schema.group} = {value!r}" if schema.group else "rows"
                raise fail(f"{rows_of} have paths {sorted(have)}, not {sorted(schema.paths)}")
    for i, row in enumerate(rows):
        for what, test in schema.row_rules:
            if not holds(test, row):
                raise fail(f"rows[{i}] breaks {what}")
    for what, test in schema.file_rules:
        if not holds(test, payload):
            raise fail(f"the rows break {what}")
    return payload


def load_checked(name: str, directory: Path | None = None, required: bool = True) -> dict[str, Any] | None:
    """Read ``<directory>/<name>.json`` (default ``bench/results/``) and check it against its schema.

    Returns ``None`` if the file is missing and not ``required``.

    Raises:
        ResultsError: ``name`` has no schema; the file is missing (and ``required``), not JSON, or
            does not match the schema. The message names the file, the field and the command.
    """
    if name not in SCHEMAS:
        raise ResultsError(f"no schema for results {name!r}; known: {', '.join(SCHEMAS)}.")
    path = (RESULTS_DIR if directory is None else Path(directory)) / f"{name}.json"
    if not path.exists():
        if not required:
            return None
        raise ResultsError(f"{path} is missing; run `{SCHEMAS[name].command}` first.")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ResultsError(f"{path} is not valid JSON ({err}); re-run `{SCHEMAS[name].command}`.") from err
    return check_results(name, payload, path)


__all__ = ["KINDS", "SCHEMAS", "ResultsError", "Schema", "check_results", "load_checked"]
