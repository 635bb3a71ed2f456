"""The rebuilt fp32 torch model against onnxruntime on the int8 export it was rebuilt from."""

import warnings

import numpy as np
import pytest
import torch
from conftest import UTTERANCES, VOICES

from kokoro_lab.original.checkpoint import rebuilt_checkpoint
from kokoro_lab.original.model import load_kmodel
from kokoro_lab.original.onnx_reference import ORT_LOUDNESS, onnx_synthesize
from kokoro_lab.original.stages import run_stages
from kokoro_lab.quality import log_mel_distance


@pytest.fixture(scope="module")
def rebuilt_model():
    """KModel with the rebuilt weights, even where the lookup order would pick the official ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, _ = load_kmodel(rebuilt_checkpoint(progress=False))
    return model


@pytest.mark.parametrize("voice", VOICES)
@pytest.mark.parametrize("text", UTTERANCES)
def test_torch_matches_onnxruntime(rebuilt_model, utterance, voice, text):
    model = rebuilt_model
    input_ids, ref_s, ids = utterance(text, voice)
    ort_audio, ort_dur = onnx_synthesize(ids, ref_s)

    torch.manual_seed(0)
    predicted = run_stages(model, input_ids, ref_s, decode=False).pred_dur.numpy()
    assert predicted.shape == ort_dur.shape
    assert np.abs(predicted - ort_dur).max() <= 1, "durations differ by more than 1 frame per token"

    # Forced onto ORT's durations, the audio is comparable frame by frame.
    forced = run_stages(model, input_ids, ref_s, durations=torch.from_numpy(ort_dur)).audio.numpy()
    assert len(forced) == len(ort_audio)
    distance = log_mel_distance(forced, ort_audio)
    print(f"{voice} {len(ids)} tokens: log-mel L1 {distance:.2f} dB")
    assert distance <= 3.0
    loudness = np.sqrt(np.mean(ort_audio**2)) / np.sqrt(np.mean(forced**2))
    assert 0.85 < loudness < 1.15, f"after the {ORT_LOUDNESS}x correction, RMS ratio is {loudness:.3f}"


def test_another_voice_is_far_away(rebuilt_model, utterance):
    """Scale for the 3 dB bound: the same text in another voice is several times further."""
    model = rebuilt_model
    ids_a, ref_a, _ = utterance(UTTERANCES[0], "jf_alpha")
    _, ref_b, _ = utterance(UTTERANCES[0], "jm_kumo")
    a = run_stages(model, ids_a, ref_a)
    b = run_stages(model, ids_a, ref_b, durations=a.pred_dur)
    assert log_mel_distance(a.audio.numpy(), b.audio.numpy()) > 9.0
