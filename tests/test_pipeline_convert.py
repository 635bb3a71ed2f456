"""Converting the two-stage pipeline: the smallest buckets, fp32, read back with ``inspect``.

One conversion (text stage at 16 tokens, acoustic stage at 40 frames) into a temporary
directory, removed afterwards. Running the packages needs macOS.
"""

import json
import shutil
import sys
import warnings

import pytest
import torch

from kokoro_lab.coreml.ladder import FRAME_BUCKETS, TEXT_BUCKETS

ct = pytest.importorskip("coremltools")

pytestmark = pytest.mark.slow
L, F = TEXT_BUCKETS[0], FRAME_BUCKETS[0]


@pytest.fixture(scope="module")
def complex_free():
    from kokoro_lab import load_kmodel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = load_kmodel(disable_complex=True)
    return model


@pytest.fixture(scope="module")
def converted(complex_free, tmp_path_factory):
    from kokoro_lab.coreml.pipeline_convert import convert_pipeline

    root = tmp_path_factory.mktemp("pipeline")
    result = convert_pipeline(
        root / "kokoro", (L,), (F,), "fp32", model=complex_free, progress=False, weights="test weights"
    )
    yield result
    shutil.rmtree(root, ignore_errors=True)


def test_the_directory_holds_both_stages_and_a_manifest(converted):
    from kokoro_lab.coreml.manifest import check_directory

    directory = converted.directory
    assert sorted(p.name for p in directory.iterdir()) == [
        f"acoustic-{F}.mlpackage",
        "manifest.json",
        f"text-{L}.mlpackage",
    ]
    manifest = check_directory(directory)
    assert manifest == converted.manifest
    assert manifest.text_buckets == (L,) and manifest.frame_buckets == (F,) and manifest.acoustic_tokens == L
    data = json.loads((directory / "manifest.json").read_text())
    assert data["limits"] == {"max_tokens": L, "max_phonemes": L - 2, "max_frames": F, "max_seconds": F / 40}
    assert set(converted.seconds[f"text-{L}.mlpackage"]) == {"trace", "convert", "save"}
    assert all(size > 1_000_000 for size in converted.sizes.values())


def test_packages_have_the_stage_shapes_names_and_conversion_id(converted):
    from kokoro_lab.coreml.inspection import inspect

    directory, conversion = converted.directory, converted.manifest.conversion_id
    text = inspect(directory / f"text-{L}.mlpackage")
    assert text.inputs == {
        "input_ids": ("int32", (1, L)),
        "attention_mask": ("int32", (1, L)),
        "ref_s": ("float32", (1, 256)),
        "speed": ("float32", (1,)),
    }
    assert (
        list(text.outputs) == ["pred_dur", "d", "t_en"] and text.op_types["lstm"] == 10
    )  # 5 BiLSTMs, each forwards and right-aligned
    acoustic = inspect(directory / f"acoustic-{F}.mlpackage")
    assert acoustic.inputs["d"] == ("float32", (1, L, 640)) and acoustic.inputs["pred_dur"] == (
        "float32",
        (1, L),
    )
    assert list(acoustic.outputs) == ["audio", "audio_length_samples", "frame_overflow"]
    assert (
        acoustic.op_types["lstm"] == 2
    )  # the prosody predictor's shared BiLSTM: 10 + 2 = the single graph's 12
    for summary, stage in ((text, "text"), (acoustic, "acoustic")):
        assert summary.metadata["kokoro_lab.conversion_id"] == conversion
        assert summary.metadata["kokoro_lab.stage"] == stage
        assert summary.metadata["kokoro_lab.weights"] == "test weights"
    assert text.ops_by_dtype["fp16"] == acoustic.ops_by_dtype["fp16"] == 0


def test_cli_inspects_the_directory_with_islands(converted, capsys):
    from kokoro_lab.cli import main

    assert main(["inspect", str(converted.directory), "--islands"]) == 0
    out = capsys.readouterr().out
    assert f"text buckets (tokens): {L}" in out and f"frame buckets (frames): {F}" in out
    assert f"text-{L}.mlpackage: length island" in out and f"acoustic-{F}.mlpackage: phase island" in out
    assert "violation" not in out


def test_the_pipeline_object_reads_the_directory(converted, complex_free):
    from kokoro_lab.coreml.pipeline import KokoroPipeline
    from kokoro_lab.coreml.predict import PredictionUnavailable

    pipe = KokoroPipeline.from_directory(converted.directory)
    tokens, ref_s = KokoroPipeline.prepare("Hi.")
    if sys.platform != "darwin":
        with pytest.raises(PredictionUnavailable):
            pipe.synthesize_tokens(tokens, ref_s)
        return
    got = pipe.synthesize_tokens(tokens, ref_s)  # macOS: the packages against PyTorch
    want = KokoroPipeline.in_torch(complex_free, (L,), (F,)).synthesize_tokens(tokens, ref_s)
    assert torch.equal(got.pred_dur, want.pred_dur) and got.choice == want.choice
    assert got.audio.shape == want.audio.shape


def test_an_fp16_text_stage_keeps_its_length_island(complex_free, tmp_path):
    from kokoro_lab.coreml.inspection import island_report
    from kokoro_lab.coreml.pipeline_convert import text_program, trace_text_stage

    path = tmp_path / "text-fp16.mlpackage"
    text_program(trace_text_stage(complex_free, L), L, "fp16", quiet=True).save(str(path))
    report = island_report(path)
    assert report.ok, report.violations
    assert set(report.islands) == {"length"}
    assert {"sigmoid", "round"} <= {op.type for op in report.islands["length"]}
    assert report.fp16_ops > report.fp32_ops
    shutil.rmtree(path, ignore_errors=True)
