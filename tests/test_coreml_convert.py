"""Conversion to CoreML: buckets, the saved packages, fp16 islands, compression, errors.

The real model is converted once per precision, for the tiny "2s" bucket, into temporary
directories. Packages are read back from disk (``skip_model_load``), which works on any OS;
running them needs macOS.
"""

import shutil
import sys
import warnings

import numpy as np
import pytest
import torch

import kokoro_lab
from kokoro_lab.atomic import OutputExistsError
from kokoro_lab.coreml import BUCKETS, convert, get_bucket, inspect, inspect_program, island_report
from kokoro_lab.coreml.buckets import SAFETY_MARGIN, bucket_for, check_bucket
from kokoro_lab.coreml.convert import INPUTS, OUTPUTS, package_size, save_package
from kokoro_lab.coreml.graph import from_spec
from kokoro_lab.coreml.inspection import load_graph

ct = pytest.importorskip("coremltools")

TINY = "2s"
ON_MACOS = sys.platform == "darwin"


@pytest.fixture(scope="module")
def complex_free():
    from kokoro_lab import load_kmodel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = load_kmodel(disable_complex=True)
    return model


@pytest.fixture(scope="module")
def converted(complex_free, tmp_path_factory):
    """Convert the tiny bucket lazily, once per precision; the packages are deleted afterwards."""
    results = {}
    root = tmp_path_factory.mktemp("coreml")

    def get(precision: str):
        if precision not in results:
            out = root / f"kokoro-{TINY}-{precision}.mlpackage"
            results[precision] = convert(
                TINY, precision, output=out, model=complex_free, progress=False, weights="test weights"
            )
        return results[precision]

    yield get
    shutil.rmtree(root, ignore_errors=True)  # ~500 MB of packages


@pytest.fixture
def scratch(tmp_path):
    """A temporary directory removed after the test (packages are large)."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


# --- buckets -------------------------------------------------------------------------------


def test_bucket_table_is_consistent():
    assert TINY in BUCKETS and BUCKETS[TINY].max_frames == 80
    for b in BUCKETS.values():
        assert b.max_frames == round(b.seconds * 40) and b.max_samples == b.max_frames * 600
        assert 3 <= b.max_tokens <= 512
    ordered = sorted(BUCKETS.values(), key=lambda b: b.seconds)
    assert [b.max_tokens for b in ordered] == sorted(b.max_tokens for b in ordered)
    assert bucket_for(BUCKETS["5s"].max_phonemes).name == "5s"
    assert bucket_for(BUCKETS["5s"].max_phonemes + 1).name == "10s"
    with pytest.raises(ValueError, match="2s, 5s, 10s, 15s"):
        get_bucket("3s")


@pytest.mark.slow
def test_bucket_token_limits_still_hold(complex_free):
    """Re-measure cheaply: the two longest sample texts each bucket admits still fit, with the
    safety margin, for every offline voice."""
    for b in BUCKETS.values():
        rows = check_bucket(b, complex_free)
        assert len(rows) in (5, 10)  # the tiny bucket admits one sample text
        worst = max(f for _, _, f in rows)
        assert worst * (1 + SAFETY_MARGIN) <= b.max_frames, (b.name, rows)


# --- errors before the slow part -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bucket": "3s"}, "2s, 5s, 10s, 15s"),
        ({"precision": "fp8"}, "'fp32', 'fp16'"),
        ({"compress": "int4"}, "'int8', 'palettize6', 'palettize4'"),
        ({"deployment_target": "iOS15"}, "'iOS17', 'iOS18'"),
    ],
)
def test_unknown_names_are_refused_with_the_choices(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        convert(output=tmp_path / "m.mlpackage", progress=False, **kwargs)


def test_bad_output_paths_are_refused_before_loading(tmp_path):
    existing = tmp_path / "old.mlpackage"
    existing.mkdir()
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        convert(TINY, output=existing, progress=False)
    with pytest.raises(NotADirectoryError, match="does not exist"):
        convert(TINY, output=tmp_path / "missing" / "m.mlpackage", progress=False)
    with pytest.raises(ValueError, match=r"\.mlpackage"):
        convert(TINY, output=tmp_path / "m.mlmodel", progress=False)


def test_cli_convert_errors_exit_2(tmp_path, capsys):
    from kokoro_lab.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["convert", "--bucket", "3s"])
    assert exc.value.code == 2 and "2s" in capsys.readouterr().err
    existing = tmp_path / "m.mlpackage"
    existing.mkdir()
    assert main(["convert", "--bucket", TINY, "-o", str(existing), "-q"]) == 2
    assert "already exists" in capsys.readouterr().err


# --- the saved packages --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_package_inputs_outputs_and_metadata(converted, precision):
    result = converted(precision)
    assert result.path.is_dir() and result.size_bytes == package_size(result.path) > 10_000_000
    assert set(result.seconds) == {"trace", "convert", "save"}
    spec = ct.models.MLModel(str(result.path), skip_model_load=True).get_spec()
    b = BUCKETS[TINY]
    want_in = {
        "input_ids": ("INT32", [1, b.max_tokens]),
        "ref_s": ("FLOAT32", [1, 256]),
        "random_phases": ("FLOAT32", [1, 9]),
        "attention_mask": ("INT32", [1, b.max_tokens]),
        "speed": ("FLOAT32", [1]),
    }
    want_out = {
        "audio": ("FLOAT32", [1, 1, b.max_samples]),
        "audio_length_samples": ("INT32", [1]),
        "pred_dur": ("FLOAT32", [1, b.max_tokens]),
        "frame_overflow": ("INT32", [1]),
    }
    array_type = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType
    for features, want in ((spec.description.input, want_in), (spec.description.output, want_out)):
        got = {
            f.name: (array_type.Name(f.type.multiArrayType.dataType), list(f.type.multiArrayType.shape))
            for f in features
        }
        assert got == want
        assert all(f.shortDescription for f in features)
    meta = spec.description.metadata
    assert meta.license.startswith("Apache-2.0") and "Kokoro-82M" in meta.author
    assert meta.shortDescription and meta.versionString == kokoro_lab.__version__
    user = dict(meta.userDefined)
    assert user["kokoro_lab.version"] == kokoro_lab.__version__
    assert user["kokoro_lab.bucket"] == TINY
    assert user["kokoro_lab.max_tokens"] == str(b.max_tokens)
    assert user["kokoro_lab.max_frames"] == str(b.max_frames)
    assert user["kokoro_lab.precision"] == precision
    assert user["kokoro_lab.compression"] == "none"
    assert user["kokoro_lab.weights"] == "test weights"
    assert set(INPUTS) == set(want_in) and set(OUTPUTS) == set(want_out)


@pytest.mark.slow
def test_fp32_program_has_no_float16(converted):
    summary = inspect(converted("fp32").path)
    assert summary.ops_by_dtype["fp16"] == 0 and summary.ops_by_dtype["fp32"] > 1000
    assert summary.op_types["lstm"] == 12  # 6 BiLSTMs, each run forwards and right-aligned
    report = island_report(converted("fp32").path)
    assert report.ok, report.violations


@pytest.mark.slow
def test_fp16_keeps_phase_and_length_paths_in_fp32_on_the_saved_program(converted):
    path = converted("fp16").path
    report = island_report(path)
    assert report.ok, report.violations
    types = {k: {op.type for op in ops} for k, ops in report.islands.items()}
    assert {"cumsum", "floor", "sin", "upsample_bilinear"} <= types["phase"]
    assert {"atan", "sqrt", "conv", "concat"} <= types["source_stft"]
    assert {"exp", "conv_transpose", "real_div"} <= types["istft"]
    assert {"sigmoid", "round", "cumsum"} <= types["length"]
    for name, ops in report.islands.items():
        dtypes = {d for op in ops for d in op.dtypes}
        assert dtypes <= {"fp32", "int32", "bool", "int16", "uint16"}, (name, dtypes)
    g = load_graph(path)
    assert [g.var_dtype(v) for v in ("audio_length_samples", "frame_overflow")] == ["int32", "int32"]
    # Really float16 elsewhere: most of the network's compute ops.
    assert report.fp16_ops > 1500 and report.fp16_ops > 3 * report.fp32_ops
    ops = inspect_program(path)
    lstm = [op for op in ops if op.type == "lstm"]
    assert len(lstm) == 12 and all(op.dtypes[0] == "fp16" for op in lstm)
    summary = inspect(path)
    assert summary.size_bytes < 0.6 * converted("fp32").size_bytes  # float16 weights
    assert {t for t, _, r in summary.ane_unsupported if r == "recurrent layer"} == {"lstm"}
    assert summary.inputs["ref_s"] == ("float32", (1, 256)) and summary.outputs["audio"][0] == "float32"


@pytest.mark.slow
def test_cli_inspect_reports_the_islands(converted, capsys):
    from kokoro_lab.cli import main

    assert main(["inspect", str(converted("fp16").path), "--islands"]) == 0
    out = capsys.readouterr().out
    assert (
        "phase island: fp32" in out
        and f"input_ids: int32 [1, {BUCKETS[TINY].max_tokens}]" in out
        and "violation" not in out
    )


@pytest.mark.slow
def test_save_package_overwrites_only_when_asked(converted, scratch):
    mlmodel = ct.models.MLModel(str(converted("fp16").path), skip_model_load=True)
    target = scratch / "copy.mlpackage"
    save_package(mlmodel, target)
    with pytest.raises(OutputExistsError):
        save_package(mlmodel, target)
    (target / "marker").write_text("old")
    save_package(mlmodel, target, overwrite=True)
    assert not (target / "marker").exists()
    assert sorted(p.name for p in scratch.iterdir()) == ["copy.mlpackage"]  # no temporary leftovers


@pytest.mark.slow
def test_int8_weights_are_smaller(converted, scratch):
    from kokoro_lab.coreml.compress import compress_weights

    source = converted("fp16")
    mlmodel = ct.models.MLModel(str(source.path), skip_model_load=True)
    small = save_package(compress_weights(mlmodel, "int8", quiet=True), scratch / "int8.mlpackage")
    assert package_size(small) < 0.6 * source.size_bytes
    assert inspect(small).op_types["constexpr_affine_dequantize"] == 0  # constexpr ops are not compute
    assert any(op.type.startswith("constexpr_") for op in inspect_program(small))
    assert island_report(small).ok


# --- the coremltools frontend fixes --------------------------------------------------------


class _Remainder(torch.nn.Module):
    def forward(self, x, n):
        idx = torch.arange(8, dtype=torch.int32).view(1, 8).clamp(max=n.view(1, 1) - 1)
        return x % 1.0, idx * 48000


def _convert_small(fixed: bool):
    from kokoro_lab.coreml.frontend_fixes import torch_frontend_fixes

    traced = torch.jit.trace(_Remainder(), (torch.rand(1, 8) * 5, torch.tensor([5], dtype=torch.int32)))
    kwargs = dict(
        inputs=[
            ct.TensorType(name="x", shape=(1, 8), dtype=np.float32),
            ct.TensorType(name="n", shape=(1,), dtype=np.int32),
        ],
        convert_to="mlprogram",
        minimum_deployment_target=ct.target.iOS17,
    )
    if fixed:
        with torch_frontend_fixes(quiet=True):
            return from_spec(ct.convert(traced, **kwargs).get_spec())
    return from_spec(ct.convert(traced, **kwargs).get_spec())


def test_frontend_fixes_keep_remainder_and_integer_clamp_right():
    g = _convert_small(fixed=True)
    ops = [op for _, op in g.compute_ops()]
    assert "floor" in {op.type for op in ops}
    assert not any(op.type == "sub" and op.inputs["x"] == op.inputs["y"] for op in ops)
    assert all(
        op.dtypes[0] == "int32" for op in ops if op.type in ("minimum", "mul") and "int32" in op.dtypes
    )
    assert g.var_dtype(g.outputs[1]) == "int32"


def test_coremltools_9_still_needs_the_fixes():
    """Without them, ``x % 1`` becomes ``x - x`` and the clamped integers become float32.
    If this fails after a coremltools upgrade, the corresponding fix may be obsolete."""
    g = _convert_small(fixed=False)
    ops = [op for _, op in g.compute_ops()]
    assert any(op.type == "sub" and op.inputs["x"] == op.inputs["y"] for op in ops)
    assert g.var_dtype(g.outputs[1]) != "int32"  # float16 by default: 7 · 48000 overflows to inf


def test_frontend_fixes_are_removed_afterwards():
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    table = _TORCH_OPS_REGISTRY.name_to_func_mapping
    before = {k: table.get(k) for k in ("new_ones", "or", "clamp", "remainder")}
    _convert_small(fixed=True)
    assert {k: table.get(k) for k in before} == before


# --- macOS: run the package ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.macos
@pytest.mark.skipif(not ON_MACOS, reason="Model prediction is only supported on macOS")
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_prediction_matches_torch_durations(converted, complex_free, utterance, precision):
    from kokoro_lab.rewrite.model import KokoroCompleteCoreML, pad_inputs

    b = BUCKETS[TINY]
    _, ref_s, ids = utterance("Hello there.", "jf_alpha")
    input_ids, attention_mask = pad_inputs(ids, b.max_tokens)
    inputs = (input_ids, ref_s, torch.zeros(1, 9), attention_mask, torch.ones(1))
    with torch.inference_mode():
        audio, length, pred_dur, overflow = KokoroCompleteCoreML(complex_free, b.max_tokens, b.max_frames)(
            *inputs
        )
    mlmodel = ct.models.MLModel(str(converted(precision).path), compute_units=ct.ComputeUnit.CPU_ONLY)
    out = mlmodel.predict({name: t.numpy() for name, t in zip(INPUTS, inputs, strict=True)})
    got_dur = torch.from_numpy(np.asarray(out["pred_dur"], dtype=np.float32))
    tolerance = 0 if precision == "fp32" else 1  # float16 may round a duration the other way
    assert (got_dur - pred_dur).abs().max().item() <= tolerance
    if precision == "fp32":
        assert int(out["audio_length_samples"][0]) == int(length[0])
        assert int(out["frame_overflow"][0]) == int(overflow[0])
