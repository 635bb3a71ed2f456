"""Reference synthesis through the official KModel: speech-likeness, determinism, stages."""

import numpy as np
import pytest
import torch
from conftest import UTTERANCES

from kokoro_lab import resolve_checkpoint, synthesize
from kokoro_lab.original.rebuild import kokoro_skeleton
from kokoro_lab.original.stages import run_stages
from kokoro_lab.quality import speech_stats


@pytest.mark.parametrize("voice", ["jf_alpha", "jm_kumo"])
def test_synthesized_audio_is_speech_like(voice):
    result = synthesize(UTTERANCES[0], voice=voice)
    stats = speech_stats(result.audio)
    print(voice, stats)
    assert result.audio.dtype == np.float32 and result.sample_rate == 24_000
    assert stats.spectral_flatness < 0.1
    assert stats.energy_below_4k >= 0.95
    assert stats.voiced_fraction >= 0.2
    assert all((d > 0).all() for d in result.durations)
    assert len(result.audio) == 600 * sum(int(d.sum()) for d in result.durations)


def test_randomly_initialised_model_fails_the_same_checks(utterance):
    """Control: the checks above must reject what an untrained Kokoro produces."""
    torch.manual_seed(0)
    random_model = kokoro_skeleton().eval()
    input_ids, ref_s, ids = utterance(UTTERANCES[0])
    durations = torch.full((input_ids.shape[1],), 3)  # keep the clip short
    audio = run_stages(random_model, input_ids, ref_s, durations=durations).audio.numpy()
    assert not speech_stats(audio).is_speech_like()


def test_same_inputs_and_seed_give_the_same_bits():
    a = synthesize(UTTERANCES[1], seed=7).audio
    b = synthesize(UTTERANCES[1], seed=7).audio
    assert np.array_equal(a, b)


def test_stages_reproduce_kmodel_exactly(kmodel, utterance):
    model, _ = kmodel
    input_ids, ref_s, _ = utterance(UTTERANCES[2])
    torch.manual_seed(3)
    audio, pred_dur = model.forward_with_tokens(input_ids, ref_s, 1.0)
    torch.manual_seed(3)
    stages = run_stages(model, input_ids, ref_s, 1.0)
    assert torch.equal(stages.pred_dur, pred_dur)
    assert torch.equal(stages.audio, audio)
    L, F = input_ids.shape[1], int(pred_dur.sum())
    assert stages.pred_aln_trg.shape == (1, L, F) and stages.asr.shape == (1, 512, F)
    assert stages.F0_pred.shape == (1, 2 * F)


def test_speed_shortens_the_audio():
    slow = synthesize(UTTERANCES[0], speed=0.8)
    fast = synthesize(UTTERANCES[0], speed=1.25)
    assert fast.seconds < slow.seconds


# What describe() must say for each kind of source (the README's lookup order).
SOURCE_LABELS = {
    "explicit": "explicit checkpoint path",
    "env": "KOKORO_LAB_CHECKPOINT",
    "hf-cache": "Hugging Face cache",
    "hub": "downloaded from the hub",
    "onnx-rebuild": "rebuild of the int8 ONNX export",
}


def test_result_reports_its_weight_source():
    """Any source is fine here (official weights or the rebuild); it must be the resolved one, named."""
    result = synthesize("Hello.")
    source = result.source
    assert source == resolve_checkpoint()
    assert source.kind in SOURCE_LABELS and source.path.is_file()
    description = source.describe()
    assert SOURCE_LABELS[source.kind] in description and source.path.name in description
