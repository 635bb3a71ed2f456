"""Float16 emulation, the float32 islands in PyTorch, torch-side weight compression, and the
macOS-only prediction entry point."""

import sys

import numpy as np
import pytest
import torch

import kokoro_lab as kl
from kokoro_lab.coreml.fp16_emulation import audio_health, emulate_fp16, fp16_phase_error, fp32_island
from kokoro_lab.coreml.weight_compression import (
    compress_tensor,
    compressed_megabytes,
    compressed_weights,
    palettize,
    quantize_int8,
)
from kokoro_lab.original.voices import style_for
from kokoro_lab.quality import aligned_log_mel_distance
from kokoro_lab.rewrite.masking import masked_instance_norm
from kokoro_lab.rewrite.model import KokoroCompleteCoreML, pad_inputs

# --- float16 emulation ------------------------------------------------------------------------


def test_emulation_rounds_results_to_float16():
    x = torch.tensor([1.0, 70_000.0, 2049.0])
    with emulate_fp16("naive"):
        y = x * 1.0
        small = torch.tensor([1.0]) + 1e-4  # below half a float16 step at 1 (2⁻¹¹)
    assert y[0] == 1.0 and torch.isinf(y[1]) and y[2] == 2048.0
    assert small.item() == 1.0
    assert (x * 1.0)[1] == 70_000.0  # nothing is rounded outside the block


def test_mixed_plan_skips_islands_and_naive_does_not():
    x = torch.tensor([70_000.0])
    with emulate_fp16("mixed"):
        with fp32_island("phase"):
            kept = x * 1.0
        rounded = x * 1.0
    with emulate_fp16("naive"), fp32_island("phase"):
        naive = x * 1.0
    assert kept.item() == 70_000.0 and torch.isinf(rounded).all() and torch.isinf(naive).all()


def test_unknown_island_and_plan_are_refused():
    with pytest.raises(ValueError, match="Unknown island 'phaze'"):
        with fp32_island("phaze"):
            pass
    with pytest.raises(ValueError, match="'naive'.*'mixed'"):
        with emulate_fp16("half"):
            pass


def test_masked_instance_norm_survives_float16_over_long_sequences():
    torch.manual_seed(0)
    x = 8.0 + torch.randn(1, 3, 12_000)  # a plain sum over T would be ~96,000 > 65,504
    mask = torch.ones(1, 1, 12_000)
    mask[..., 10_000:] = 0
    norm = torch.nn.InstanceNorm1d(3)
    expected = norm(x[..., :10_000])
    with emulate_fp16("naive"):
        y = masked_instance_norm(norm, x, mask)
    assert torch.isfinite(y).all()
    assert (y[..., :10_000] - expected).abs().max() < 0.05  # float16 rounding of values near ±4


def test_float16_phase_goes_wrong_then_overflows():
    t, err = fp16_phase_error(1350.0, 16.0)  # the 9th harmonic of 150 Hz
    assert np.nanmax(err[t < 0.001]) < 0.005  # fine while the phase is small (< 8.5 rad)
    assert np.nanmax(err[(t > 0.05) & (t < 0.1)]) > 0.1
    first_nan = t[np.argmax(np.isnan(err))]
    assert abs(first_nan - 65_504 / (2 * np.pi * 1350)) < 0.01  # overflow at float16's maximum


def test_audio_health_counts_bad_samples():
    h = audio_health(np.array([0.0, np.nan, 1.0, np.inf, np.nan]), sample_rate=1)
    assert (h.nan, h.inf, h.samples, h.first_bad_second) == (2, 1, 5, 1.0)
    assert h.bad_fraction == pytest.approx(0.6)


@pytest.fixture(scope="module")
def tiny_run():
    """A small fixed-shape module (16 tokens, 2 s), a short sentence, and its float32 audio."""
    model, _ = kl.load_kmodel(disable_complex=True)
    tokens = kl.tokenize(kl.phonemize("Hello there."))
    ref_s = style_for(kl.load_voice("jf_alpha"), len(tokens))
    input_ids, mask = pad_inputs(tokens, 16)
    module = KokoroCompleteCoreML(model, 16, 80).eval()
    inputs = (input_ids, ref_s, torch.zeros(1, 9), mask, torch.ones(1))

    def speak():
        with torch.inference_mode():
            audio, length, pred_dur, _ = module(*inputs)
        return audio.reshape(-1)[: int(length)].numpy(), pred_dur

    return model, speak, speak()


def test_mixed_plan_is_closer_to_fp32_than_naive(tiny_run):
    _, speak, (reference, dur32) = tiny_run
    distances = {}
    for plan in ("naive", "mixed"):
        with emulate_fp16(plan):
            audio, dur = speak()
        assert audio_health(audio).bad_fraction == 0 or plan == "naive"
        distances[plan] = aligned_log_mel_distance(reference, np.nan_to_num(audio))
        if plan == "mixed":
            assert (dur - dur32).abs().max() <= 1  # float16 may round a duration the other way
    assert distances["mixed"] < 1.5
    assert distances["naive"] > 2 * distances["mixed"]


# --- weight compression in torch ---------------------------------------------------------------


def test_int8_per_channel_by_hand():
    w = torch.tensor([[1.0, -0.5, 0.25], [0.0, 2.0, -2.0]])
    q = quantize_int8(w)
    # row 0: scale 1/127; 0.5·127 = 63.5 rounds to 64 (half to even), 0.25·127 = 31.75 → 32
    assert torch.allclose(q[0], torch.tensor([1.0, -64 / 127, 32 / 127]))
    assert torch.allclose(q[1], torch.tensor([0.0, 2.0, -2.0]))  # row 1: scale 2/127, all exact


def test_palettize_keeps_at_most_2_to_the_bits_values():
    w = torch.tensor([0.0, 0.1, 0.2, 10.0, 10.2, 10.1])
    q = palettize(w, 1)  # two centroids, the means of the two groups: 0.1 and 10.1 (in float16)
    assert torch.allclose(q[:3], torch.full((3,), 0.1), atol=1e-3)
    assert torch.allclose(q[3:], torch.full((3,), 10.1), atol=1e-2)
    big = torch.randn(4096)
    assert palettize(big, 4).unique().numel() <= 16
    assert (palettize(big, 6) - big).abs().mean() < (palettize(big, 4) - big).abs().mean()


def test_compressed_weights_apply_to_weight_norm_and_restore():
    torch.manual_seed(0)
    conv = torch.nn.utils.weight_norm(torch.nn.Conv1d(4, 64, 9))  # 2,304 weights ≥ the threshold
    with torch.no_grad():
        conv.weight_g[3].zero_()  # a dead channel (g = 0), as the checkpoint has some
    net = torch.nn.Sequential(conv, torch.nn.Linear(64, 64))  # 4,096 weights
    x = torch.randn(1, 4, 20)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    effective = torch._weight_norm(conv.weight_v, conv.weight_g, 0).detach()
    with compressed_weights(net, "int8") as report:
        inside = torch._weight_norm(conv.weight_v, conv.weight_g, 0)
        y = net[0](x)
        assert {r.name for r in report} == {"0.weight", "1.weight"}
        assert torch.isfinite(inside).all() and torch.isfinite(y).all()
        assert torch.allclose(inside, compress_tensor(effective, "int8"), atol=1e-6)
        # coremltools quantizes the float16 weight: quantize_int8 of it, within float16 rounding
        assert torch.allclose(net[1].weight, compress_tensor(before["1.weight"], "int8"))
        assert torch.allclose(net[1].weight, quantize_int8(before["1.weight"]), atol=2e-3)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_unknown_compression_is_refused():
    with pytest.raises(ValueError, match="int8.*palettize6.*palettize4"):
        with compressed_weights(torch.nn.Linear(64, 64), "int3"):
            pass


def test_compressed_sizes_shrink_with_the_bits(tiny_run):
    model = tiny_run[0]
    sizes = [compressed_megabytes(model, m) for m in (None, "int8", "palettize6", "palettize4")]
    assert sizes == sorted(sizes, reverse=True)
    params = sum(p.numel() for p in model.parameters())
    assert sizes[0] == pytest.approx(2 * params / 1e6)  # fp16: two bytes a weight


def test_int8_weights_change_the_audio_little(tiny_run):
    model, speak, (reference, _) = tiny_run
    with compressed_weights(model, "int8"):
        audio, _ = speak()
    restored, _ = speak()
    assert np.isfinite(audio).all() and aligned_log_mel_distance(reference, audio) < 2.5
    assert np.array_equal(restored, reference)  # the weights came back exactly


# --- prediction ---------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "darwin", reason="on macOS predict runs instead of refusing")
def test_predict_says_it_needs_macos(tmp_path):
    from kokoro_lab.coreml.predict import PredictionUnavailable, predict

    with pytest.raises(PredictionUnavailable, match="only supported on macOS"):
        predict(tmp_path / "missing.mlpackage", [50, 83], torch.zeros(1, 256))


def test_aligned_distance_ignores_a_time_shift():
    t = np.arange(24_000) / 24_000
    a = np.sin(2 * np.pi * 200 * t) * (t < 0.5)  # 0.5 s of tone, then silence
    b = np.concatenate([np.zeros(600), a])[:24_000]  # the same, one frame later
    assert aligned_log_mel_distance(a, a) == 0.0
    assert aligned_log_mel_distance(a, b) < 0.5  # the plain distance is several dB here
