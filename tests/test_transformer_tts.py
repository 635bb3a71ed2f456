"""The educational Transformer TTS: shapes, masks, length regulator, checkpoints, training, corpus."""

import math

import numpy as np
import pytest
import torch

from kokoro_lab.atomic import OutputExistsError
from kokoro_lab.transformer_tts import (
    CorruptFileError,
    TransformerTTS,
    TransformerTTSConfig,
    TTSDataset,
    build_corpus,
    collate,
    evaluate,
    kokoro_vocab_size,
    length_regulate,
    load_checkpoint,
    load_corpus,
    load_model,
    log_mel,
    save_checkpoint,
    save_corpus,
    synthetic_corpus,
    train,
    tts_loss,
)
from kokoro_lab.transformer_tts.layers import TransformerStack, segment_bounds
from kokoro_lab.transformer_tts.positional_encoding import SinusoidalPositionalEncoding
from kokoro_lab.transformer_tts.sentences import SENTENCES

torch.set_num_threads(1)
VOCAB = 40


def tiny_config(**overrides) -> TransformerTTSConfig:
    fields = dict(
        vocab_size=VOCAB,
        hidden=32,
        n_encoder_layers=2,
        n_decoder_layers=2,
        n_heads=2,
        ff_dim=64,
        duration_hidden=32,
        prenet_dim=32,
    )
    return TransformerTTSConfig(**(fields | overrides))


def tiny_model(seed: int = 0, **overrides) -> TransformerTTS:
    torch.manual_seed(seed)
    return TransformerTTS(tiny_config(**overrides))


@pytest.fixture(scope="module")
def dataset():
    return TTSDataset(synthetic_corpus(12, vocab_size=VOCAB, seed=1))


@pytest.fixture(scope="module")
def batch(dataset):
    return collate([dataset[i] for i in range(3)])


def same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# -- shapes ---------------------------------------------------------------------------------------


def test_forward_shapes(batch):
    model = tiny_model().eval()
    out = model(batch.tokens, batch.token_lengths, batch.mels, batch.durations, batch.mel_lengths)
    B, L = batch.tokens.shape
    T = batch.mels.shape[1]
    assert out.mel_pred.shape == (B, T, 80)
    assert out.log_dur_pred.shape == (B, L)
    assert out.stop_logits.shape == (B, T)
    assert torch.equal(out.mel_lengths, batch.durations.sum(1))
    assert T == int(batch.mel_lengths.max())


def test_inference_shapes_and_stop_semantics(batch):
    model = tiny_model().eval()
    never = model.inference(batch.tokens, batch.token_lengths, stop_threshold=2.0)  # sigmoid ≤ 1: never fires
    assert never.durations.shape == batch.tokens.shape
    assert torch.equal(never.mel_lengths, never.durations.sum(1))  # ran to the end of the text
    assert never.mel.shape == (3, int(never.mel_lengths.max()), 80)
    assert not never.stopped.any()
    assert (never.durations[batch.token_lengths[:, None] > torch.arange(batch.tokens.shape[1])] >= 1).all()
    for b, n in enumerate(never.mel_lengths.tolist()):
        assert (never.mel[b, n:] == 0).all()  # padding after each item's end
    always = model.inference(batch.tokens, batch.token_lengths, stop_threshold=-1.0)  # fires at once
    assert always.stopped.all() and always.mel_lengths.tolist() == [1, 1, 1] and always.mel.shape[1] == 1
    capped = model.inference(batch.tokens, batch.token_lengths, max_frames=4, stop_threshold=2.0)
    assert capped.mel.shape == (3, 4, 80) and capped.mel_lengths.tolist() == [4, 4, 4]
    assert not capped.stopped.any()


def test_inference_matches_teacher_forcing_on_its_own_output(batch):
    """The causal decoder fed its own frames reproduces them: inference == forward on the same mels."""
    model = tiny_model().eval()
    gen = model.inference(batch.tokens[:1], batch.token_lengths[:1], stop_threshold=2.0)
    out = model(batch.tokens[:1], batch.token_lengths[:1], gen.mel, gen.durations)
    torch.testing.assert_close(out.mel_pred, gen.mel, rtol=1e-5, atol=1e-5)


# -- masks and the length regulator ---------------------------------------------------------------


def test_decoder_is_causal(batch):
    model = tiny_model().eval()
    tokens, durations = (
        batch.tokens[:1, : batch.token_lengths[0]],
        batch.durations[:1, : batch.token_lengths[0]],
    )
    mels = batch.mels[:1, : batch.mel_lengths[0]].clone()
    k = mels.shape[1] // 2
    changed = mels.clone()
    changed[:, k] += 3.0  # frame k is the decoder's input at step k + 1 (teacher forcing shifts by one)
    a = model(tokens, None, mels, durations)
    b = model(tokens, None, changed, durations)
    assert torch.equal(a.mel_pred[:, : k + 1], b.mel_pred[:, : k + 1])
    assert torch.equal(a.stop_logits[:, : k + 1], b.stop_logits[:, : k + 1])
    assert not torch.allclose(a.mel_pred[:, k + 1], b.mel_pred[:, k + 1])
    assert not torch.allclose(a.mel_pred[:, -1], b.mel_pred[:, -1])


def test_causal_stack_never_looks_ahead_but_encoder_stack_does():
    torch.manual_seed(0)
    x = torch.randn(1, 9, 16)
    y = x.clone()
    # A random change, not a constant: the blocks' LayerNorms would remove a shift of every channel.
    y[:, 5] += torch.randn(16)
    causal = TransformerStack(2, 16, 2, 32, dropout=0.0, causal=True).eval()
    full = TransformerStack(2, 16, 2, 32, dropout=0.0, causal=False).eval()
    assert torch.equal(causal(x)[:, :5], causal(y)[:, :5])
    assert ((causal(x) - causal(y))[:, 5:].abs().amax(-1) > 1e-3).all()  # every later step sees it
    assert ((full(x) - full(y))[:, :5].abs().amax(-1) > 1e-3).all()  # the encoder looks both ways


def test_encoder_ignores_padding(batch):
    """Whatever sits in padded token positions does not change the real tokens' outputs."""
    model = tiny_model().eval()
    tokens = batch.tokens.clone()
    short = int(batch.token_lengths.argmin())
    n = int(batch.token_lengths[short])
    assert n < tokens.shape[1]
    other = tokens.clone()
    other[short, n:] = 7
    a, _ = model.encode(tokens, batch.token_lengths)
    b, _ = model.encode(other, batch.token_lengths)
    torch.testing.assert_close(a[short, :n], b[short, :n], rtol=0, atol=1e-6)


def test_length_regulator_by_hand():
    x = torch.tensor([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], [[4.0, 40.0], [5.0, 50.0], [6.0, 60.0]]])
    durations = torch.tensor([[2, 0, 3], [1, 1, 0]])
    y, lengths = length_regulate(x, durations)
    assert lengths.tolist() == [5, 2]
    expected = torch.tensor(
        [
            [[1, 10], [1, 10], [3, 30], [3, 30], [3, 30]],
            [[4, 40], [5, 50], [0, 0], [0, 0], [0, 0]],  # zero padding after the end
        ],
        dtype=torch.float32,
    )
    assert torch.equal(y, expected)
    cropped, cropped_lengths = length_regulate(x, durations, max_len=3)
    assert torch.equal(cropped, expected[:, :3]) and cropped_lengths.tolist() == [3, 2]
    padded, _ = length_regulate(x, durations, max_len=7)
    assert padded.shape == (2, 7, 2) and torch.equal(padded[:, :5], expected) and (padded[:, 5:] == 0).all()


def test_length_regulator_rejects_bad_durations():
    x = torch.zeros(1, 3, 2)
    with pytest.raises(ValueError, match="≥ 0"):
        length_regulate(x, torch.tensor([[1, -1, 2]]))
    with pytest.raises(ValueError, match="integer"):
        length_regulate(x, torch.tensor([[1.5, 1.0, 2.0]]))
    with pytest.raises(ValueError, match="one duration per token"):
        length_regulate(x, torch.tensor([[1, 2]]))


def test_positional_encoding_table_and_limit():
    pe = SinusoidalPositionalEncoding(8, dropout=0.0, max_len=50)
    out = pe(torch.zeros(1, 3, 8))
    assert torch.equal(out[0, 0], torch.tensor([0.0, 1.0] * 4))  # sin(0), cos(0)
    assert math.isclose(float(out[0, 1, 0]), math.sin(1.0), rel_tol=1e-6)
    assert math.isclose(float(out[0, 2, 2]), math.sin(2.0 / 10000 ** (2 / 8)), rel_tol=1e-6)
    assert "table" not in pe.state_dict() and not list(pe.parameters())  # fixed, not learned or saved
    with pytest.raises(ValueError, match="max_len"):
        pe(torch.zeros(1, 51, 8))


# -- bad input ------------------------------------------------------------------------------------


def test_token_ids_outside_the_vocabulary_are_rejected(batch):
    model = tiny_model().eval()
    for bad in (VOCAB, -1):
        tokens = batch.tokens.clone()
        tokens[0, 1] = bad
        with pytest.raises(ValueError, match=r"outside the vocabulary \[0, 40\)"):
            model(tokens, batch.token_lengths, batch.mels, batch.durations)
        with pytest.raises(ValueError, match="kokoro_lab.original.text.tokenize"):
            model.inference(tokens, batch.token_lengths)
    tokens = batch.tokens.clone()
    tokens[1, 0] = 200
    with pytest.raises(ValueError, match="vocab_size=201"):
        model(tokens, batch.token_lengths, batch.mels, batch.durations)


def test_durations_that_do_not_sum_to_the_mel_length_are_rejected(batch):
    model = tiny_model().eval()
    durations = batch.durations.clone()
    durations[0, 1] += 1
    with pytest.raises(ValueError, match="Durations sum to .* crop the mels"):
        model(batch.tokens, batch.token_lengths, batch.mels, durations, batch.mel_lengths)
    with pytest.raises(ValueError, match="Durations sum to"):  # unpadded: the longest must fill the mels
        model(batch.tokens[:1], None, batch.mels[:1, :-1], batch.durations[:1])
    durations = batch.durations.clone()
    short = int(batch.token_lengths.argmin())
    durations[short, -1] = 2  # a padded token with frames
    with pytest.raises(ValueError, match="Padded token positions"):
        model(batch.tokens, batch.token_lengths, batch.mels, durations)


def test_config_validation():
    with pytest.raises(ValueError, match="divisible by n_heads"):
        tiny_config(hidden=30, n_heads=4)
    with pytest.raises(ValueError, match="dropout"):
        tiny_config(dropout=1.0)


# -- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path, batch):
    model = tiny_model(seed=3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = tts_loss(model(batch.tokens, batch.token_lengths, batch.mels, batch.durations), batch)["loss"]
    loss.backward()
    optimizer.step()
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, optimizer, {"step": 1, "note": "x"})

    other = tiny_model(seed=4)
    other_opt = torch.optim.Adam(other.parameters(), lr=1e-3)
    assert not same_state(model, other)
    training = load_checkpoint(path, other, other_opt)
    assert training == {"step": 1, "note": "x"}
    assert same_state(model, other)
    s1, s2 = optimizer.state_dict()["state"], other_opt.state_dict()["state"]
    assert all(torch.equal(s1[i]["exp_avg"], s2[i]["exp_avg"]) for i in s1)
    rebuilt = load_model(path)
    assert rebuilt.config == model.config and not rebuilt.training
    model.eval()
    a = model(batch.tokens, batch.token_lengths, batch.mels, batch.durations)
    b = rebuilt(batch.tokens, batch.token_lengths, batch.mels, batch.durations)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # Only runtime settings differ: still loads.
    load_checkpoint(path, tiny_model(dropout=0.0, checkpoint_segments=2))


def test_checkpoint_from_another_config_is_rejected(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, tiny_model())
    with pytest.raises(
        ValueError, match=r"different model configuration \(hidden: saved 32, model 48\).*load_model"
    ):
        load_checkpoint(path, tiny_model(hidden=48))


def test_corrupt_checkpoint_is_reported(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, tiny_model())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CorruptFileError, match=rf"{path.name}.*delete it"):
        load_checkpoint(path, tiny_model())
    path.write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(path)
    # Readable but damaged weights: the checksum catches it.
    save_checkpoint(path, tiny_model())
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["mel_linear.bias"][0] += 1.0
    torch.save(ckpt, path)
    with pytest.raises(CorruptFileError, match="checksum"):
        load_checkpoint(path, tiny_model())


# -- gradient checkpointing -----------------------------------------------------------------------


def test_segment_bounds():
    assert segment_bounds(6, 4) == [(0, 2), (2, 4), (4, 5), (5, 6)]
    assert segment_bounds(2, 4) == [(0, 1), (1, 2)]
    assert segment_bounds(3, 1) == [(0, 3)]


def test_gradient_checkpointing_gives_the_same_gradients(batch):
    plain = tiny_model(seed=5, n_encoder_layers=3, n_decoder_layers=3)
    ckpt = TransformerTTS(tiny_config(n_encoder_layers=3, n_decoder_layers=3, checkpoint_segments=2))
    ckpt.load_state_dict(plain.state_dict())
    grads = []
    for model in (plain, ckpt):
        model.train()  # dropout on: checkpointing must replay the same masks
        torch.manual_seed(11)
        out = model(batch.tokens, batch.token_lengths, batch.mels, batch.durations, batch.mel_lengths)
        tts_loss(out, batch)["loss"].backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-6, atol=1e-8, msg=name)
    assert any(g.abs().sum() > 0 for n, g in grads[0].items() if n.startswith("encoder.blocks.0"))


# -- training -------------------------------------------------------------------------------------


def test_collate_pads_and_marks_the_last_frame(batch, dataset):
    for b in range(3):
        tok, dur, mel = dataset[b]
        n, T = tok.shape[0], mel.shape[0]
        assert batch.token_lengths[b] == n and batch.mel_lengths[b] == T == int(dur.sum())
        assert torch.equal(batch.mels[b, :T], mel) and (batch.mels[b, T:] == 0).all()
        assert (batch.tokens[b, n:] == 0).all() and (batch.durations[b, n:] == 0).all()
        assert batch.stop_targets[b].tolist() == [0.0] * (T - 1) + [1.0] + [0.0] * (batch.mels.shape[1] - T)


def test_one_optimizer_step_reduces_the_loss(batch):
    model = tiny_model(seed=2, dropout=0.0, prenet_dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss() -> torch.Tensor:
        return tts_loss(model(batch.tokens, batch.token_lengths, batch.mels, batch.durations), batch)["loss"]

    before = loss()
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item()


def test_training_is_deterministic(dataset):
    h1 = train(m1 := tiny_model(seed=0), dataset, steps=3, batch_size=4, seed=7, progress=False)
    h2 = train(m2 := tiny_model(seed=0), dataset, steps=3, batch_size=4, seed=7, progress=False)
    h3 = train(tiny_model(seed=0), dataset, steps=3, batch_size=4, seed=8, progress=False)
    assert h1 == h2 and same_state(m1, m2)
    assert h1["step"] == [1, 2, 3] and all(np.isfinite(h1["loss"]))
    assert h1["loss"] != h3["loss"]  # the seed matters (data order and dropout)


def test_resume_equals_uninterrupted_training(tmp_path, dataset):
    straight = tiny_model(seed=0)
    h_straight = train(straight, dataset, steps=4, batch_size=5, seed=1, progress=False)
    path = tmp_path / "run.pt"
    train(tiny_model(seed=0), dataset, steps=2, batch_size=5, seed=1, checkpoint_path=path, progress=False)
    resumed = tiny_model(seed=99)  # a different init: everything must come from the checkpoint
    h_resumed = train(
        resumed, dataset, steps=4, batch_size=5, seed=1, checkpoint_path=path, resume=True, progress=False
    )
    assert h_resumed == h_straight
    assert same_state(resumed, straight)
    with pytest.raises(ValueError, match="trained with"):
        train(
            tiny_model(),
            dataset,
            steps=5,
            batch_size=5,
            seed=2,
            checkpoint_path=path,
            resume=True,
            progress=False,
        )
    with pytest.raises(OutputExistsError):
        train(tiny_model(), dataset, steps=1, checkpoint_path=path, progress=False)


def test_evaluate_reports_the_mean_frame_baseline(dataset):
    model = tiny_model()
    scores = evaluate(model, dataset, batch_size=5)
    frames = torch.cat([dataset[i][2] for i in range(len(dataset))])  # normalised, so the mean is 0
    assert scores["frames"] == frames.shape[0]
    assert math.isclose(scores["baseline_l1"], float(frames.abs().mean()), rel_tol=1e-5)
    assert scores["mel_l1"] > 0 and scores["duration_mse"] > 0
    assert model.training  # evaluate restores the mode


# -- sizes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["default", "small"])
def test_model_info_matches_an_independent_count(preset):
    config = getattr(TransformerTTSConfig, preset)()
    assert config.vocab_size == kokoro_vocab_size() == 178
    model = TransformerTTS(config)
    info = model.get_model_info()
    independent = sum(p.numel() for p in model.parameters())
    formula = config.parameter_count()
    assert info["total"] == independent == formula["total"]
    assert info["parameters"] == {k: v for k, v in formula.items() if k != "total"}
    assert math.isclose(info["size_mb"], independent * 4 / 1e6)
    if preset == "small":
        assert abs(independent - 5.7e6) <= 0.15 * 5.7e6
    else:
        assert (
            independent == 38_247_250
        )  # not the ~22 M of the design notes; see TransformerTTSConfig.default


# -- corpus ---------------------------------------------------------------------------------------


def test_log_mel_frames_line_up_with_duration_frames():
    rng = np.random.default_rng(0)
    audio = rng.standard_normal(600 * 20).astype(np.float32) * 0.1
    assert log_mel(audio).shape == (20, 80)
    assert log_mel(audio, n_frames=21).shape == (21, 80)  # one frame of slack
    with pytest.raises(ValueError, match="same synthesis run"):
        log_mel(audio, n_frames=23)


def test_corpus_cache_round_trip_and_errors(tmp_path):
    corpus = synthetic_corpus(3, vocab_size=VOCAB)
    path = tmp_path / "corpus.pt"
    save_corpus(corpus, path)
    loaded = load_corpus(path)
    assert loaded.checksum() == corpus.checksum() and loaded.sentences == corpus.sentences
    # A cache for other sentences is stale: reported before any model is loaded.
    with pytest.raises(ValueError, match="other settings.*rebuild=True"):
        build_corpus(["Something else entirely."], voice="synthetic", cache_path=path, progress=False)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="corpus cache .*build_corpus again"):
        load_corpus(path)


def test_sentences_are_short_and_unique():
    assert 290 <= len(SENTENCES) <= 320 and len(set(SENTENCES)) == len(SENTENCES)
    assert all(4 <= len(s.split()) <= 12 for s in SENTENCES)


def test_build_corpus_with_the_teacher(tmp_path, kmodel):
    path = tmp_path / "teacher.pt"
    sentences = ["The cat slept.", "Rain fell on the roof."]
    corpus = build_corpus(sentences, cache_path=path, progress=False, model=kmodel)
    assert path.is_file() and len(corpus) == 2 and corpus.voice == "jf_alpha"
    for tok, dur, mel in zip(corpus.tokens, corpus.durations, corpus.mels, strict=True):
        assert tok[0] == 0 and tok[-1] == 0 and tok.shape == dur.shape
        assert (dur >= 1).all() and mel.shape == (int(dur.sum()), 80)
        assert torch.isfinite(mel).all() and mel.max() > mel.min() + 5  # real speech, not silence
    again = build_corpus(sentences, cache_path=path, progress=False, model=None)  # from the cache
    assert again.checksum() == corpus.checksum()


# -- vocoder and plots ----------------------------------------------------------------------------


def test_griffin_lim_recovers_a_tone():
    from kokoro_lab.transformer_tts.vocoder import griffin_lim

    t = np.arange(600 * 16) / 24_000
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    audio = griffin_lim(log_mel(tone), n_iter=8)
    assert abs(len(audio) - len(tone)) <= 600
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * 24_000 / len(audio)
    assert abs(peak_hz - 440.0) < 30.0  # within a mel band of the tone
    with pytest.raises(ValueError, match="denormalise"):
        griffin_lim(torch.zeros(1, 10, 80))


def test_plot_losses_draws_every_term():
    import matplotlib

    matplotlib.use("Agg")
    from kokoro_lab.transformer_tts.plots import plot_losses

    history = {
        "step": [1, 2],
        "loss": [3.0, 2.0],
        "mel_l1": [1.0, 0.9],
        "duration_mse": [1.0, 0.5],
        "stop_bce": [1.0, 0.6],
    }
    ax = plot_losses(history)
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "mel_l1", "duration_mse", "stop_bce"]
    assert list(ax.get_lines()[0].get_ydata()) == [3.0, 2.0]
