"""The helpers behind bench/: timing bookkeeping, results files and their schemas, bucket choice, shared flags.

No speed is asserted here (benchmarks are scripts, not tests); these check that the helpers do
what the scripts rely on.
"""

import json

import pytest

from kokoro_lab import benchmarking as bm
from kokoro_lab.bench_results import SCHEMAS, ResultsError, load_checked
from kokoro_lab.coreml.buckets import BUCKETS


def test_time_call_warms_up_then_times_each_repeat():
    calls = []
    timing, last = bm.time_call(lambda: calls.append(1) or len(calls), repeats=3, warmup=2)
    assert len(calls) == 5 and last == 5
    assert len(timing.times) == 3 and timing.warmup == 2
    assert timing.min <= timing.median <= timing.max
    with pytest.raises(ValueError, match="repeats"):
        bm.time_call(lambda: None, repeats=0)


def test_time_interleaved_runs_the_callables_round_robin():
    order = []
    timings, results = bm.time_interleaved(
        {"a": lambda: order.append("a") or "A", "b": lambda: order.append("b") or "B"}, repeats=2, warmup=1
    )
    assert order == ["a", "b"] * 3
    assert results == {"a": "A", "b": "B"} and set(timings) == {"a", "b"}


def test_results_round_trip_and_errors_name_the_script(tmp_path):
    rows = [{"path": "x", "seconds": 1.5}]
    path = bm.write_results("demo", rows, {"threads": 2}, machine={"cpu_count": 2}, directory=tmp_path)
    assert path == tmp_path / "demo.json" and not list(tmp_path.glob(".*tmp"))  # no temporary left
    loaded = bm.load_results("demo", directory=tmp_path)
    assert loaded["rows"] == rows and loaded["settings"] == {"threads": 2}
    assert bm.load_results("absent", directory=tmp_path, required=False) is None
    with pytest.raises(FileNotFoundError, match="bench/absent.py"):
        bm.load_results("absent", directory=tmp_path)
    (tmp_path / "broken.json").write_text(json.dumps({"benchmark": "broken", "rows": []}))
    with pytest.raises(ValueError, match="machine"):
        bm.load_results("broken", directory=tmp_path)


def test_fitting_bucket_picks_the_smallest_that_holds_the_text():
    smallest = min(BUCKETS.values(), key=lambda b: b.max_tokens)
    assert bm.fitting_bucket(smallest.max_tokens - 2) == smallest
    larger = bm.fitting_bucket(smallest.max_tokens - 1)
    assert larger.max_tokens > smallest.max_tokens
    built = bm.fitting_bucket(500)  # past the named buckets
    assert built.max_tokens >= 502 and built.max_tokens % 32 == 0 and "built" in built.name
    with pytest.raises(ValueError, match="split the text"):
        bm.fitting_bucket(511)


def test_markdown_table_formats_floats_and_missing_values():
    table = bm.markdown_table([{"a": 1.234, "b": None}], {"a": "A", "b": "B"}, digits=1)
    assert table.splitlines() == ["| A | B |", "| --- | --- |", "| 1.2 | – |"]


def test_timing_parser_shares_the_flags_with_their_defaults():
    args = bm.timing_parser("doc", repeats=7).parse_args([])
    assert (args.threads, args.repeats, args.warmup, args.voice) == (2, 7, 1, "jf_alpha")
    assert bm.timing_parser("doc", repeats=7).parse_args(["--threads", "1"]).threads == 1


# --- the checked results files (kokoro_lab.bench_results) -------------------------------------


@pytest.mark.parametrize("name", sorted(p.stem for p in bm.RESULTS_DIR.glob("*.json")))
def test_every_committed_results_file_matches_its_schema(name):
    assert name in SCHEMAS, f"bench/results/{name}.json has no schema in kokoro_lab.bench_results"
    assert load_checked(name)["rows"]


def _without_onnxruntime(payload):
    payload["rows"] = [r for r in payload["rows"] if r["path"] != bm.ORT]


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("synthesis", lambda d: d["rows"][3].pop("median_s"), "rows[3] lacks 'median_s'"),
        ("memory", lambda d: d["rows"][0].update(peak_rss_mb="1216"), "rows[0]['peak_rss_mb'] is '1216'"),
        (
            "memory",
            lambda d: d["rows"][1].update(rss_after_load_mb=float("inf")),
            "'rss_after_load_mb'] is inf",
        ),
        ("synthesis", lambda d: d["rows"][0].update(durations_match_official=1), "not true or false"),
        ("scaling", lambda d: d["rows"][2].update(times_s=[]), "rows[2]['times_s'] is []"),
        ("padding", lambda d: d.update(rows=[]), "rows is empty"),
        ("stages", lambda d: d["settings"].pop("text"), "settings lacks 'text'"),
        ("scaling", lambda d: d["machine"].pop("torch"), "machine lacks 'torch'"),
        ("book", lambda d: d.pop("total_seconds"), "the file lacks 'total_seconds'"),
        ("synthesis", lambda d: d.update(benchmark="scaling"), "benchmark is 'scaling'"),
        ("synthesis", _without_onnxruntime, "rows with text = 'short' have paths"),
        ("synthesis", lambda d: d["rows"][0].update(min_s=99.0), "rows[0] breaks min_s ≤ median_s ≤ max_s"),
        ("memory", lambda d: d["rows"][2].update(ratio_vs_official=1.0), "ratio_vs_official = peak_rss_mb"),
        ("book", lambda d: d.update(total_seconds=1.0), "total_seconds = the sum"),
        ("timestamps", lambda d: d["rows"][0].update(median_abs_error_s=9.0), "median_abs_error_s ≤ p90"),
        ("timestamps", lambda d: d["goal"].update(met=False), "the last row pools the voices"),
        ("seams", lambda d: d["summary"][0].update(mean_pause_error_s=9.0), "summary holds each join's"),
        ("seams", lambda d: d["rows"][0].update(pause_error_s=9.0), "pause_error_s = |pause_s"),
    ],
)
def test_a_broken_results_file_is_refused_naming_the_field_and_the_script(tmp_path, name, edit, message):
    payload = json.loads((bm.RESULTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    edit(payload)
    (tmp_path / f"{name}.json").write_text(json.dumps(payload), encoding="utf-8")
    with pytest.raises(ResultsError) as err:
        load_checked(name, directory=tmp_path)
    assert message in str(err.value)
    assert str(tmp_path / f"{name}.json") in str(err.value) and SCHEMAS[name].command in str(err.value)


def test_unknown_missing_and_unreadable_results_are_refused(tmp_path):
    (tmp_path / "demo.json").write_text(json.dumps({"benchmark": "demo", "rows": [{}]}), encoding="utf-8")
    with pytest.raises(ResultsError, match="no schema for results 'demo'"):
        load_checked("demo", directory=tmp_path)
    assert load_checked("memory", directory=tmp_path, required=False) is None
    with pytest.raises(ResultsError, match="memory.json is missing; run `.venv/bin/python bench/memory.py`"):
        load_checked("memory", directory=tmp_path)
    (tmp_path / "book.json").write_text("{", encoding="utf-8")
    with pytest.raises(ResultsError, match="not valid JSON.*bench/book_times.py"):
        load_checked("book", directory=tmp_path)
