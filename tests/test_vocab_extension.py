"""New phoneme tokens on the real Kokoro-82M: grown embeddings, unchanged old tokens, a checkpoint round trip."""

import pytest
import torch

from kokoro_lab import load_voice, phonemize, tokenize
from kokoro_lab.finetune.new_language import to_kokoro
from kokoro_lab.finetune.vocab_extension import (
    TOKEN_EMBEDDINGS,
    VocabularyError,
    extend_vocabulary,
    load_extended_model,
    n_tokens,
    save_extended_model,
)
from kokoro_lab.original.stages import run_stages
from kokoro_lab.original.text import vocab
from kokoro_lab.original.voices import style_for
from kokoro_lab.torch_files import CorruptFileError, save_torch_file, tensor_checksum

NEW = {"ʀ": "ʁ", "ʑ": "ʒ"}


def checksum(model):
    return tensor_checksum(model.state_dict())


@pytest.fixture(scope="module")
def base(kmodel):
    model = kmodel[0]
    before = (checksum(model), dict(model.vocab), n_tokens(model), model.bert.config.vocab_size)
    yield model
    # (e) the original is untouched by everything the tests did
    assert (checksum(model), dict(model.vocab), n_tokens(model), model.bert.config.vocab_size) == before


@pytest.fixture(scope="module")
def extended(base):
    return extend_vocabulary(base, vocab(), NEW)


def run(model, input_ids, ref_s):
    """Every stage, audio included, with the generator's random draws fixed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return run_stages(model, input_ids, ref_s)


def assert_same_stages(a, b):
    for name in ("bert_dur", "d_en", "duration", "pred_dur", "F0_pred", "N_pred", "t_en", "audio"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def lux_input(ext_vocab):
    """A sentence with the new ʀ kept (Brudder → bʀˈudʁ): [1, L] ids containing id 178, and a style."""
    ids = tokenize(to_kokoro(phonemize("Mäi Brudder spillt Fussball.", "lb"), keep=NEW), vocab=ext_vocab)
    return torch.tensor([[0, *ids, 0]]), style_for(load_voice("jf_alpha"), len(ids))


def test_the_token_embeddings_are_the_only_token_indexed_parameters(base):
    assert n_tokens(base) == 178 == max(vocab().values()) + 1
    rows = {name for name, p in base.named_parameters() if 178 in p.shape}
    assert rows == {f"{name}.weight" for name in TOKEN_EMBEDDINGS}


def test_new_ids_and_grown_embeddings(base, extended):
    model, ext_vocab = extended
    assert ext_vocab == vocab() | {"ʀ": 178, "ʑ": 179} and model.vocab == ext_vocab
    assert n_tokens(model) == 180 and model.bert.config.vocab_size == 180
    assert model.bert.embeddings.word_embeddings.weight.shape == (180, 128)
    assert model.text_encoder.embedding.weight.shape == (180, 512)
    assert model.bert.embeddings.word_embeddings.padding_idx == 0
    for name in TOKEN_EMBEDDINGS:
        old, new = base.get_submodule(name).weight, model.get_submodule(name).weight
        assert torch.equal(new[:178], old)  # existing rows and ids do not move
        # (b) each new row starts as its source symbol's row
        for symbol, source in NEW.items():
            assert torch.equal(new[ext_vocab[symbol]], old[vocab()[source]])
    # every other tensor is an equal copy, not shared with the original
    grown = {f"{name}.weight" for name in TOKEN_EMBEDDINGS}
    ours, theirs = model.state_dict(), base.state_dict()
    assert set(ours) == set(theirs)
    for key in set(ours) - grown:
        assert torch.equal(ours[key], theirs[key]), key
        assert ours[key].data_ptr() != theirs[key].data_ptr() or ours[key].numel() == 0, key


def test_existing_tokens_behave_exactly_as_before(base, extended, utterance):
    input_ids, ref_s, _ = utterance("On a quiet morning, the river carried small boats past the mill.")
    assert_same_stages(run(base, input_ids, ref_s), run(extended[0], input_ids, ref_s))


def test_a_new_token_starts_out_as_its_source(base, extended):
    model, ext_vocab = extended
    input_ids, ref_s = lux_input(ext_vocab)
    assert 178 in input_ids
    as_source = input_ids.clone()
    as_source[input_ids == 178] = vocab()["ʁ"]
    assert_same_stages(run(model, input_ids, ref_s), run(base, as_source, ref_s))


def test_save_and_load_round_trip(extended, tmp_path):
    model, ext_vocab = extended
    path = save_extended_model(tmp_path / "lb.pt", model)
    loaded, loaded_vocab = load_extended_model(path)
    assert loaded_vocab == ext_vocab == loaded.vocab and n_tokens(loaded) == 180
    assert not loaded.training
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert set(ours) == set(theirs) and all(torch.equal(ours[k], theirs[k]) for k in ours)
    input_ids, ref_s = lux_input(ext_vocab)
    assert_same_stages(run(model, input_ids, ref_s), run(loaded, input_ids, ref_s))


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="No extended Kokoro model"):
        load_extended_model(tmp_path / "missing.pt")
    other = save_torch_file({"format": "something else", "version": 1}, tmp_path / "other.pt")
    with pytest.raises(CorruptFileError, match="not a version-1 extended Kokoro model"):
        load_extended_model(other)
    fake = {
        "format": "kokoro_lab.finetune.vocab_extension",
        "version": 1,
        "state": {"bert": {"w": torch.zeros(2)}},
        "state_sha256": "0" * 64,
    }
    with pytest.raises(CorruptFileError, match="fail their checksum"):
        load_extended_model(save_torch_file(fake, tmp_path / "damaged.pt"))


@pytest.mark.parametrize(
    "new_symbols, message",
    [
        ({"ʁ": "ʀ"}, r"'ʁ' is already in the vocabulary \(id \d+\)"),
        ({"ʀ": "#"}, "Source symbol '#' for 'ʀ' is not in the vocabulary"),
        ({"ʀ": "ʁ", "ʑ": "ʀ"}, "Source symbol 'ʀ' for 'ʑ' is not in the vocabulary"),
        ({"ts": "ʦ"}, "'ts' is not a single character; Kokoro tokenizes one character"),
        ({"": "a"}, "is not a single character"),
        ({}, "No new symbols given"),
    ],
)
def test_bad_symbols_are_refused(base, new_symbols, message):
    with pytest.raises(VocabularyError, match=message):
        extend_vocabulary(base, vocab(), new_symbols)


def test_a_vocabulary_that_is_not_the_models_is_refused(base):
    with pytest.raises(VocabularyError, match="model.vocab"):
        extend_vocabulary(base, vocab() | {"ʀ": 178}, {"ʑ": "ʒ"})


def test_extending_twice_continues_the_ids(extended):
    model, ext_vocab = extended
    again, again_vocab = extend_vocabulary(model, ext_vocab, {"X": "χ"})
    assert again_vocab["X"] == 180 and n_tokens(again) == 181 and n_tokens(model) == 180
    assert torch.equal(
        again.text_encoder.embedding.weight[180], model.text_encoder.embedding.weight[vocab()["χ"]]
    )
