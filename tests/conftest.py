"""Shared fixtures: the real Kokoro-82M, offline, loaded once per test session."""

import os
import warnings

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")  # never try the hub from tests
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from kokoro_lab import load_kmodel, load_voice, phonemize, tokenize  # noqa: E402
from kokoro_lab.original.voices import style_for  # noqa: E402

UTTERANCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Kokoro is an open text to speech model with eighty two million parameters.",
    "On a quiet morning, the river carried small boats past the old mill.",
]
VOICES = ["jf_alpha", "jm_kumo"]


@pytest.fixture(scope="session")
def kmodel():
    """The official kokoro.KModel with the resolved (offline) weights, and its source."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_kmodel()


@pytest.fixture(scope="session")
def utterance():
    """Make (input_ids [1, L], ref_s [1, 256], token list) for a text and a voice."""

    def make(text: str, voice: str = "jf_alpha"):
        ids = tokenize(phonemize(text))
        return torch.tensor([[0, *ids, 0]]), style_for(load_voice(voice), len(ids)), ids

    return make
