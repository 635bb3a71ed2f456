"""The two-stage pipeline: parity with the single graph and the official model, the traced stages,
the bucket ladders, the manifest of a pipeline directory, and the errors bad inputs get.

Conversions of the real stages are in ``tests/test_pipeline_convert.py`` (slow); the manifest
tests here use tiny stand-in packages with the stages' names, converted in seconds.
"""

import itertools
import json
import shutil
import sys

import numpy as np
import pytest
import torch
from conftest import UTTERANCES

from kokoro_lab import load_kmodel
from kokoro_lab.coreml.buckets import BUCKETS
from kokoro_lab.coreml.convert import quiet_trace
from kokoro_lab.coreml.ladder import (
    FRAME_BUCKETS,
    FRAME_LADDER_RATIO,
    LADDER_MAX_FRAMES,
    LADDER_MIN_FRAMES,
    TEXT_BUCKETS,
    CostModel,
    FrameOverflowError,
    TextTooLongForPipeline,
    frame_bucket_for,
    geometric_ladder,
    ladder_table,
    text_bucket_for,
)
from kokoro_lab.coreml.pipeline import KokoroPipeline
from kokoro_lab.quality import log_mel_distance
from kokoro_lab.rewrite.inputs import InputError, pad_inputs
from kokoro_lab.rewrite.model import KokoroCompleteCoreML
from kokoro_lab.rewrite.sine_source import no_source_noise
from kokoro_lab.rewrite.stages import BOUNDARY_BYTES_PER_TOKEN, AcousticStage, TextStage, pad_tokens

# 12, 40, 51 and 81 tokens: text buckets 16, 64 and 128, four frame buckets
TEXTS = ["Thank you.", "Could you please send me the report?", UTTERANCES[0], UTTERANCES[1]]


@pytest.fixture(scope="module")
def complex_free():
    model, _ = load_kmodel(disable_complex=True)
    return model


@pytest.fixture(scope="module")
def pipeline(complex_free):
    return KokoroPipeline.in_torch(complex_free)


@pytest.fixture(scope="module")
def outputs(pipeline):
    """Each text's pipeline output, computed once: (tokens, ref_s, output)."""
    done = {}
    for text in TEXTS:
        tokens, ref_s = KokoroPipeline.prepare(text)
        done[text] = tokens, ref_s, pipeline.synthesize_tokens(tokens, ref_s)
    return done


# --- parity --------------------------------------------------------------------------------


def single_graph(model, tokens, ref_s, max_tokens, max_frames):
    km = KokoroCompleteCoreML(model, max_tokens, max_frames).eval()
    input_ids, mask = pad_inputs(tokens, max_tokens)
    with torch.inference_mode():
        audio, length, pred_dur, overflow = km(input_ids, ref_s, torch.zeros(1, 9), mask, torch.ones(1))
    assert overflow.item() == 0
    return audio.reshape(-1)[: int(length)], pred_dur[0, : len(tokens) + 2]


@pytest.mark.parametrize("text", TEXTS)
def test_pipeline_equals_the_single_graph(complex_free, outputs, text):
    """Bit for bit at the same shapes; within rounding (exact mode) in the single graph's own bucket."""
    tokens, ref_s, out = outputs[text]
    c = out.choice
    audio, pred_dur = single_graph(complex_free, tokens, ref_s, c.text_bucket, c.frame_bucket)
    assert torch.equal(out.audio, audio) and torch.equal(out.pred_dur, pred_dur)
    bucket = next(b for b in BUCKETS.values() if len(tokens) + 2 <= b.max_tokens and c.frames <= b.max_frames)
    audio, pred_dur = single_graph(complex_free, tokens, ref_s, bucket.max_tokens, bucket.max_frames)
    assert torch.equal(out.pred_dur, pred_dur), "durations must be identical"
    assert audio.shape == out.audio.shape
    dist = log_mel_distance(audio.numpy(), out.audio.numpy())
    print(f"{text!r}: {c}; vs the {bucket.name} single graph: log-mel {dist:.4f} dB")
    assert dist <= 0.1


@pytest.mark.parametrize("text", TEXTS)
def test_pipeline_matches_the_official_kmodel(kmodel, outputs, text):
    """Identical durations and length, log-mel L1 ≤ 1 dB against KModel with its noise off."""
    tokens, ref_s, out = outputs[text]
    with no_source_noise(), torch.inference_mode():
        reference, ref_dur = kmodel[0].forward_with_tokens(torch.tensor([[0, *tokens, 0]]), ref_s, 1.0)
    assert torch.equal(out.pred_dur.long(), ref_dur.long().reshape(-1))
    assert out.audio.numel() == reference.numel()
    dist = log_mel_distance(out.audio.numpy(), reference.reshape(-1).numpy())
    print(f"{text!r}: log-mel L1 vs official KModel {dist:.3f} dB")
    assert dist <= 1.0


def test_texts_land_in_different_buckets(outputs):
    choices = [out.choice for _, _, out in outputs.values()]
    assert len({c.text_bucket for c in choices}) >= 3 and len({c.frame_bucket for c in choices}) == len(TEXTS)
    for c in choices:
        assert c.text_bucket == text_bucket_for(c.tokens) and c.frame_bucket == frame_bucket_for(c.frames)
        assert c.frames <= c.frame_bucket < c.frames * FRAME_LADDER_RATIO + 1


def test_traced_stages_equal_eager_bit_for_bit(complex_free, outputs):
    """Each stage traced once, at one text, gives eager mode's bits at another text too."""
    texts = [outputs[t] for t in TEXTS[:2]]
    L, F = 48, max(out.choice.frame_bucket for _, _, out in texts)  # both texts fit
    text, acoustic = TextStage(complex_free, L).eval(), AcousticStage(complex_free, L, F).eval()
    traced = {}
    for tokens, ref_s, _ in texts:
        input_ids, mask = pad_inputs(tokens, L)
        text_args = (input_ids, mask, ref_s, torch.ones(1))
        with torch.no_grad(), quiet_trace():
            pred_dur, d, t_en = eager_text = text(*text_args)
            acoustic_args = (d, t_en, pred_dur, ref_s, torch.zeros(1, 9))
            eager_acoustic = acoustic(*acoustic_args)
            if not traced:  # traced at the first text, checked at both
                traced["text"] = torch.jit.trace(text, text_args, check_trace=False)
                traced["acoustic"] = torch.jit.trace(acoustic, acoustic_args, check_trace=False)
            for eager, got in (
                (eager_text, traced["text"](*text_args)),
                (eager_acoustic, traced["acoustic"](*acoustic_args)),
            ):
                assert all(torch.equal(a, b) for a, b in zip(eager, got, strict=True))


def test_what_crosses_the_stage_boundary(outputs):
    tokens, ref_s, out = outputs[TEXTS[1]]
    pipe = KokoroPipeline.in_torch(load_kmodel(disable_complex=True)[0])
    pred_dur, d, t_en, L = pipe.encode(tokens, ref_s)
    assert (pred_dur.shape, d.shape, t_en.shape) == ((1, L), (1, L, 640), (1, 512, L))
    n = len(tokens) + 2
    assert (pred_dur[0, n:] == 0).all() and (d[0, n:] == 0).all() and (t_en[0, :, n:] == 0).all()
    nbytes = sum(t.numel() * t.element_size() for t in (pred_dur, d, t_en))
    assert nbytes == BOUNDARY_BYTES_PER_TOKEN * L


def test_acoustic_stage_token_padding_changes_no_bit(complex_free, outputs):
    tokens, ref_s, out = outputs[TEXTS[0]]
    F = out.choice.frame_bucket
    text = TextStage(complex_free, 16).eval()
    x, m = pad_inputs(tokens, 16)
    with torch.inference_mode():
        features = text(x, m, ref_s, torch.ones(1))
        small = AcousticStage(complex_free, 16, F)(*features[1:], features[0], ref_s, torch.zeros(1, 9))
        padded = pad_tokens(*features, 160)
        large = AcousticStage(complex_free, 160, F)(*padded[1:], padded[0], ref_s, torch.zeros(1, 9))
    assert all(torch.equal(a, b) for a, b in zip(small, large, strict=True))


# --- the ladders ---------------------------------------------------------------------------


def test_the_ladders():
    assert FRAME_BUCKETS[0] == LADDER_MIN_FRAMES == 40 and FRAME_BUCKETS[-1] == LADDER_MAX_FRAMES == 600
    assert TEXT_BUCKETS[-1] == BUCKETS["15s"].max_tokens  # what fits 15 s, measured
    for a, b in itertools.pairwise(FRAME_BUCKETS):
        assert a < b <= a * FRAME_LADDER_RATIO + 1
    assert geometric_ladder(40, 600, 2.0) == (40, 80, 160, 320, 600)
    rows = {r.ratio: r for r in ladder_table((1.25, 1.5, 2.0))}
    for r, row in rows.items():
        assert row.rungs == len(geometric_ladder(40, 600, r))
        assert 1 - 1 / r - 0.01 <= row.worst_padded_fraction <= 1 - 1 / r + 0.01
        assert 0 < row.mean_padded_fraction < row.worst_padded_fraction
    assert rows[2.0].rungs < rows[1.5].rungs < rows[1.25].rungs
    cost = CostModel((40, 600), (1.0, 15.0), (1.0, 15.0))  # padded work ∝ frames
    (row,) = ladder_table((2.0,), cost)
    assert row.worst_cost_ratio == pytest.approx(320 / 161, rel=1e-3)  # 161 frames in the 320 rung


def test_the_chosen_ratio_follows_the_measurements():
    """FRAME_LADDER_RATIO: the largest measured candidate whose mean padded work is within 5 % of
    the best candidate's (bench/results/pipeline.json, ``ladder``)."""
    from kokoro_lab.bench_results import load_checked
    from kokoro_lab.coreml.ladder import LADDER_CANDIDATES, choose_ratio

    payload = load_checked("pipeline", required=False)
    if payload is None:
        pytest.skip("bench/results/pipeline.json is missing; run bench/pipeline.py")
    table = ladder_table(LADDER_CANDIDATES, CostModel.from_rows(payload["ladder"]))
    assert choose_ratio(table) == FRAME_LADDER_RATIO
    assert payload["settings"]["frame_ladder_ratio"] == FRAME_LADDER_RATIO  # the paths ran this ladder
    assert payload["settings"]["frame_buckets"] == list(FRAME_BUCKETS)


def test_choose_ratio_rule():
    from kokoro_lab.coreml.ladder import choose_ratio

    cost = CostModel((40, 600), (1.0, 15.0), (1.0, 15.0))
    table = ladder_table((1.1, 1.15, 1.25, 2.0), cost)
    means = {r.ratio: r.mean_cost_ratio for r in table}
    chosen = choose_ratio(table)
    assert means[chosen] <= min(means.values()) * 1.05
    assert all(means[r] > min(means.values()) * 1.05 for r in means if r > chosen)


def test_bucket_lookup_errors_name_the_fix():
    assert text_bucket_for(16) == 16 and text_bucket_for(17) == 32
    with pytest.raises(TextTooLongForPipeline, match="split the text"):
        text_bucket_for(TEXT_BUCKETS[-1] + 1)
    with pytest.raises(FrameOverflowError, match=r"601 frames .* split the text, raise the speed"):
        frame_bucket_for(601)


# --- bad input -----------------------------------------------------------------------------


def test_text_too_long_for_the_largest_text_bucket(pipeline):
    tokens, ref_s = KokoroPipeline.prepare(" ".join(UTTERANCES))  # ~200 tokens
    assert len(tokens) + 2 > TEXT_BUCKETS[-1]
    with pytest.raises(TextTooLongForPipeline, match="long-text path"):
        pipeline.synthesize_tokens(tokens, ref_s)


def test_frame_overflow_is_an_error_not_a_cut(complex_free, outputs):
    tokens, ref_s, out = outputs[TEXTS[0]]
    small = KokoroPipeline.in_torch(complex_free, frame_buckets=(40,))
    with pytest.raises(
        FrameOverflowError, match=rf"{out.choice.frames} frames .*\(40 frames\); split the text"
    ):
        small.synthesize_tokens(tokens, ref_s)
    with pytest.raises(FrameOverflowError):
        small.choose(tokens, ref_s)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"d": torch.zeros(1, 12, 640)}, r"d must have shape \[1, 16, 640\].*pad_tokens"),
        ({"t_en": torch.zeros(1, 512, 20)}, r"t_en must have shape .*unchanged"),
        ({"pred_dur": torch.full((1, 16), 0.5)}, "whole numbers"),
        ({"pred_dur": torch.full((1, 16), float("nan"))}, "NaN"),
        ({"ref_s": torch.zeros(1, 128)}, r"ref_s must have shape \[1, 256\]"),
        ({"random_phases": torch.zeros(1, 8)}, r"random_phases must have shape \[1, 9\]"),
    ],
)
def test_bad_acoustic_inputs_get_clear_errors(complex_free, change, message):
    good = {
        "d": torch.zeros(1, 16, 640),
        "t_en": torch.zeros(1, 512, 16),
        "pred_dur": torch.ones(1, 16),
        "ref_s": torch.zeros(1, 256),
        "random_phases": torch.zeros(1, 9),
    }
    with pytest.raises(InputError, match=message):
        AcousticStage(complex_free, 16, 40)(**{**good, **change})


def test_pad_tokens_refuses_to_shrink():
    with pytest.raises(InputError, match="at least the text stage's MAX_TOKENS"):
        pad_tokens(torch.zeros(1, 32), torch.zeros(1, 32, 640), torch.zeros(1, 512, 32), 16)


# --- pipeline directories: stand-in packages -------------------------------------------------


class _ToyText(torch.nn.Module):
    def forward(self, input_ids, attention_mask, ref_s, speed):
        x = (input_ids + attention_mask).to(torch.float32) * speed + ref_s[:, :1]  # [1, L]
        return x, x.unsqueeze(-1).repeat(1, 1, 640), x.unsqueeze(1).repeat(1, 512, 1)


class _ToyAcoustic(torch.nn.Module):
    def forward(self, d, t_en, pred_dur, ref_s, random_phases):
        total = d.sum() + t_en.sum() + pred_dur.sum() + ref_s.sum() + random_phases.sum()
        n = pred_dur.sum(dim=1).to(torch.int32)
        return total.reshape(1, 1, 1), n * 600, n * 0


def _toy_package(path, stage, L, F, conversion):
    ct = pytest.importorskip("coremltools")
    from kokoro_lab.coreml.convert import convert_traced, save_package
    from kokoro_lab.coreml.manifest import ACOUSTIC_INPUTS, ACOUSTIC_OUTPUTS, TEXT_INPUTS, TEXT_OUTPUTS
    from kokoro_lab.coreml.pipeline_convert import set_stage_metadata

    del ct
    if stage == "text":
        shapes = {"input_ids": (1, L), "attention_mask": (1, L), "ref_s": (1, 256), "speed": (1,)}
        module, names = _ToyText(), (TEXT_INPUTS, TEXT_OUTPUTS)
        example = (torch.zeros(1, L, dtype=torch.int32),) * 2 + (torch.zeros(1, 256), torch.ones(1))
    else:
        shapes = {"d": (1, L, 640), "t_en": (1, 512, L), "pred_dur": (1, L), "ref_s": (1, 256)}
        shapes["random_phases"] = (1, 9)
        module, names = _ToyAcoustic(), (ACOUSTIC_INPUTS, ACOUSTIC_OUTPUTS)
        example = tuple(torch.zeros(s) for s in shapes.values())
    traced = torch.jit.trace(module.eval(), example)
    inputs = {n: (d, shapes[n]) for n, (d, _) in names[0].items()}
    mlmodel = convert_traced(traced, inputs, {n: d for n, (d, _) in names[1].items()}, "fp32", quiet=True)
    set_stage_metadata(mlmodel, stage, L, F, "fp32", None, "toy weights", conversion)
    return save_package(mlmodel, path)


@pytest.fixture(scope="module")
def toy_directory(tmp_path_factory):
    """A pipeline directory of stand-in packages (the stages' names and shapes, trivial math)."""
    from kokoro_lab.coreml.manifest import PipelineManifest, StagePackage, write_manifest

    root = tmp_path_factory.mktemp("toy-pipeline")
    directory = root / "pipeline"
    directory.mkdir()
    _toy_package(directory / "text-16.mlpackage", "text", 16, None, "0123456789abcdef")
    _toy_package(directory / "acoustic-40.mlpackage", "acoustic", 16, 40, "0123456789abcdef")
    manifest = PipelineManifest(
        conversion_id="0123456789abcdef",
        kokoro_lab_version="0.1.0",
        precision="fp32",
        compression="none",
        deployment_target="iOS17",
        weights="toy weights",
        text=[StagePackage("text-16.mlpackage", 16)],
        acoustic=[StagePackage("acoustic-40.mlpackage", 16, 40)],
    )
    write_manifest(directory, manifest)
    yield directory
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def toy_copy(toy_directory, tmp_path):
    copy = tmp_path / "pipeline"
    shutil.copytree(toy_directory, copy)
    yield copy
    shutil.rmtree(copy, ignore_errors=True)


def test_manifest_round_trip(toy_directory):
    from kokoro_lab.coreml.manifest import PipelineManifest, check_directory, read_manifest

    manifest = check_directory(toy_directory)
    again = PipelineManifest.from_json(json.loads(json.dumps(manifest.to_json())))
    assert again == manifest == read_manifest(toy_directory)
    assert manifest.text_buckets == (16,) and manifest.frame_buckets == (40,)
    assert manifest.limits == {"max_tokens": 16, "max_phonemes": 14, "max_frames": 40, "max_seconds": 1.0}
    data = json.loads((toy_directory / "manifest.json").read_text())
    assert data["inputs"]["acoustic"] == {
        n: "float32" for n in ("d", "t_en", "pred_dur", "ref_s", "random_phases")
    }
    assert data["outputs"]["text"] == {"pred_dur": "float32", "d": "float32", "t_en": "float32"}


def test_a_missing_package_is_named(toy_copy):
    from kokoro_lab.coreml.manifest import ManifestError, check_directory

    shutil.rmtree(toy_copy / "acoustic-40.mlpackage")
    with pytest.raises(
        ManifestError, match="lists acoustic-40.mlpackage, which is not in .* convert the whole"
    ):
        check_directory(toy_copy)


def test_a_manifest_that_does_not_match_its_packages(toy_copy):
    from kokoro_lab.coreml.manifest import ManifestError, check_directory

    path = toy_copy / "manifest.json"
    data = json.loads(path.read_text())
    data["acoustic"][0]["max_frames"] = 46
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="max_frames is '40', the manifest says '46'"):
        check_directory(toy_copy)
    path.write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        check_directory(toy_copy)
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ManifestError, match="not a kokoro-lab pipeline manifest"):
        check_directory(toy_copy)


def test_a_package_from_another_conversion_is_refused(toy_copy):
    ct = pytest.importorskip("coremltools")
    from kokoro_lab.coreml.convert import save_package
    from kokoro_lab.coreml.manifest import ManifestError, check_directory

    path = toy_copy / "text-16.mlpackage"
    mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
    mlmodel.user_defined_metadata["kokoro_lab.conversion_id"] = "fedcba9876543210"
    save_package(mlmodel, path, overwrite=True)
    with pytest.raises(
        ManifestError, match="another conversion .*fedcba9876543210.* convert the whole pipeline"
    ):
        check_directory(toy_copy)


def test_predictions_need_macos(toy_directory):
    from kokoro_lab.coreml.predict import PredictionUnavailable, predict_pipeline

    if sys.platform == "darwin":
        pytest.skip("predictions run on macOS")
    pipe = KokoroPipeline.from_directory(toy_directory)  # the manifest is checked on any OS
    assert pipe.text_buckets == (16,) and pipe.frame_buckets == (40,)
    with pytest.raises(PredictionUnavailable, match="only supported on macOS"):
        pipe.synthesize_tokens([50, 83], torch.zeros(1, 256))
    with pytest.raises(PredictionUnavailable, match="only supported on macOS"):
        predict_pipeline(toy_directory, [50, 83], torch.zeros(1, 256))


def test_cli_inspects_a_pipeline_directory(toy_directory, capsys):
    from kokoro_lab.cli import main

    assert main(["inspect", str(toy_directory)]) == 0
    out = capsys.readouterr().out
    assert "a two-stage pipeline, conversion 0123456789abcdef" in out and "frame buckets (frames): 40" in out
    assert "text-16.mlpackage" in out and "acoustic-40.mlpackage" in out


def test_cli_convert_pipeline_errors_exit_2(tmp_path, capsys):
    from kokoro_lab.cli import main

    assert main(["convert", "--pipeline", "-q"]) == 2
    assert "-o DIR" in capsys.readouterr().err
    assert main(["convert", "--pipeline", "--frame-buckets", "41", "-o", str(tmp_path / "p"), "-q"]) == 2
    assert "Unknown frame bucket(s) [41]; choose from 40, 46" in capsys.readouterr().err
    assert main(["convert", "--text-buckets", "16", "-q"]) == 2
    assert "need --pipeline" in capsys.readouterr().err
    (tmp_path / "exists").mkdir()
    assert main(["convert", "--pipeline", "-o", str(tmp_path / "exists"), "-q"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_the_bucket_panel_names_both_choices(pipeline):
    from kokoro_lab.book.bucket_panel import describe_choice, render_choice

    info = describe_choice(pipeline, TEXTS[1])
    assert info["tokens"] == 40 and info["text_bucket"] == text_bucket_for(40)
    assert info["frame_bucket"] == frame_bucket_for(info["frames"]) and info["single_bucket"] in BUCKETS
    assert f"the {info['frame_bucket']}-frame bucket" in render_choice(info)
    too_long = describe_choice(pipeline, " ".join(UTTERANCES))
    assert "split the text" in too_long["error"] and too_long["error"] in render_choice(too_long)


def test_pipeline_output_is_deterministic(pipeline, outputs):
    tokens, ref_s, out = outputs[TEXTS[0]]
    again = pipeline.synthesize_tokens(tokens, ref_s)
    assert torch.equal(again.audio, out.audio) and np.isfinite(out.audio.numpy()).all()


# --- memory around tracing -------------------------------------------------------------------


def test_heap_helpers_change_allocation_not_results():
    from kokoro_lab.coreml.heap import legacy_executor, mapped_blocks, trim_heap

    def f(x):
        return torch.sin(x) * 2 + x

    x = torch.linspace(-3, 3, 200_000)
    with mapped_blocks():
        traced = torch.jit.trace(f, (x,))
    assert trim_heap() == sys.platform.startswith("linux")
    previous = torch._C._jit_set_profiling_executor(True)
    try:
        with legacy_executor():
            assert torch._C._jit_set_profiling_executor(False) is False  # off inside the block
            legacy = [traced(x) for _ in range(3)]
        assert torch._C._jit_set_profiling_executor(True) is True  # restored
        profiled = [traced(x) for _ in range(3)]
    finally:
        torch._C._jit_set_profiling_executor(previous)
    assert all(torch.equal(a, f(x)) for a in legacy + profiled)
