"""Bad input: each gets a clear error naming the problem and the fix, and writes nothing."""

import os
import sys

import pytest

from kokoro_lab import load_voice, phonemize, split_phonemes, synthesize, tokenize
from kokoro_lab.atomic import atomic_path
from kokoro_lab.cli import main
from kokoro_lab.config import MAX_PHONEME_TOKENS
from kokoro_lab.original.text import TextTooLongError

LONG_TEXT = " ".join(["The old clock in the hall struck twelve, and everyone went quiet."] * 12)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text(text):
    with pytest.raises(ValueError, match="Text is empty"):
        phonemize(text)
    with pytest.raises(ValueError, match="Text is empty"):
        synthesize(text)


def test_only_unknown_symbols():
    with pytest.warns(UserWarning, match="Dropped"):
        with pytest.raises(ValueError, match="No known phoneme symbols"):
            tokenize("###@@@")


def test_unknown_symbols_are_dropped_with_a_warning():
    with pytest.warns(UserWarning, match=r"\['#'\]"):
        ids = tokenize("hə#lˈO")
    assert ids == tokenize("həlˈO")


def test_too_long_text_with_splitting_off():
    with pytest.raises(TextTooLongError, match="510"):
        synthesize(LONG_TEXT, split=False)


def test_long_text_splits_at_punctuation():
    phonemes = phonemize(LONG_TEXT)
    with pytest.raises(TextTooLongError):
        tokenize(phonemes)
    chunks = split_phonemes(phonemes)
    assert len(chunks) >= 2
    assert all(len(tokenize(c)) <= MAX_PHONEME_TOKENS for c in chunks)
    assert all(c.rstrip()[-1] in ".,!?;:" for c in chunks[:-1])  # cut after punctuation


def test_unknown_voice_lists_the_available_ones():
    with pytest.raises(ValueError, match="Unknown voice 'zz_nobody'.*jf_alpha.*jm_kumo"):
        load_voice("zz_nobody")


def test_voice_packs_have_the_documented_shape():
    pack = load_voice("jm_kumo")
    assert tuple(pack.shape) == (510, 1, 256)


@pytest.mark.parametrize("speed", [0, -1.0])
def test_non_positive_speed(speed):
    with pytest.raises(ValueError, match="speed must be > 0"):
        synthesize("Hello.", speed=speed)


def test_cli_writes_a_wav(tmp_path):
    import soundfile as sf

    out = tmp_path / "hello.wav"
    assert main(["say", "Hello there.", "-o", str(out), "-q"]) == 0
    audio, sr = sf.read(out)
    assert sr == 24_000 and len(audio) > 12_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.wav"]


def test_cli_refuses_to_clobber(tmp_path, capsys):
    out = tmp_path / "keep.wav"
    out.write_bytes(b"precious")
    assert main(["say", "Hello.", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"precious"


def test_cli_unwritable_output(tmp_path, capsys):
    if sys.platform.startswith("linux") and os.geteuid() == 0:
        target = "/sys/kokoro-lab-test.wav"  # sysfs refuses new files even to root
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "out.wav")
    assert main(["say", "Hello.", "-o", target, "-q"]) == 2
    err = capsys.readouterr().err
    assert "choose another" in err or "not writable" in err
    assert not os.path.exists(target)


def test_cli_missing_directory(tmp_path, capsys):
    assert main(["say", "Hello.", "-o", str(tmp_path / "no" / "out.wav"), "-q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "x.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_syllabic_marks_are_dropped_before_tokenizing_without_a_warning():
    import warnings

    from kokoro_lab.original.text import SYLLABIC_MARK, _g2p, _lang_code

    raw, _ = _g2p(_lang_code("a"))("The kitten chased a ball of string.")
    assert SYLLABIC_MARK in raw  # eSpeak's "ʔn̩"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = tokenize(phonemize("The kitten chased a ball of string."))
    with pytest.warns(UserWarning, match="Dropped"):
        assert ids == tokenize(raw.strip())  # the same tokens as before
