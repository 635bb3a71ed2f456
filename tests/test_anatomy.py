"""The anatomy reports: parameter and key tables, configuration, vocabulary, voice statistics."""

import copy

import numpy as np
import pytest
import torch

from kokoro_lab import load_config, load_voice
from kokoro_lab.book import anatomy
from kokoro_lab.original.model import load_checkpoint, parameter_count

CHECKPOINT_PARAMETERS = 81_763_410
TORCH_PARAMETERS = 81_810_022


@pytest.fixture(scope="module")
def checkpoint(kmodel):
    _, source = kmodel
    return load_checkpoint(source.path)


def test_parameter_table_rows_and_totals(kmodel):
    model, _ = kmodel
    rows = anatomy.parameter_table(model)
    got = {r.module: (r.kind, r.parameters, r.instance_norm_affine) for r in rows}
    assert got == {
        "bert": ("CustomAlbert", 6_292_480, 0),
        "bert_encoder": ("Linear", 393_728, 0),
        "predictor": ("ProsodyPredictor", 16_194_612, 9_216),
        "predictor.text_encoder": ("DurationEncoder", 5_913_600, 0),
        "text_encoder": ("TextEncoder", 5_606_400, 0),
        "decoder": ("Decoder", 53_276_190, 37_396),
        "decoder.encode": ("AdainResBlk1d", 5_652_996, 3_076),
        "decoder.decode": ("ModuleList", 27_922_778, 15_888),
        "decoder.generator": ("Generator", 19_667_510, 18_432),
    }
    assert [r.module for r in rows][:4] == ["bert", "bert_encoder", "predictor", "predictor.text_encoder"]
    top = [r for r in rows if r.top_level]
    assert [r.module for r in top] == list(anatomy.TOP_LEVEL)
    assert sum(r.parameters for r in top) == parameter_count(model) == CHECKPOINT_PARAMETERS
    assert (
        sum(r.torch_parameters for r in top) == sum(p.numel() for p in model.parameters()) == TORCH_PARAMETERS
    )
    # report 002 counted torch parameters, InstanceNorm affine included
    assert all(
        r.torch_parameters == anatomy.REPORT_002[r.module] for r in rows if r.module in anatomy.REPORT_002
    )


def test_parameter_table_takes_other_submodules(kmodel):
    model, _ = kmodel
    rows = anatomy.parameter_table(model, submodules=["decoder.asr_res", "predictor.F0"])
    got = {r.module: r.parameters for r in rows if not r.top_level}
    assert got == {"predictor.F0": 3_288_320, "decoder.asr_res": 32_896}


def test_instance_norm_affine_summary_explains_the_gap(kmodel):
    model, _ = kmodel
    summary = anatomy.instance_norm_affine_summary(model)
    assert summary["tensors"] == 140
    assert summary["layers"] == 70
    assert summary["parameters"] == TORCH_PARAMETERS - CHECKPOINT_PARAMETERS == 46_612
    assert summary["by_module"] == {
        "predictor.F0": 4_608,
        "predictor.N": 4_608,
        "decoder.encode": 3_076,
        "decoder.decode": 15_888,
        "decoder.generator": 18_432,
    }
    assert summary["identity"] is True


def test_instance_norm_affine_identity_flag_sees_a_changed_tensor():
    root = torch.nn.Module()
    root.decoder = torch.nn.Module()
    root.decoder.encode = torch.nn.Module()
    root.decoder.encode.norm1 = torch.nn.Module()
    root.decoder.encode.norm1.norm = torch.nn.InstanceNorm1d(4, affine=True)
    summary = anatomy.instance_norm_affine_summary(root)
    assert (summary["tensors"], summary["layers"], summary["parameters"]) == (2, 1, 8)
    assert summary["identity"] is True
    with torch.no_grad():
        root.decoder.encode.norm1.norm.bias[2] = 0.5
    assert anatomy.instance_norm_affine_summary(root)["identity"] is False


def test_checkpoint_key_table_per_entry(checkpoint):
    rows = anatomy.checkpoint_key_table(checkpoint)
    assert [(r.group, r.keys, r.parameters) for r in rows] == [
        ("bert", 25, 6_292_480),
        ("bert_encoder", 2, 393_728),
        ("predictor", 122, 16_194_612),
        ("text_encoder", 24, 5_606_400),
        ("decoder", 375, 53_276_190),
    ]
    assert sum(r.keys for r in rows) == 548
    assert sum(r.parameters for r in rows) == CHECKPOINT_PARAMETERS


def test_report_003_grouping_reproduces_its_table(checkpoint):
    rows = anatomy.checkpoint_key_table(checkpoint, group=anatomy.report_003_group)
    got = {r.group: (r.keys, r.parameters) for r in rows}
    assert got == {k: v for k, v in anatomy.REPORT_003.items() if k != "total"}
    assert got["TEXT_ENCODER"] == (24 + 30, 5_606_400 + 5_913_600)
    assert sum(k for k, _ in got.values()) == anatomy.REPORT_003["total"][0]


def test_checkpoint_key_table_on_a_small_checkpoint():
    small = {
        "predictor": {"module.text_encoder.w": torch.zeros(2, 3), "module.lstm.b": torch.zeros(4)},
        "text_encoder": {"module.x": torch.zeros(5)},
    }
    default = anatomy.checkpoint_key_table(small)
    assert [(r.group, r.keys, r.parameters) for r in default] == [
        ("predictor", 2, 10),
        ("text_encoder", 1, 5),
    ]
    grouped = anatomy.checkpoint_key_table(small, group=anatomy.report_003_group)
    assert [(r.group, r.keys, r.parameters) for r in grouped] == [
        ("TEXT_ENCODER", 2, 11),
        ("PREDICTOR", 1, 4),
    ]


def test_style_consumers_read_128_numbers(kmodel):
    model, _ = kmodel
    assert anatomy.style_consumers(model) == {
        "predictor": {"layers": 15, "style_width": [128]},
        "decoder": {"layers": 58, "style_width": [128]},
    }


def test_split_style():
    ref_s = torch.arange(256.0).reshape(1, 256)
    dec, pred = anatomy.split_style(ref_s)
    assert dec.shape == pred.shape == (1, 128)
    assert dec[0, 0] == 0 and dec[0, -1] == 127 and pred[0, 0] == 128 and pred[0, -1] == 255
    pack_halves = anatomy.split_style(torch.zeros(510, 1, 256))
    assert [tuple(h.shape) for h in pack_halves] == [(510, 1, 128), (510, 1, 128)]
    with pytest.raises(ValueError, match="256"):
        anatomy.split_style(torch.zeros(1, 128))


def test_style_routes_follow_the_official_forward(kmodel, utterance):
    model, _ = kmodel
    input_ids, ref_s, _ = utterance("The quick brown fox jumps over the lazy dog.")
    routes = anatomy.style_routes(model, input_ids, ref_s)
    assert set(routes) == {"predictor.text_encoder", "predictor.F0", "predictor.N", "decoder"}
    assert torch.equal(routes["decoder"], ref_s[:, :128])
    for stage in ("predictor.text_encoder", "predictor.F0", "predictor.N"):
        assert torch.equal(routes[stage], ref_s[:, 128:]), stage
    # the hooks are gone afterwards
    assert not model.decoder._forward_pre_hooks
    assert not model.predictor.text_encoder._forward_pre_hooks


def test_config_table_matches_and_detects_a_mismatch(kmodel):
    model, _ = kmodel
    rows = anatomy.config_table(model)
    assert len(rows) == 13
    assert all(r["config"] == r["model"] for r in rows)
    by_setting = {r["setting"]: r["model"] for r in rows}
    assert by_setting["style_dim"] == 128
    assert by_setting["istftnet.upsample_rates"] == [10, 6]
    assert by_setting["istftnet.gen_istft_n_fft"] == 20
    wrong = copy.deepcopy(load_config())
    wrong["style_dim"] = 256
    mismatched = [r["setting"] for r in anatomy.config_table(model, wrong) if r["config"] != r["model"]]
    assert mismatched == ["style_dim"]


def test_vocab_summary_of_kokoro():
    assert anatomy.vocab_summary() == {
        "symbols": 114,
        "min_id": 1,
        "max_id": 177,
        "n_token": 178,
        "unused_ids": 63,
        "boundary_id": 0,
        "boundary_in_vocab": False,
    }


def test_vocab_summary_of_a_small_vocab():
    info = anatomy.vocab_summary({"a": 1, "b": 5}, {"n_token": 8})
    assert (info["symbols"], info["min_id"], info["max_id"], info["unused_ids"]) == (2, 1, 5, 5)
    assert info["boundary_in_vocab"] is False
    assert anatomy.vocab_summary({"x": 0, "y": 1}, {"n_token": 2})["boundary_in_vocab"] is True


def test_voice_stats_known_values():
    pack = torch.arange(10.0).reshape(10, 1, 1)
    stats = anatomy.voice_stats(pack)
    assert stats["shape"] == (10, 1, 1)
    assert (stats["min"], stats["max"], stats["mean"], stats["median"]) == (0.0, 9.0, 4.5, 4.5)
    assert stats["std"] == pytest.approx(np.std(np.arange(10.0), ddof=1))
    assert stats["std"] == pytest.approx(float(pack.std()))


def test_voice_stats_of_jf_alpha():
    stats = anatomy.voice_stats(load_voice("jf_alpha"))
    assert stats["shape"] == (510, 1, 256)
    assert stats["min"] == pytest.approx(-1.7073196, abs=1e-6)
    assert stats["max"] == pytest.approx(1.7058953, abs=1e-6)
    assert stats["mean"] == pytest.approx(-0.0102281, abs=1e-6)
    assert stats["std"] == pytest.approx(0.2159657, abs=1e-6)
    assert stats["median"] == pytest.approx(-0.0163165, abs=1e-6)


def test_voice_row_stats_on_a_constructed_pack():
    pack = torch.zeros(510, 1, 256)
    pack[1, 0, :128] = 3.0 / np.sqrt(128)  # decoder half of row 1: norm 3
    pack[2:, 0, 128:] = 4.0 / np.sqrt(128)  # predictor half from row 2 on: norm 4
    stats = anatomy.voice_row_stats(pack)
    assert all(v.shape == (510,) for v in stats.values())
    assert stats["n_tokens"][0] == 1 and stats["n_tokens"][-1] == 510
    np.testing.assert_allclose(stats["decoder_norm"][:3], [0, 3, 0], atol=1e-6)
    np.testing.assert_allclose(stats["decoder_step"][:4], [0, 3, 3, 0], atol=1e-6)
    np.testing.assert_allclose(stats["predictor_from_row0"][[0, 1, 2, 509]], [0, 0, 4, 4], atol=1e-6)
    np.testing.assert_allclose(stats["predictor_step"][:4], [0, 0, 4, 0], atol=1e-6)
    variation = anatomy.row_variation(pack)
    assert variation["predictor_drift"] == pytest.approx(4.0)
    assert variation["predictor_settles_at"] == 3
    assert variation["decoder_drift"] == pytest.approx(0.0)
    assert variation["decoder_step_ratio"] == np.inf  # steps of 3 early, none in the last 100 rows


def test_row_variation_of_jf_alpha():
    v = anatomy.row_variation(load_voice("jf_alpha"))
    assert v["decoder_drift"] == pytest.approx(1.6990, abs=1e-3)
    assert v["predictor_drift"] == pytest.approx(6.4648, abs=1e-3)
    assert (v["decoder_settles_at"], v["predictor_settles_at"]) == (50, 55)
    assert v["decoder_step_ratio"] > 20 and v["predictor_step_ratio"] > 20


def test_markdown_table_formats_values():
    rows = [{"name": "a|b", "n": 1234567, "x": 0.123456, "flag": True, "missing": None}]
    table = anatomy.markdown_table(rows).splitlines()
    assert table[0] == "| name | n | x | flag | missing |"
    assert table[1] == "|---|---|---|---|---|"
    assert table[2] == "| a\\|b | 1,234,567 | 0.1235 | True | — |"
    key_rows = anatomy.markdown_table([anatomy.KeyRow("bert", 25, 6_292_480)], ["group", "parameters"])
    assert key_rows.splitlines()[2] == "| bert | 6,292,480 |"


def test_plots_draw_the_data(kmodel):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, _ = kmodel
    ax = anatomy.plot_parameters(anatomy.parameter_table(model))
    widths = sorted(round(p.get_width(), 2) for p in ax.patches)
    assert widths == [0.39, 5.61, 6.29, 16.19, 53.28]
    pack = load_voice("jf_alpha")
    axes = anatomy.plot_voice_rows(pack, title="jf_alpha")
    assert [len(a.lines) for a in axes] == [2, 2]
    np.testing.assert_allclose(
        axes[1].lines[1].get_ydata(), anatomy.voice_row_stats(pack)["predictor_from_row0"]
    )
    ax = anatomy.plot_style_heatmap(pack)
    assert ax.images[0].get_array().shape == (510, 256)
    plt.close("all")
