"""eSpeak NG's speech and phoneme timings as a duration ground truth (no Kokoro model needed)."""

import numpy as np
import pytest

from kokoro_lab.config import SAMPLE_RATE, SAMPLES_PER_FRAME
from kokoro_lab.finetune import espeak_speech as es
from kokoro_lab.original.text import phonemize, vocab

ENGLISH = ("The door was open.", "Bring me the red cup.")
LUXEMBOURGISH = ("Moien, wéi geet et?", "Ech sinn haut frou.")
FPS = SAMPLE_RATE / SAMPLES_PER_FRAME


def kokoro_phonemes(text: str, voice: str) -> str:
    """The string Kokoro speaks for ``text``: phonemize(), or misaki's eSpeak G2P for "lb"."""
    if voice == "en-us":
        return phonemize(text, "a")
    try:
        return phonemize(text, "lb")
    except ValueError:  # "lb" not (yet) a phonemize() language: the same misaki call it makes
        from misaki.espeak import EspeakG2P

        return EspeakG2P(language="lb")(text)[0]


CASES = [(t, "en-us") for t in ENGLISH] + [(t, "lb") for t in LUXEMBOURGISH]


@pytest.fixture(scope="module")
def speeches():
    return {case: es.speak(*case) for case in CASES}


@pytest.mark.parametrize("case", CASES)
def test_speech_and_events_line_up(speeches, case):
    speech = speeches[case]
    assert speech.audio.dtype == np.float32 and speech.audio.ndim == 1
    assert speech.phonemes and len(speech.phonemes) == len(speech.starts) == len(speech.ends)
    assert np.all(np.diff(speech.starts) > 0)
    assert np.array_equal(speech.ends[:-1], speech.starts[1:])
    assert speech.starts[0] >= 0
    # Event times are in eSpeak's 22,050 Hz samples; resampling to 24 kHz keeps the duration.
    assert speech.ends[-1] <= speech.duration + 1e-3
    assert speech.ends[-1] >= speech.duration - 1e-3  # the last event runs to the end of the audio
    assert np.abs(speech.audio).max() > 0.05
    assert not any(p == "" for p in speech.phonemes)


def test_pauses_fall_where_the_audio_goes_silent():
    speech = es.speak("a, a, a.")
    assert speech.phonemes.count(es.PAUSE) >= 3
    offsets = es.pause_offsets(speech)  # [n] seconds from event to the start of its silence
    # Measured: within 0.15 ms (resampling blurs the edge by a few samples at 24 kHz).
    assert len(offsets) >= 2
    assert np.abs(offsets).max() < 1e-3


def test_pauses_are_quiet_and_vowels_loud():
    speech = es.speak("a, a, a.")
    a = speech.audio

    def rms(start: float, end: float) -> float:
        # The middle of the event, away from its edges.
        s, e = (
            int((start + 0.25 * (end - start)) * SAMPLE_RATE),
            int((end - 0.25 * (end - start)) * SAMPLE_RATE),
        )
        return float(np.sqrt(np.mean(a[s:e] ** 2)))

    pauses = [
        rms(s, e)
        for p, s, e in zip(speech.phonemes, speech.starts, speech.ends, strict=True)
        if p == es.PAUSE
    ]
    vowels = [
        rms(s, e) for p, s, e in zip(speech.phonemes, speech.starts, speech.ends, strict=True) if p == "ˈeɪ"
    ]
    assert len(vowels) == 3
    assert max(pauses) < 0.01 * min(vowels)


def test_stop_closure_belongs_to_the_stop():
    speech = es.speak("The door was open.")
    p = speech.phonemes.index("p")
    start = int(speech.starts[p] * SAMPLE_RATE)
    # The stop starts with its silent closure: the first 20 ms after its start are quiet.
    closure = speech.audio[start + 5 : start + int(0.02 * SAMPLE_RATE)]
    assert np.abs(closure).max() < 1e-2
    assert np.abs(speech.audio[start - int(0.02 * SAMPLE_RATE) : start - 5]).max() > 0.05


def test_deterministic():
    first = es.speak("Bring me the red cup.")
    phonemize("Something else in between.")  # phonemizer's copy of eSpeak runs in the meantime
    es.speak("Ech sinn haut frou.", "lb")
    second = es.speak("Bring me the red cup.")
    assert first.audio.tobytes() == second.audio.tobytes()
    assert first.phonemes == second.phonemes
    assert first.starts.tobytes() == second.starts.tobytes()


def test_phonemize_unaffected_by_speak():
    before = phonemize("The door was open.", "a")
    es.speak("Moien, wéi geet et?", "lb")
    es.speak("Bring me the red cup.", "en-us", rate=300)
    assert phonemize("The door was open.", "a") == before
    assert es.speak("The door was open.").phonemes[:2] == ("ð", "ə")


def test_bad_inputs():
    with pytest.raises(ValueError, match="Text is empty"):
        es.speak("   ")
    with pytest.raises(ValueError, match=r"no voice 'xx-nope'.*list_voices\(\)"):
        es.speak("hello", "xx-nope")
    with pytest.raises(ValueError, match="words per minute"):
        es.speak("hello", rate=20)
    with pytest.raises(RuntimeError, match="no speech"):
        es.speak("...")  # eSpeak speaks only a pause
    assert {"en-us", "lb"} <= set(es.list_voices())


def test_no_audio_is_an_error(monkeypatch):
    monkeypatch.setattr(es, "_synthesize", lambda text, voice, rate: (np.zeros(0, np.int16), []))
    with pytest.raises(RuntimeError, match="no speech"):
        es.speak("hello")


# Measured coverage of letter tokens: 0.92 and 1.00 (English), 0.92 and 0.91 (Luxembourgish).
MIN_COVERAGE = 0.85


@pytest.mark.parametrize("case", CASES)
def test_token_boundaries(speeches, case):
    speech = speeches[case]
    phonemes = kokoro_phonemes(*case)
    n_tokens = sum(c in vocab() for c in phonemes) + 2  # L, with the two 0s
    boundaries = es.token_boundaries(speech, phonemes)  # [L-1] frames
    assert boundaries.shape == (n_tokens - 1,)
    timed = boundaries[~np.isnan(boundaries)]
    assert np.all(np.diff(timed) >= 0)
    assert timed.min() >= 0 and timed.max() <= speech.duration * FPS + 1e-6
    assert es.boundary_coverage(boundaries, phonemes) >= MIN_COVERAGE
    assert not np.isnan(boundaries[-1])  # the closing 0 starts where speech ends
    # Marks and spaces never get a start of their own.
    tokens = [c for c in phonemes if c in vocab()]
    for token, b in zip(tokens, boundaries[:-1], strict=True):
        if token in "ˈˌː ,.?":
            assert np.isnan(b)


def test_token_boundaries_follow_the_events():
    speech = es.speak("The door was open.")
    phonemes = phonemize("The door was open.", "a")  # ðə dˈɔːɹ wʌz ˈOpən.
    tokens = [c for c in phonemes if c in vocab()]
    boundaries = es.token_boundaries(speech, phonemes)
    frames = dict(zip(speech.phonemes, speech.starts * FPS, strict=True))
    assert boundaries[tokens.index("d")] == frames["d"]
    assert boundaries[tokens.index("ɔ")] == frames["ˈɔːɹ"]
    assert np.isnan(boundaries[tokens.index("ɹ")])  # inside eSpeak's one phoneme ɔːɹ
    assert boundaries[tokens.index("O")] == frames["ˈoʊ"]  # misaki's O is eSpeak's oʊ


def test_skip_late_vowels():
    speech = es.speak("Bring me the red cup.")
    late = es.late_vowel_onsets(speech)
    assert [p for p, is_late in zip(speech.phonemes, late, strict=True) if is_late] == ["ˈɪ", "ˌiː", "ˈɛ"]
    phonemes = phonemize("Bring me the red cup.", "a")
    all_ = es.token_boundaries(speech, phonemes)
    some = es.token_boundaries(speech, phonemes, skip_late_vowels=True)
    assert np.isnan(some).sum() == np.isnan(all_).sum() + 3
