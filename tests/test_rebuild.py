"""The offline weights: the ONNX parts, their checksum, and the rebuilt official-layout checkpoint."""

import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from conftest import UTTERANCES

from kokoro_lab import synthesize
from kokoro_lab.original import checkpoint as ckpt
from kokoro_lab.original.model import load_checkpoint, load_kmodel, parameter_count, verify_strict
from kokoro_lab.original.onnx_export import (
    ChecksumError,
    _part_paths,
    assemble_onnx,
    expected_sha256,
    sha256_file,
)
from kokoro_lab.original.rebuild import _weight_norm_parts, scope_to_module
from kokoro_lab.quality import speech_stats

OFFICIAL_PARAMETERS = 81_763_410  # seed report 003 (official kokoro-v1_0.pth)


@pytest.fixture(scope="module")
def rebuilt():
    """KModel loaded from the rebuild itself, whatever source the lookup order would pick.

    On a machine without the official weights this is the session's ``kmodel`` (same cached load).
    """
    path = ckpt.rebuilt_checkpoint(progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, source = load_kmodel(path)
    assert source.kind == "explicit" and source.path == path
    return model, path


def test_assembled_onnx_matches_published_sha256():
    assert sha256_file(assemble_onnx()) == expected_sha256()


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_part_is_rejected_and_nothing_is_left(tmp_path, damage):
    parts = _part_paths()
    bad = tmp_path / "part.bin"
    data = bytearray(parts[-1].read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[1234] ^= 0xFF
    bad.write_bytes(bytes(data))
    out = tmp_path / "model.onnx"
    with pytest.raises(ChecksumError, match="corrupted.*Reinstall"):
        assemble_onnx(parts=[*parts[:-1], bad], out=out)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["part.bin"]  # no temporary file left behind


def test_rebuilt_checkpoint_has_official_layout(rebuilt):
    model, path = rebuilt
    state = load_checkpoint(path)
    assert sorted(state) == sorted(["bert", "bert_encoder", "predictor", "text_encoder", "decoder"])
    keys = [k for sd in state.values() for k in sd]
    assert len(keys) == 548
    assert all(k.startswith("module.") for k in keys)
    assert sum(v.numel() for sd in state.values() for v in sd.values()) == OFFICIAL_PARAMETERS
    assert all(torch.isfinite(v).all() for sd in state.values() for v in sd.values())
    verify_strict(model, state)  # raises on any missing or unexpected key
    assert parameter_count(model) == OFFICIAL_PARAMETERS


def test_rebuilt_weights_speak(rebuilt):
    _, path = rebuilt
    result = synthesize(UTTERANCES[0], checkpoint=str(path))
    assert result.source.kind == "explicit" and result.source.path == path
    assert speech_stats(result.audio).is_speech_like()


def test_strict_check_catches_a_missing_key(kmodel):
    model, source = kmodel
    state = load_checkpoint(source.path)
    del state["decoder"]["module.generator.conv_post.weight_v"]
    with pytest.raises(RuntimeError, match="conv_post.weight_v"):
        verify_strict(model, state)


def test_scope_names_map_to_torch_modules():
    assert scope_to_module("/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant") == "text_encoder.cnn.0.0"
    assert scope_to_module("/encoder/F0.1/conv1x1/Conv_quant") == "predictor.F0.1.conv1x1"
    assert scope_to_module("/encoder/shared/LSTM_quant") == "predictor.shared"
    assert scope_to_module("/decoder/decoder/generator/resblocks.2/convs1.0/Conv_quant") == (
        "decoder.generator.resblocks.2.convs1.0"
    )
    assert scope_to_module(
        "/encoder/bert/encoder/albert_layer_groups.0/albert_layers.0/attention/key_7/MatMul_quant"
    ) == ("bert.encoder.albert_layer_groups.0.albert_layers.0.attention.key")


def test_weight_norm_split_reproduces_weights_including_zeroed_channels():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3, 5)).astype(np.float32)
    w[2] = 0.0  # a channel quantised to all zeros
    v, g = _weight_norm_parts(w)
    assert np.all(v[2] == 1.0) and g[2].item() == 0.0
    rebuilt = torch._weight_norm(torch.from_numpy(v), torch.from_numpy(g), dim=0).numpy()
    assert np.isfinite(rebuilt).all()
    np.testing.assert_allclose(rebuilt, w, atol=1e-6)


def test_corrupted_cached_rebuild_is_rebuilt(tmp_path, monkeypatch):
    original = ckpt.rebuilt_checkpoint(progress=False)  # a cached rebuild and its sidecar
    monkeypatch.setattr(ckpt, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr("kokoro_lab.original.onnx_export.cache_dir", lambda: tmp_path)
    cached = tmp_path / ckpt.REBUILT_NAME
    shutil.copy(original, cached)
    shutil.copy(original.with_name(original.name + ".json"), tmp_path / (cached.name + ".json"))
    with open(cached, "r+b") as f:  # flip one byte
        f.seek(10_000)
        byte = f.read(1)
        f.seek(10_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    path = ckpt.rebuilt_checkpoint(progress=False)
    meta = json.loads((tmp_path / (cached.name + ".json")).read_text())
    assert path == cached and sha256_file(path) == meta["sha256"]
    assert meta["parameters"] == OFFICIAL_PARAMETERS


def test_explicit_checkpoint_path_must_exist(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ckpt.resolve_checkpoint(tmp_path / "missing.pth")
    monkeypatch.setenv("KOKORO_LAB_CHECKPOINT", str(tmp_path / "nope.pth"))
    with pytest.raises(FileNotFoundError, match="KOKORO_LAB_CHECKPOINT"):
        ckpt.resolve_checkpoint()


def test_explicit_checkpoint_is_reported(kmodel):
    _, source = kmodel
    chosen = ckpt.resolve_checkpoint(source.path)
    assert chosen.kind == "explicit" and "explicit" in chosen.describe()


def test_strict_check_of_the_loaded_values_catches_a_non_finite_weight(kmodel):
    model, source = kmodel
    state = load_checkpoint(source.path, mmap=True)  # keys only; the bytes stay on disk
    verify_strict(model, state, values="model")
    bias = model.bert_encoder.bias
    kept = bias[0].item()
    try:
        with torch.no_grad():
            bias[0] = float("nan")
        with pytest.raises(RuntimeError, match="non-finite values in \\['bias'\\]"):
            verify_strict(model, state, values="model")
    finally:
        with torch.no_grad():
            bias[0] = kept
    with pytest.raises(ValueError, match="values must be"):
        verify_strict(model, state, values="both")
