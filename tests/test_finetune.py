"""Fine-tuning: losses on hand-made tensors, the data format, pyin F0, and training mechanics on Kokoro."""

import math

import numpy as np
import pytest
import torch

from kokoro_lab import phonemize, tokenize
from kokoro_lab.finetune import (
    FinetuneConfig,
    FinetuneDataset,
    FinetuneItem,
    InvalidItemError,
    KokoroForTraining,
    UnknownModuleError,
    cap_durations,
    collate,
    duration_loss,
    f0_from_audio,
    f0_loss,
    finetune,
    finetune_loss,
    freeze,
    load_checkpoint,
    log_mel_l1,
    multi_resolution_stft_loss,
    save_checkpoint,
    trainable_copy,
)
from kokoro_lab.finetune.checkpoint import read_checkpoint
from kokoro_lab.finetune.model import trainable_parameters
from kokoro_lab.finetune.training import step_segments
from kokoro_lab.rewrite.sine_source import no_source_noise
from kokoro_lab.torch_files import CorruptFileError

SR, HOP = 24_000, 600
# Everything but the predictor's heads and the decoder's last blocks stays frozen in the
# mechanics tests, so a step is cheap; the gradient still flows through the whole generator.
TEST_FREEZE = (
    "bert",
    "bert_encoder",
    "text_encoder",
    "predictor.text_encoder",
    "predictor.lstm",
    "predictor.shared",
    "decoder.encode",
    "decoder.decode.0",
    "decoder.decode.1",
    "decoder.decode.2",
    "decoder.generator",
)


def make_item(
    text: str, frames_per_token: int = 2, f0_hz: float = 120.0, name: str | None = None
) -> FinetuneItem:
    """A consistent item without synthesis: fixed durations, a constant F0 and a sine of that pitch."""
    ids = torch.tensor([0, *tokenize(phonemize(text)), 0])
    dur = torch.full_like(ids, frames_per_token)
    n = int(dur.sum())
    t = torch.arange(n * HOP) / SR
    return FinetuneItem(
        name=name or text,
        input_ids=ids,
        speaker_embedding=torch.linspace(-0.2, 0.2, 256),
        gt_duration=dur,
        gt_f0=torch.full((n,), f0_hz),
        gt_audio=0.3 * torch.sin(2 * math.pi * f0_hz * t),
    )


@pytest.fixture(scope="module")
def items():
    return [make_item("Hi there.", 2), make_item("Go.", 3, 150.0)]


# --- losses on hand-made tensors -------------------------------------------------------------


def test_duration_loss_by_hand():
    pred = torch.tensor([[1.0, 2.0, 3.0], [4.0, 7.0, 9.0]])
    gt = torch.tensor([[2, 2, 1], [3, 0, 0]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    # real squared errors: (1-2)², (2-2)², (3-1)², (4-3)² = 1, 0, 4, 1 → mean over 4 tokens
    assert duration_loss(pred, gt, mask).item() == pytest.approx((1 + 0 + 4 + 1) / 4)
    pred_padded_changed = pred.clone()
    pred_padded_changed[1, 1:] = 1000.0
    assert duration_loss(pred_padded_changed, gt, mask).item() == pytest.approx(1.5)


def test_f0_loss_counts_voiced_frames_only():
    f0 = torch.tensor([[100.0, 200.0, 0.0], [150.0, 150.0, 150.0]])
    gt = torch.tensor([[110.0, 0.0, 0.0], [120.0, 150.0, 0.0]])
    voiced = gt > 0  # unvoiced target frames (and padding) carry 0 Hz
    # voiced frames: (100-110)² = 100, (150-120)² = 900, (150-150)² = 0
    assert f0_loss(f0, gt, voiced).item() == pytest.approx((100 + 900 + 0) / 3)
    assert f0_loss(f0, gt, torch.zeros_like(voiced)).item() == 0.0  # nothing voiced: 0, not NaN


def test_reconstruction_losses_by_hand():
    x = (
        torch.randn(2, 9600, generator=torch.Generator().manual_seed(0)) * 0.1
    )  # [B, T] noise: every bin has energy
    assert log_mel_l1(x, x).item() == pytest.approx(0.0, abs=1e-6)
    # doubling the audio doubles every magnitude: log-mel differs by log 2 in every bin
    assert log_mel_l1(2 * x, x).item() == pytest.approx(math.log(2), rel=1e-4)
    # per resolution: spectral convergence ‖|X| - 2|X|‖ / ‖|X|‖ = 1, log-magnitude L1 = log 2
    assert multi_resolution_stft_loss(2 * x, x).item() == pytest.approx(1 + math.log(2), rel=1e-4)
    assert multi_resolution_stft_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)


# --- data format -----------------------------------------------------------------------------


def test_f0_from_audio_on_a_sine():
    freq = 220.0
    t = np.arange(SR) / SR  # 1 s = 40 frames
    f0 = f0_from_audio(0.5 * np.sin(2 * np.pi * freq * t)).numpy()
    assert f0.shape == (40,)
    voiced = f0 > 0
    assert voiced.sum() >= 30
    assert f0[0] == 0 and f0[-1] == 0  # their windows run past the ends of the audio
    assert np.all(np.abs(f0[voiced] - freq) / freq < 0.01)
    assert not f0_from_audio(np.zeros(SR)).any()  # silence is unvoiced everywhere


def test_collate_pads_and_masks(items):
    a, b = items
    batch = collate([a, b])
    La, Lb, Fa, Fb = a.input_ids.numel(), b.input_ids.numel(), a.n_frames, b.n_frames
    L, F = max(La, Lb), max(Fa, Fb)
    assert batch.input_ids.shape == (2, L) and batch.gt_f0.shape == (2, F)
    assert batch.gt_audio.shape == (2, F * HOP) and batch.ref_s.shape == (2, 256)
    assert batch.token_mask.sum(1).tolist() == [La, Lb]
    assert batch.frame_mask.sum(1).tolist() == [Fa, Fb] == batch.frame_lengths.tolist()
    assert torch.equal(batch.voiced, batch.frame_mask)  # both targets are voiced throughout
    shorter = 0 if Fa < Fb else 1
    assert not batch.gt_f0[shorter, batch.frame_lengths[shorter] :].any()  # zero padding


def test_validation_names_item_and_field(items):
    good = items[0]
    bad = FinetuneItem(**{**good.__dict__, "gt_f0": good.gt_f0[:-1]})
    with pytest.raises(InvalidItemError, match=r"Item 'Hi there\.', field 'gt_f0'.*sums to"):
        FinetuneDataset([good, bad])
    no_boundary = {"input_ids": good.input_ids[1:].clone(), "gt_duration": good.gt_duration[1:].clone()}
    with pytest.raises(InvalidItemError, match="field 'input_ids'.*boundary"):
        FinetuneDataset([FinetuneItem(**{**good.__dict__, **no_boundary})])
    too_long = good.gt_duration.clone()
    too_long[1] = 51
    with pytest.raises(InvalidItemError, match="field 'gt_duration'.*cap_durations"):
        FinetuneDataset([FinetuneItem(**{**good.__dict__, "gt_duration": too_long})])
    with pytest.raises(InvalidItemError, match="field 'gt_audio'"):
        FinetuneDataset([FinetuneItem(**{**good.__dict__, "gt_audio": good.gt_audio[:-5]})])


def test_cap_durations_cuts_the_surplus_frames():
    dur = torch.tensor([3, 55, 2])
    frame_of_sample = torch.arange(60 * HOP) // HOP  # each sample labelled with its frame
    capped, audio = cap_durations(dur, frame_of_sample.float(), max_dur=50)
    assert capped.tolist() == [3, 50, 2]
    assert audio.numel() == 55 * HOP
    kept = audio.reshape(55, HOP)[:, 0].long().tolist()
    assert kept == list(range(53)) + [58, 59]  # frames 53..57 (the token's last 5) are gone


# --- training mechanics on the real model ----------------------------------------------------


@pytest.fixture(scope="module")
def base(kmodel):
    return kmodel[0]


def fixed_loss(model, batch, config, step=0):
    """The training loss of ``batch`` with every random draw fixed (eval mode, no source noise)."""
    with torch.random.fork_rng(devices=[]), no_source_noise():
        torch.manual_seed(0)
        starts, S = step_segments(batch, config, step)
        return finetune_loss(KokoroForTraining(model)(batch, starts, S), batch, config)


def test_padding_never_contributes(base, items):
    config = FinetuneConfig(segment_frames=4)
    batch = collate(items)
    with torch.no_grad():
        reference = fixed_loss(base, batch, config)
        changed = batch._replace(
            input_ids=batch.input_ids.masked_fill(~batch.token_mask, 77),
            gt_duration=batch.gt_duration.masked_fill(~batch.token_mask, 9),
            gt_f0=batch.gt_f0.masked_fill(~batch.frame_mask, 500.0),
            gt_audio=batch.gt_audio.masked_fill(~batch.frame_mask.repeat_interleave(HOP, 1), 0.9),
        )
        assert (changed.input_ids != batch.input_ids).any() and (changed.gt_f0 != batch.gt_f0).any()
        again = fixed_loss(base, changed, config)
        for key, value in reference.items():
            assert again[key].item() == value.item(), key
        # the shorter utterance gets the same predictions alone as inside the padded batch
        out_b = KokoroForTraining(base)(batch)
        out_1 = KokoroForTraining(base)(collate([items[1]]))
    L, F = items[1].input_ids.numel(), items[1].n_frames
    torch.testing.assert_close(out_b.duration[1, :L], out_1.duration[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out_b.F0_pred[1, : 2 * F], out_1.F0_pred[0], atol=1e-3, rtol=1e-4)


def test_one_step_reduces_the_loss(base, items):
    model = trainable_copy(base)
    freeze(model, TEST_FREEZE)
    config = FinetuneConfig(segment_frames=4)
    batch = collate(items)
    before = fixed_loss(model, batch, config)
    params = list(trainable_parameters(model).values())
    optimizer = torch.optim.Adam(params, lr=1e-4)
    optimizer.zero_grad()
    before["loss"].backward()
    assert all(p.grad is not None for p in params)  # gradients reach every trainable tensor
    optimizer.step()
    after = fixed_loss(model, batch, config)
    print(f"loss {before['loss'].item():.4f} → {after['loss'].item():.4f}")
    assert after["loss"].item() < before["loss"].item()


def test_seeded_runs_are_bit_identical_and_resume_exactly(base, items, tmp_path):
    config = FinetuneConfig(steps=2, batch_size=2, lr=1e-4, segment_frames=4, freeze=TEST_FREEZE, seed=3)
    dataset = FinetuneDataset(items)
    runs = []
    for _ in range(2):
        model = trainable_copy(base)
        runs.append((finetune(model, dataset, config, progress=False), trainable_parameters(model)))
    (h1, p1), (h2, p2) = runs
    assert h1["loss"] == h2["loss"] and len(h1["loss"]) == 2
    assert all(torch.equal(p1[k], p2[k]) for k in p1)
    assert any(not torch.equal(p1[k], v) for k, v in trainable_parameters(base).items() if k in p1)

    path = tmp_path / "ft.pt"
    half = FinetuneConfig(**{**config.__dict__, "steps": 1})
    finetune(trainable_copy(base), dataset, half, checkpoint_path=path, progress=False)
    resumed_model = trainable_copy(base)
    h3 = finetune(resumed_model, dataset, config, checkpoint_path=path, resume=True, progress=False)
    assert h3["loss"] == h1["loss"]
    p3 = trainable_parameters(resumed_model)
    assert all(torch.equal(p1[k], p3[k]) for k in p1)


def test_checkpoint_round_trip(base, tmp_path):
    model = trainable_copy(base)
    freeze(model, TEST_FREEZE)
    params = trainable_parameters(model)
    with torch.no_grad():
        for p in params.values():
            p.add_(0.01)
    saved = {k: v.detach().clone() for k, v in params.items()}
    path = save_checkpoint(tmp_path / "ckpt.pt", model, training={"step": 7})
    assert set(read_checkpoint(path)["trained"]) == set(saved)  # only trained tensors are stored

    other = trainable_copy(base)
    freeze(other, TEST_FREEZE)
    assert load_checkpoint(path, other) == {"step": 7}
    assert all(torch.equal(trainable_parameters(other)[k], v) for k, v in saved.items())

    wrong = trainable_copy(base)
    freeze(wrong, ("bert",))
    with pytest.raises(ValueError, match="Freeze the same modules"):
        load_checkpoint(path, wrong)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorruptFileError, match="damaged.pt"):
        load_checkpoint(damaged, other)


def test_freeze_rejects_unknown_modules(base):
    with pytest.raises(UnknownModuleError, match="'albert'.*bert"):
        freeze(trainable_copy(base), ["albert"])
