"""The parity ladder: the CoreML-compatible rewrite against the official kokoro modules."""

import pytest
import torch
from conftest import UTTERANCES, VOICES

from kokoro_lab import load_kmodel
from kokoro_lab.alignment import create_alignment_matrix
from kokoro_lab.coreml_model import KokoroCompleteCoreML
from kokoro_lab.generator import GeneratorDeterministic
from kokoro_lab.stages import run_stages

PADDINGS = [0.0, 0.5, 0.9]  # fraction of MAX_TOKENS that is padding


@pytest.fixture(scope="module")
def complex_free():
    """KModel with kokoro's conv-based STFT (disable_complex=True), the one CoreML can take."""
    model, _ = load_kmodel(disable_complex=True)
    return model


def padded(ids: torch.Tensor, fraction: float):
    L = ids.shape[1]
    T = L if fraction == 0 else int(round(L / (1 - fraction)))
    input_ids = torch.zeros(1, T, dtype=torch.int32)
    input_ids[0, :L] = ids[0]
    attention_mask = (torch.arange(T) < L).to(torch.int32).unsqueeze(0)
    return input_ids, attention_mask


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
    input_ids, attention_mask = padded(ids, fraction)
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
                official = official_decoder_features(complex_free, ref, ref_s)
            assert (F0[0, : 2 * F] - ref.F0_pred[0]).abs().max() <= 1e-3
            assert (N[0, : 2 * F] - ref.N_pred[0]).abs().max() <= 1e-3
            assert (x[..., : 2 * F] - official).abs().max() <= 1e-4
    print(f"{voice} padding {fraction:.0%}: exact {errors['exact']}, v21 {errors['v21']}")
    if fraction > 0:  # the measurement v21 mode exists to show: padding changes the result
        assert errors["v21"][0] > 1e-2


def official_decoder_features(model, ref, ref_s):
    dec, s = model.decoder, ref_s[:, :128]
    with torch.inference_mode():
        F0 = dec.F0_conv(ref.F0_pred.unsqueeze(1))
        N = dec.N_conv(ref.N_pred.unsqueeze(1))
        x = dec.encode(torch.cat([ref.asr, F0, N], dim=1), s)
        asr_res = dec.asr_res(ref.asr)
        res = True
        for block in dec.decode:
            if res:
                x = torch.cat([x, asr_res, F0, N], dim=1)
            x = block(x, s)
            res = res and block.upsample_type == "none"
    return x


@pytest.mark.parametrize("extra_frames", [0, 40])
def test_generator_matches_official_with_noise_disabled(complex_free, utterance, monkeypatch, extra_frames):
    ids, ref_s, _ = utterance(UTTERANCES[0], "jm_kumo")
    torch.manual_seed(0)
    ref = run_stages(complex_free, ids, ref_s, decode=False)
    x = official_decoder_features(complex_free, ref, ref_s)  # [1, 512, N]
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
