"""Weight compression schemes: the emulation of each scheme, sizes and deployment targets, bad
inputs, the coremltools configs (weights only), the emulation against a written package (slow),
and the recommended small variant's intelligibility (slow)."""

import numpy as np
import pytest
import torch

from kokoro_lab.coreml.compression_cache import CompressionCache, weights_fingerprint
from kokoro_lab.coreml.layer_groups import GROUP_NAMES, group_of
from kokoro_lab.coreml.schemes import (
    INT4_BLOCK32,
    INT8,
    RECOMMENDED,
    VARIANTS,
    Scheme,
    Variant,
    check_target,
    get_variant,
    palette,
)
from kokoro_lab.coreml.weight_compression import compress_array, compressed_weights

rng = np.random.default_rng(0)


def weights(*shape) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float16)


# --- what each scheme does to a tensor -----------------------------------------------------------


@pytest.mark.parametrize("nbits", [2, 3, 4])
def test_grouped_palette_has_one_table_per_16_output_channels(nbits):
    w = weights(64, 48)  # 4 groups of 16 rows; 16 × 48 = 768 values per table
    q = compress_array(w, palette(nbits, 16))
    tables = [np.unique(q[g * 16 : (g + 1) * 16]) for g in range(4)]
    assert all(len(t) <= 2**nbits for t in tables)
    assert len({tuple(t) for t in tables}) == 4  # four different tables
    assert len(np.unique(q)) > 2**nbits  # more values than a single table holds


def test_per_tensor_palette_has_one_table():
    q = compress_array(weights(64, 48), palette(4))
    assert len(np.unique(q)) <= 16


def test_transposed_convolution_groups_along_its_output_axis():
    w = weights(8, 32, 3)  # ConvTranspose1d weight [C_in, C_out, K]: C_out is axis 1
    q = compress_array(w, palette(2, 16), out_axis=1, in_axis=0)
    for g in range(2):
        assert len(np.unique(q[:, g * 16 : (g + 1) * 16])) <= 4
    assert len(np.unique(q)) > 4


def test_int4_blocks_have_one_scale_per_32_inputs():
    w = weights(4, 64)
    q = compress_array(w, INT4_BLOCK32).astype(np.float32)
    for row in range(4):
        for b in range(2):
            block = q[row, 32 * b : 32 * (b + 1)]
            scale = np.abs(w[row, 32 * b : 32 * (b + 1)]).max().astype(np.float32) / 7  # symmetric: −7..7
            steps = block / scale
            assert np.abs(steps - np.round(steps)).max() < 0.02 and np.abs(steps).max() <= 7.01
    assert np.abs(q - w).max() <= np.abs(w).max() / 7  # at most one step off


def test_int8_tables_lie_on_one_grid_per_tensor():
    w = weights(64, 48)
    plain, joint = compress_array(w, palette(4, 16)), compress_array(w, palette(4, 16, "int8"))
    step = np.abs(plain).max().astype(np.float32) / 127
    values = np.unique(joint).astype(np.float32)
    assert np.abs(values / step - np.round(values / step)).max() < 0.05
    assert 0 < np.abs(joint.astype(np.float32) - plain).max() <= step


def test_shapes_that_do_not_divide_stay_float16():
    w = weights(40, 1090)  # 40 % 16 ≠ 0 (grouped) and 1090 % 32 ≠ 0 (blocks): coremltools skips both
    assert np.array_equal(compress_array(w, palette(4, 16)), w)
    assert np.array_equal(compress_array(w, INT4_BLOCK32), w)
    assert INT4_BLOCK32.stored_bytes((40, 1090)) == 40 * 1090 * 2


def test_stored_bytes_count_indices_and_tables():
    assert palette(4).stored_bytes((64, 48)) == 64 * 48 / 2 + 16 * 2
    assert palette(3, 16).stored_bytes((64, 48)) == 64 * 48 * 3 / 8 + 4 * 8 * 2
    assert palette(4, 16, "int8").stored_bytes((64, 48)) == 64 * 48 / 2 + 4 * 16 + 2
    assert INT4_BLOCK32.stored_bytes((4, 64)) == 4 * 64 / 2 + 8 * 2
    assert INT8.stored_bytes((4, 64)) == 4 * 64 + 4 * 2 + 4  # iOS16 stores a zero point too


def test_deployment_targets():
    assert palette(4).minimum_target == INT8.minimum_target == "iOS16"
    assert {
        palette(4, 16).minimum_target,
        INT4_BLOCK32.minimum_target,
        palette(4, 16, "int8").minimum_target,
    } == {"iOS18"}
    with pytest.raises(ValueError, match=r"--target iOS18.*iOS 18 / macOS 15"):
        check_target(get_variant("grouped4"), "iOS17")
    check_target(get_variant("palettize4"), "iOS17")  # fine


# --- bad inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "prune", "nbits": 4, "granularity": "per_tensor"}, "Unknown method"),
        ({"method": "palettize", "nbits": 5, "granularity": "per_tensor"}, "supports"),
        ({"method": "linear", "nbits": 3, "granularity": "per_channel"}, "supports"),
        ({"method": "palettize", "nbits": 4, "granularity": "per_block"}, "granularity"),
        ({"method": "palettize", "nbits": 4, "granularity": "per_grouped_channel"}, "group_size"),
        ({"method": "linear", "nbits": 4, "granularity": "per_block"}, "block_size"),
        ({"method": "linear", "nbits": 8, "granularity": "per_channel", "lut_dtype": "int8"}, "lut_dtype"),
    ],
)
def test_bad_schemes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scheme(**kwargs)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="grouped4"):
        get_variant("grouped5")
    with pytest.raises(ValueError, match="Unknown layer group 'generator'.*generator_ups"):
        Variant("x", palette(4), {"generator": INT8})
    with pytest.raises(ValueError, match="no layer group"):
        group_of("postnet.weight")


def test_overrides_need_kokoro_names():
    net = torch.nn.Sequential(torch.nn.Linear(64, 64))
    with pytest.raises(ValueError, match="no layer group"):
        with compressed_weights(net, Variant("x", palette(4), {"adain_fc": INT8})):
            pass


# --- Kokoro's weights -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kmodel():
    import kokoro_lab as kl

    return kl.load_kmodel(disable_complex=True)[0]


def test_every_weight_has_a_group_and_every_group_weights(kmodel):
    from kokoro_lab.coreml.weight_compression import weight_targets

    groups = {group_of(name) for name, _, _ in weight_targets(kmodel)}
    assert groups == set(GROUP_NAMES)
    assert (
        group_of("decoder.decode.0.norm1.fc.weight")
        == group_of("predictor.F0.0.norm1.fc.weight")
        == "adain_fc"
    )


def test_sizes_of_the_variants(kmodel):
    from kokoro_lab.coreml.sizes import weight_megabytes

    fp16 = weight_megabytes(kmodel, None)
    sizes = {name: weight_megabytes(kmodel, name) for name in ("int8", "palettize4", "grouped4", "grouped3")}
    assert 160 < fp16 < 165 and 80 < sizes["int8"] < 83
    assert sizes["grouped3"] < sizes["palettize4"] < sizes["grouped4"] < sizes["palettize4"] + 2.5
    assert weight_megabytes(kmodel, RECOMMENDED) < 45


def test_mixed_variant_applies_its_overrides(kmodel):
    variant = Variant("t", palette(3, 16), {"predictor_duration": INT8, "generator_conv_post": None})
    with compressed_weights(kmodel, variant) as report:
        by_name = {r.name: r for r in report}
    assert by_name["predictor.lstm.weight_ih_l0"].scheme == INT8.label
    assert by_name["decoder.generator.conv_post.weight"].scheme == ""  # float16
    assert by_name["decoder.decode.0.conv1.weight"].scheme == palette(3, 16).label
    assert by_name["decoder.generator.conv_post.weight"].rel_error < 1e-3


# --- coremltools configs: weights only ------------------------------------------------------------


class _RampAndLinear(torch.nn.Module):
    """A linear layer, and a mask against a 3,000-value position ramp (a constant, not a weight)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(64, 64)

    def forward(self, x, n):
        positions = torch.arange(3000, dtype=torch.float32)
        return self.linear(x), (positions < n).float()


@pytest.fixture(scope="module")
def tiny_program():
    """An fp16 ML program of ``_RampAndLinear`` for iOS17 and for iOS18."""
    from kokoro_lab.coreml.convert import quiet_trace
    from kokoro_lab.coreml.coremltools_import import load_coremltools

    ct = load_coremltools()
    with quiet_trace():
        traced = torch.jit.trace(_RampAndLinear().eval(), (torch.zeros(1, 64), torch.ones(1)))
    out = {}
    for target in ("iOS17", "iOS18"):
        out[target] = ct.convert(
            traced,
            inputs=[ct.TensorType("x", (1, 64)), ct.TensorType("n", (1,))],
            outputs=[ct.TensorType("y"), ct.TensorType("mask")],
            convert_to="mlprogram",
            compute_precision=ct.precision.FLOAT16,
            minimum_deployment_target=getattr(ct.target, target),
        )
    return out


def test_only_weights_are_compressed(tiny_program):
    from kokoro_lab.coreml.compress import compress_weights
    from kokoro_lab.coreml.package_weights import compressed_consts, load_program, weight_const_names

    mlmodel = tiny_program["iOS18"]
    weights = weight_const_names(load_program(mlmodel))
    assert len(weights) == 1  # the linear weight; the ramp is read by `less`, not as a weight
    for mode in ("palettize4", "grouped4", "int8"):
        touched = compressed_consts(load_program(compress_weights(mlmodel, mode, quiet=True)))
        assert set(touched) == set(weights), mode


def test_config_errors_name_the_fix(tiny_program):
    from kokoro_lab.coreml.compress import compress_weights

    with pytest.raises(ValueError, match="minimum_deployment_target=iOS18"):
        compress_weights(tiny_program["iOS17"], "grouped4", quiet=True)
    with pytest.raises(ValueError, match="names 'linear_7_weight'.*no weight constant"):
        compress_weights(tiny_program["iOS18"], "grouped4", quiet=True, op_names={"linear_7_weight": INT8})


# --- the cache of compressed weights on disk ------------------------------------------------------


class TwoLayers(torch.nn.Module):
    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.a = torch.nn.Linear(96, 64)
        self.b = torch.nn.Conv1d(64, 32, 3)


def test_cache_round_trips_and_gives_the_same_weights(tmp_path):
    model, variant = TwoLayers(), get_variant("grouped4")
    cache = CompressionCache(model, tmp_path)
    with compressed_weights(model, variant, cache=cache):
        fresh = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert len(cache) == 2 and cache.save() == cache.path and cache.save() is None  # nothing new
    again = CompressionCache(model, tmp_path)
    assert set(again) == set(cache)
    with compressed_weights(model, variant, cache=again):
        cached = model.state_dict()
        assert all(torch.equal(fresh[k], cached[k]) for k in fresh)
    assert not torch.equal(fresh["a.weight"], model.a.weight)  # restored after the block


def test_cache_belongs_to_its_weights_and_refuses_a_bad_file(tmp_path):
    model = TwoLayers()
    assert weights_fingerprint(model) != weights_fingerprint(TwoLayers(seed=1))
    cache = CompressionCache(model, tmp_path)
    with compressed_weights(model, "palettize4", cache=cache):
        pass
    path = cache.save()
    payload = torch.load(path, weights_only=True)
    key = next(iter(payload["tensors"]))
    payload["tensors"][key] = payload["tensors"][key] + 1
    torch.save(payload, path)
    with pytest.raises(ValueError, match="checksum; delete it"):
        CompressionCache(model, tmp_path)


# --- against a written package, and the recommended variant's intelligibility (slow) --------------

# max |emulated − package| / max |package| per weight. Measured for small: 1.8e-4, one rounding
# step of a weight-norm folding (bench/results/package_check.json).
EMULATION_TOLERANCE = 1e-3


@pytest.mark.slow
def test_emulation_matches_the_package(kmodel, tmp_path):
    """The 2 s bucket in fp16, compressed by coremltools, read back and compared weight by weight."""
    from kokoro_lab.coreml import get_bucket
    from kokoro_lab.coreml.compress import compress_weights
    from kokoro_lab.coreml.convert import save_package, to_mlprogram, trace
    from kokoro_lab.coreml.package_weights import (
        compare_weights,
        load_program,
        match_weights,
        read_weights,
        torch_weights,
    )

    bucket = get_bucket("2s")
    mlmodel = to_mlprogram(trace(bucket, kmodel), bucket, "fp16", "iOS18", quiet=True)
    matches = match_weights(load_program(mlmodel), kmodel)
    assert len(matches) >= 190
    small = compress_weights(mlmodel, RECOMMENDED, quiet=True, model=kmodel)
    save_package(small, tmp_path / "small.mlpackage")
    cache = CompressionCache(kmodel)  # what the chapters reuse is checked here against the package
    with compressed_weights(kmodel, RECOMMENDED, cache=cache):
        emulated = torch_weights(kmodel)
    cache.save()
    diffs = compare_weights(read_weights(tmp_path / "small.mlpackage"), emulated, matches)
    assert len(diffs) == len(matches)
    worst = max(diffs, key=lambda d: d.max_rel)
    assert worst.max_rel <= EMULATION_TOLERANCE, worst


WER_SENTENCES = 3
WER_MARGIN = 0.01  # the goal: within one point of fp32


@pytest.mark.slow
def test_recommended_variant_keeps_the_words(kmodel):
    from kokoro_lab.coreml.listening import Speaker, score
    from kokoro_lab.quality import HARVARD_SENTENCES

    texts = HARVARD_SENTENCES[:WER_SENTENCES]
    speaker = Speaker(kmodel)
    reference = speaker.render(texts, "fp32")
    cache = CompressionCache(kmodel)
    with compressed_weights(kmodel, RECOMMENDED, cache=cache):
        small = speaker.render(texts, RECOMMENDED.name)
    fp32, compressed = score(reference), score(small, reference)
    assert compressed.wer <= fp32.wer + WER_MARGIN, compressed.transcripts
    assert compressed.speaker_similarity > 0.9


def test_recommended_is_registered():
    assert VARIANTS[RECOMMENDED.name] is RECOMMENDED


def test_the_help_quotes_the_measured_figures():
    """The CLI's figures for the recommended variant are those bench/quality.py stored."""
    from kokoro_lab.bench_results import load_checked
    from kokoro_lab.cli import build_parser
    from kokoro_lab.coreml.schemes import RECOMMENDED_FP32_WER, RECOMMENDED_SIZE_MB, RECOMMENDED_WER

    quality = load_checked("quality")
    row = next(r for r in quality["rows"] if r["name"] == RECOMMENDED.name)
    assert round(row["size_mb"], 1) == RECOMMENDED_SIZE_MB
    assert round(row["wer"], 3) == RECOMMENDED_WER
    assert round(quality["settings"]["fp32_wer"], 3) == RECOMMENDED_FP32_WER
    convert = build_parser()._subparsers._group_actions[0].choices["convert"]
    text = convert.format_help()
    assert f"{RECOMMENDED_SIZE_MB:.1f} MB" in text and f"{100 * RECOMMENDED_WER:.1f} %" in text
