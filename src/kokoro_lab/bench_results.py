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

from .benchmarking import LAB, LAB_PADDED, OFFICIAL, ORT, PATHS, RESULTS_DIR, TRACED


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
