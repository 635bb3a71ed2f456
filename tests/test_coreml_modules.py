"""The parity ladder: the CoreML-compatible rewrite against the official kokoro modules."""

import pytest
import torch
from conftest import UTTERANCES, VOICES

from kokoro_lab import load_kmodel
from kokoro_lab.book.padding_study import pad_ids
from kokoro_lab.original.stages import decoder_features, run_stages
from kokoro_lab.quality import log_mel_distance
from kokoro_lab.rewrite.alignment import create_alignment_matrix
from kokoro_lab.rewrite.generator import GeneratorDeterministic, istft_corrected, istft_gain
from kokoro_lab.rewrite.model import InputError, KokoroCompleteCoreML, pad_inputs
from kokoro_lab.rewrite.sine_source import SourceModuleHnNSFDeterministic, no_source_noise

PADDINGS = [0.0, 0.5, 0.9]  # fraction of MAX_TOKENS that is padding


@pytest.fixture(scope="module")
def complex_free():
    """KModel with kokoro's conv-based STFT (disable_complex=True), the one CoreML can take."""
    model, _ = load_kmodel(disable_complex=True)
    return model


def test_alignment_matrix_on_the_seed_example():
    aln, overflow = create_alignment_matrix(torch.tensor([3.0, 2.0, 4.0, 0.0]), max_frames=9)
    expected = torch.tensor(
        [
            [1, 1, 1, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 1, 1, 0, 0, 0, 0],
            [0, 0, 0, 0, 0, 1, 1, 1, 1],
            [0, 0, 0, 0, 0, 0, 0, 0, 0],
        ],
        dtype=torch.float32,
    )
    assert torch.equal(aln[0], expected) and overflow.item() == 0


def test_alignment_overflow_is_reported_not_hidden():
    aln, overflow = create_alignment_matrix(torch.tensor([3.0, 2.0, 4.0, 0.0]), max_frames=7)
    assert overflow.item() == 2
    assert aln.shape == (1, 4, 7) and aln.sum().item() == 7  # every column still assigned once


@pytest.mark.parametrize("fraction", PADDINGS)
@pytest.mark.parametrize("voice", VOICES)
def test_exact_mode_matches_the_unpadded_original(complex_free, utterance, voice, fraction):
    ids, ref_s, _ = utterance(UTTERANCES[0], voice)
    L = ids.shape[1]
    torch.manual_seed(0)
    ref = run_stages(complex_free, ids, ref_s, decode=False)
    F = int(ref.pred_dur.sum())
    input_ids, attention_mask = pad_ids(ids, fraction)
    max_frames = F if fraction == 0 else int(F / (1 - fraction))
    errors = {}
    for mode in ("exact", "v21"):
        km = KokoroCompleteCoreML(complex_free, input_ids.shape[1], max_frames, mode=mode).eval()
        with torch.inference_mode():
            lengths = attention_mask.sum(1)
            d_en = km.bert_encoder(km.bert(input_ids.long(), attention_mask=attention_mask)).transpose(-1, -2)
            t_en = km.text_encoder(input_ids.long(), lengths, attention_mask == 0)
            d = km.predictor_text_encoder(d_en, ref_s[:, 128:], lengths, attention_mask == 0)
            _, pred_dur = km.durations(input_ids, ref_s, attention_mask, torch.tensor([1.0]))
        errors[mode] = (
            (t_en[..., :L] - ref.t_en).abs().max().item(),
            (d[:, :L] - ref.d).abs().max().item(),
            (pred_dur[0, :L].long() - ref.pred_dur).abs().max().item(),
        )
        if mode == "exact":
            assert errors[mode][0] <= 1e-4 and errors[mode][1] <= 1e-4
            assert torch.equal(pred_dur[0, :L].long(), ref.pred_dur), "durations must be identical"
            assert (pred_dur[0, L:] == 0).all()
            # prosody and decoder features on the padded frames, from the same alignment
            frames = torch.tensor([F], dtype=torch.int32)
            aln = torch.zeros(1, input_ids.shape[1], max_frames)
            aln[0, :L, :F] = ref.pred_aln_trg[0]
            with torch.inference_mode():
                F0, N = km.prosody(d.transpose(-1, -2) @ aln, ref_s[:, 128:], frames)
                x = km.decoder_features(t_en @ aln, F0, N, ref_s[:, :128], frames)
                official = decoder_features(complex_free, ref, ref_s)
            assert (F0[0, : 2 * F] - ref.F0_pred[0]).abs().max() <= 1e-3
            assert (N[0, : 2 * F] - ref.N_pred[0]).abs().max() <= 1e-3
            assert (x[..., : 2 * F] - official).abs().max() <= 1e-4
    print(f"{voice} padding {fraction:.0%}: exact {errors['exact']}, v21 {errors['v21']}")
    if fraction > 0:  # the measurement v21 mode exists to show: padding changes the result
        assert errors["v21"][0] > 1e-2


@pytest.mark.parametrize("extra_frames", [0, 40])
def test_generator_matches_official_with_noise_disabled(complex_free, utterance, monkeypatch, extra_frames):
    ids, ref_s, _ = utterance(UTTERANCES[0], "jm_kumo")
    torch.manual_seed(0)
    ref = run_stages(complex_free, ids, ref_s, decode=False)
    x = decoder_features(complex_free, ref, ref_s)  # [1, 512, N]
    N = x.shape[-1]
    gen = complex_free.decoder.generator
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)  # the official source noise, disabled
    with torch.inference_mode():
        official = gen(x, ref_s[:, :128], ref.F0_pred).reshape(-1)
        fixed = GeneratorDeterministic(gen, source="faithful", istft="kokoro").eval()
        xp = torch.nn.functional.pad(x, (0, extra_frames))
        f0p = torch.nn.functional.pad(ref.F0_pred, (0, extra_frames))
        ours = fixed(xp, ref_s[:, :128], f0p, torch.zeros(1, 9), torch.tensor([N])).reshape(-1)
    assert ours.shape[0] == official.shape[0] + 300 * extra_frames
    err = (ours[: official.shape[0]] - official).abs().max().item()
    print(f"generator, {extra_frames} padded frames: max |Δ| = {err:.2e}")
    assert err <= 1e-5
    if extra_frames:
        assert ours[official.shape[0] :].abs().max() <= 1e-6  # nothing leaks into the padding


def test_bad_construction_arguments(complex_free):
    with pytest.raises(ValueError, match="mode"):
        KokoroCompleteCoreML(complex_free, 64, 100, mode="fast")
    with pytest.raises(ValueError, match="max_tokens"):
        KokoroCompleteCoreML(complex_free, 1000, 100)


def test_corrected_inverse_equals_torch_istft(complex_free):
    stft = complex_free.decoder.generator.stft
    g = torch.Generator().manual_seed(0)
    magnitude = torch.rand(1, stft.n_fft // 2 + 1, 300, generator=g)
    phase = (torch.rand(magnitude.shape, generator=g) * 2 - 1) * torch.pi
    window = torch.hann_window(stft.n_fft, periodic=True)
    ours = istft_corrected(stft, magnitude, phase).reshape(-1)
    spec = magnitude * torch.exp(phase * 1j)
    reference = torch.istft(spec, stft.n_fft, stft.hop_length, stft.n_fft, window=window)
    assert (ours - reference.reshape(-1)).abs().max() <= 1e-6


def test_custom_stft_inverse_has_the_reported_tilt(complex_free):
    """kokoro's CustomSTFT.inverse is 0.75× torch.istft in the mid band and louder near DC and Nyquist."""
    freqs = [300, 1200, 3000, 4500, 6000, 8000, 11900]
    gains = istft_gain(complex_free.decoder.generator.stft, freqs)
    print(dict(zip(freqs, [round(g, 4) for g in gains.tolist()], strict=True)))
    mid = gains[2:6]
    assert ((mid - 0.75).abs() <= 0.01).all()
    assert gains[0] > 1.1 and gains[-1] > 1.1


def test_faithful_source_equals_official_and_v21_does_not(complex_free, utterance, monkeypatch):
    ids, ref_s, _ = utterance(UTTERANCES[0], "jm_kumo")
    st = run_stages(complex_free, ids, ref_s, decode=False)
    gen = complex_free.decoder.generator
    monkeypatch.setattr(torch, "randn_like", torch.zeros_like)  # noise off; the random phase stays on
    with torch.inference_mode():
        upsampled = gen.f0_upsamp(st.F0_pred[:, None]).transpose(1, 2)  # [1, 300 N, 1]
        official = []
        for seed in (0, 1):
            torch.manual_seed(seed)  # a different random initial phase each time
            official.append(gen.m_source(upsampled)[0].reshape(-1))
        faithful = SourceModuleHnNSFDeterministic(gen.m_source, "faithful")(st.F0_pred, torch.zeros(1, 9))
        v21 = SourceModuleHnNSFDeterministic(gen.m_source, "v21")(st.F0_pred, torch.zeros(1, 9))
    assert torch.equal(official[0], official[1]), "the random initial phase must not reach the output"
    assert (faithful.reshape(-1) - official[0]).abs().max() <= 1e-6
    v21_mel = log_mel_distance(v21.reshape(-1).numpy(), official[0].numpy())
    print(f"source log-mel L1: faithful 0, v21 {v21_mel:.2f} dB")
    assert v21_mel > 1.0  # the v21 source is a different signal


def official_audio(model, ids, ref_s):
    """Official KModel audio with its source noise disabled (the random phase has no effect)."""
    with no_source_noise(), torch.inference_mode():
        audio, pred_dur = model.forward_with_tokens(ids, ref_s, 1.0)
    return audio.reshape(-1), pred_dur.long()


@pytest.mark.parametrize("fraction", PADDINGS)
@pytest.mark.parametrize("voice", VOICES)
def test_whole_pipeline_matches_official_kmodel(kmodel, complex_free, utterance, voice, fraction):
    """Same durations, same length, and log-mel L1 ≤ 1 dB against the default KModel, at any padding."""
    ids, ref_s, _ = utterance(UTTERANCES[0], voice)
    reference, ref_dur = official_audio(kmodel[0], ids, ref_s)
    input_ids, attention_mask = pad_ids(ids, fraction)
    F = int(ref_dur.sum())
    max_frames = F if fraction == 0 else int(F / (1 - fraction))
    km = KokoroCompleteCoreML(complex_free, input_ids.shape[1], max_frames).eval()
    with torch.inference_mode():
        audio, length, pred_dur, overflow = km(
            input_ids, ref_s, torch.zeros(1, 9), attention_mask, torch.ones(1)
        )
    L = ids.shape[1]
    assert torch.equal(pred_dur[0, :L].long(), ref_dur) and overflow.item() == 0
    assert length.item() == reference.shape[0]
    audio = audio.reshape(-1)
    assert (audio[length.item() :] == 0).all()
    dist = log_mel_distance(audio[: length.item()].numpy(), reference.numpy())
    print(f"{voice} padding {fraction:.0%}: log-mel L1 vs official KModel {dist:.3f} dB")
    assert dist <= 1.0


def test_bit_identical_repeats_and_trace_equals_eager(complex_free, utterance):
    ids, ref_s, _ = utterance(UTTERANCES[1], "jf_alpha")
    F = int(run_stages(complex_free, ids, ref_s, decode=False).pred_dur.sum())
    for fraction in (0.0, 0.5):
        input_ids, attention_mask = pad_ids(ids, fraction)
        max_frames = F if fraction == 0 else int(F / (1 - fraction))
        km = KokoroCompleteCoreML(complex_free, input_ids.shape[1], max_frames).eval()
        inputs = (input_ids, ref_s, torch.zeros(1, 9), attention_mask, torch.ones(1))
        with torch.inference_mode():
            first = km(*inputs)
            second = km(*inputs)
        for a, b in zip(first, second, strict=True):
            assert torch.equal(a, b), "repeated eager runs must be bit-identical"
        with torch.no_grad():
            traced = torch.jit.trace(km, inputs, check_trace=False)
            again = traced(*inputs)
        for a, b in zip(first, again, strict=True):
            assert torch.equal(a, b), f"traced output differs from eager at padding {fraction:.0%}"


@pytest.fixture(scope="module")
def small_model(complex_free):
    return KokoroCompleteCoreML(complex_free, 32, 200).eval()


def good_inputs(tokens=(50, 83, 156, 43)):
    input_ids, attention_mask = pad_inputs(tokens, 32)
    return {
        "input_ids": input_ids,
        "ref_s": torch.zeros(1, 256),
        "random_phases": torch.zeros(1, 9),
        "attention_mask": attention_mask,
        "speed": torch.ones(1),
    }


@pytest.mark.parametrize(
    "change, message",
    [
        ({"input_ids": torch.zeros(1, 40, dtype=torch.int32)}, r"shape \[1, 32\]"),
        ({"attention_mask": torch.ones(1, 32, dtype=torch.int32)}, "disagrees with the ids"),
        ({"attention_mask": torch.tensor([[1, 0, 1] + [0] * 29], dtype=torch.int32)}, "first tokens"),
        ({"ref_s": torch.zeros(1, 128)}, r"ref_s must have shape \[1, 256\]"),
        ({"ref_s": torch.full((1, 256), float("nan"))}, "NaN"),
        ({"speed": torch.zeros(1)}, "speed must be"),
        ({"speed": torch.tensor([-1.0])}, "speed must be"),
    ],
)
def test_bad_inputs_get_clear_errors(small_model, change, message):
    inputs = {**good_inputs(), **change}
    with pytest.raises(InputError, match=message):
        small_model(**inputs)


def test_too_many_tokens_for_the_bucket():
    with pytest.raises(InputError, match="do not fit MAX_TOKENS = 32; use a larger bucket"):
        pad_inputs(range(1, 40), 32)
    with pytest.raises(InputError, match="no phonemes"):
        pad_inputs([], 32)
