"""Forced alignment by DTW against Kokoro's reading, and the recorded-corpus loader with its bad inputs."""

import warnings

import numpy as np
import pytest
import torch

from kokoro_lab.audio import write_wav
from kokoro_lab.finetune import validate_item
from kokoro_lab.finetune.alignment import (
    AlignmentError,
    align,
    boundary_errors,
    carry_boundaries,
    integer_durations,
)
from kokoro_lab.finetune.recordings import (
    CorpusFormatError,
    RecordingError,
    item_from_recording,
    load_recorded_corpus,
    read_metadata,
)
from kokoro_lab.original.stages import run_stages
from kokoro_lab.original.voices import load_voice, style_for
from kokoro_lab.rewrite.sine_source import no_source_noise
from kokoro_lab.torch_files import CorruptFileError

# bench/alignment.py on 20 sentences of eSpeak NG's American English: aligned starts are +2.3
# frames later than eSpeak's (median; Kokoro's duration clock, see the chapter) and lie within
# 1.7 frames of that offset (median). The bounds leave room for the 4 sentences here.
ESPEAK_BIAS, ESPEAK_CENTRED_MEDIAN = (1.0, 4.0), 2.5
SENTENCES = ("The door was open.", "Bring me the red cup.", "It rained all night.", "Where is the train?")


def speak(model, input_ids, voice):
    """Kokoro's durations [L] and audio [600 F] for ``voice``: a recording whose durations are known."""
    with no_source_noise():
        s = run_stages(model, input_ids, style_for(load_voice(voice), input_ids.shape[-1] - 2))
    return s.pred_dur.clone(), s.audio.reshape(-1).float().numpy()


def test_integer_durations_round_keep_one_frame_per_token_and_sum_to_the_recording():
    d = integer_durations(np.array([2.4, 2.6, 2.7, 9.2]), 12)
    assert d.tolist() == [2, 1, 1, 5, 3] and int(d.sum()) == 12
    squeezed = integer_durations(np.array([0.0, 0.1, 0.2]), 4)  # all boundaries near the start
    assert squeezed.tolist() == [1, 1, 1, 1]
    with pytest.raises(AlignmentError, match="3 frames cannot hold 4 tokens"):
        integer_durations(np.array([1.0, 2.0, 3.0]), 3)


def test_an_identity_path_carries_the_boundaries_unchanged():
    durations = torch.tensor([3, 5, 2, 7])
    steps = int(durations.sum()) * 5  # five 120-sample steps per 600-sample frame
    path = np.stack([np.arange(steps), np.arange(steps)], 1)
    assert np.allclose(carry_boundaries(path, durations), [3, 8, 10])
    assert integer_durations(carry_boundaries(path, durations), 17).tolist() == durations.tolist()


def test_dtw_recovers_another_voices_durations_within_a_frame(kmodel, utterance):
    """jm_kumo's speech aligned by jf_alpha's reading; bench/alignment.py measures median 0, p90 1 frame."""
    model, _ = kmodel
    errors = []
    for text in SENTENCES:
        input_ids, ref_s, _ = utterance(text, "jf_alpha")
        true, audio = speak(model, input_ids, "jm_kumo")
        a = align(model, audio, input_ids[0], ref_s)
        assert int(a.durations.sum()) == a.n_frames == audio.size // 600
        assert (a.durations >= 1).all() and a.durations.shape == true.shape
        errors.append(boundary_errors(a.durations, true))
    e = np.concatenate(errors)
    assert np.median(e) <= 1 and np.percentile(e, 90) <= 2, (np.median(e), np.percentile(e, 90))


def test_alignment_is_deterministic(kmodel, utterance):
    model, _ = kmodel
    input_ids, ref_s, _ = utterance(SENTENCES[0])
    _, audio = speak(model, input_ids, "jm_kumo")
    a, b = (align(model, audio, input_ids[0], ref_s) for _ in range(2))
    assert torch.equal(a.durations, b.durations) and np.array_equal(a.path, b.path)


def test_alignment_refuses_audio_too_short_or_of_another_length(kmodel, utterance):
    model, _ = kmodel
    input_ids, ref_s, _ = utterance("Bring me the red cup, and the blue one too.")
    with pytest.raises(AlignmentError, match="too short for its text"):
        align(model, np.zeros(600 * 5, np.float32), input_ids[0], ref_s)
    _, audio = speak(model, input_ids, "jm_kumo")
    long = np.concatenate([audio] * 3)  # three times the speech for one reading of the text
    with pytest.raises(AlignmentError, match="as long as in Kokoro's reading"):
        align(model, long, input_ids[0], ref_s)


@pytest.fixture(scope="module")
def corpus_folder(tmp_path_factory, kmodel, utterance):
    """An LJSpeech-style folder: three good recordings by jm_kumo and one of each bad kind."""
    model, _ = kmodel
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "wavs").mkdir()
    lines = []
    for i, text in enumerate(SENTENCES[:3]):
        input_ids, _, _ = utterance(text)
        _, audio = speak(model, input_ids, "jm_kumo")
        write_wav(folder / "wavs" / f"good{i}.wav", audio)
        lines.append(f"good{i}|{text}")
    write_wav(folder / "wavs" / "short.wav", np.sin(np.arange(2400) / 5.0).astype(np.float32) * 0.3)
    lines.append("short|Bring me the red cup, and the blue one, and the green one, please.")
    (folder / "wavs" / "broken.wav").write_bytes(b"RIFF not really a wav file")
    lines.append("broken|The tea is cold.")
    write_wav(folder / "wavs" / "empty.wav", np.full(24000, 0.1, np.float32))
    lines += ["empty| ", "missing|The sky is clear."]
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_loader_makes_valid_items_and_reports_every_bad_recording(
    corpus_folder, kmodel, monkeypatch, tmp_path
):
    monkeypatch.setenv("KOKORO_LAB_CACHE", str(tmp_path / "cache"))
    with pytest.warns(UserWarning, match="Skipped recordings") as record:
        corpus = load_recorded_corpus(corpus_folder, voice="jf_alpha", model=kmodel, progress=False)
    assert [it.name for it in corpus.items] == ["good0", "good1", "good2"]
    for item in corpus.items:
        validate_item(item)
        assert item.gt_audio.numel() == 600 * item.n_frames and (item.gt_f0 > 0).any()
    reasons = {s.id: s.reason for s in corpus.skipped}
    assert set(reasons) == {"short", "broken", "empty", "missing"}
    assert "too short for its text" in reasons["short"]
    assert "cannot be read as audio" in reasons["broken"] and "convert it to WAV" in reasons["broken"]
    assert "empty text" in reasons["empty"]
    assert "is missing" in reasons["missing"]
    report = next(str(w.message) for w in record if "Skipped recordings" in str(w.message))
    assert all(name in report for name in reasons)

    # the second load comes from the cache, with the same bits
    with pytest.warns(UserWarning, match="Skipped recordings"):
        again = load_recorded_corpus(corpus_folder, voice="jf_alpha", model=None, progress=False)
    for a, b in zip(corpus.items, again.items, strict=True):
        assert torch.equal(a.gt_duration, b.gt_duration) and torch.equal(a.gt_audio, b.gt_audio)
    # a damaged cache is named, not used
    cached = next((tmp_path / "cache" / "finetune").glob("recorded_*.pt"))
    cached.write_bytes(cached.read_bytes()[:1000])
    with pytest.raises(CorruptFileError, match=str(cached.name)):
        load_recorded_corpus(corpus_folder, voice="jf_alpha", model=kmodel, progress=False)


def test_loader_refuses_a_malformed_folder(tmp_path):
    with pytest.raises(CorpusFormatError, match="is not a folder"):
        read_metadata(tmp_path / "nowhere")
    with pytest.raises(CorpusFormatError, match="metadata.csv is missing"):
        read_metadata(tmp_path)
    (tmp_path / "metadata.csv").write_text("first|Hello.\nno separator here\n", encoding="utf-8")
    with pytest.raises(CorpusFormatError, match="line 2: expected 'id|text'"):
        read_metadata(tmp_path)
    (tmp_path / "metadata.csv").write_text("a|Raw text|Normalised text\n", encoding="utf-8")
    assert read_metadata(tmp_path) == [("a", "Normalised text")]


def test_a_recording_of_other_words_fails_the_sanity_check(kmodel, utterance):
    model, _ = kmodel
    input_ids, ref_s, _ = utterance("Please sit down.")
    noise = np.random.default_rng(0).normal(0, 0.1, 600 * 60).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RecordingError, match="does not sound like the text"):
            item_from_recording(model, "noise", noise, "Please sit down.", ref_s)


def test_dtw_finds_espeak_ngs_own_phoneme_starts(kmodel):
    """eSpeak NG's speech, a ground truth no Kokoro voice produced: a constant offset, then a small spread."""
    from kokoro_lab.finetune.espeak_speech import speak, token_boundaries
    from kokoro_lab.original.text import phonemize, tokenize

    model, _ = kmodel
    errors = []
    for text in SENTENCES:
        speech = speak(text, "en-us")
        phonemes = phonemize(text)
        ids = torch.tensor([0, *tokenize(phonemes), 0])
        truth = token_boundaries(speech, phonemes)  # [L-1] frames, NaN where eSpeak has no start
        a = align(model, speech.audio, ids, style_for(load_voice("jf_alpha"), ids.numel() - 2))
        estimate = torch.cumsum(a.durations, 0)[:-1].numpy()
        known = np.isfinite(truth)
        errors.append(estimate[known] - truth[known])
    e = np.concatenate(errors)  # signed, frames
    bias = np.median(e)
    assert e.size >= 40
    assert ESPEAK_BIAS[0] <= bias <= ESPEAK_BIAS[1], bias
    assert np.median(np.abs(e - bias)) <= ESPEAK_CENTRED_MEDIAN, np.median(np.abs(e - bias))


def test_style_from_audio_fits_a_vector_deterministically(kmodel, utterance):
    from kokoro_lab.finetune import FinetuneConfig, style_from_audio

    model, _ = kmodel
    recordings, counts = [], []
    for text in SENTENCES[:2]:
        input_ids, _, ids = utterance(text)
        recordings.append((speak(model, input_ids, "jm_kumo")[1], text))
        counts.append(len(ids))
    config = FinetuneConfig(steps=3, batch_size=2, lr=0.01, segment_frames=8)
    a, b = (
        style_from_audio(model, recordings, init="jf_alpha", config=config, progress=False) for _ in range(2)
    )
    assert a.ref_s.shape == (1, 256) and torch.equal(a.ref_s, b.ref_s)
    start = style_for(load_voice("jf_alpha"), int(np.median(counts)))  # where the fit began
    assert not torch.equal(a.ref_s, start) and len(a.history["loss"]) == 3
    with pytest.raises(ValueError, match="No recordings given"):
        style_from_audio(model, [], progress=False)
