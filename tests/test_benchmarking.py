"""The helpers behind bench/: timing bookkeeping, results files, bucket choice and the shared flags.

No speed is asserted here (benchmarks are scripts, not tests); these check that the helpers do
what the scripts rely on.
"""

import json

import pytest

from kokoro_lab import benchmarking as bm
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
