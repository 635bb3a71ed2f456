"""Streaming: chunks out as they are spoken, bit for bit the long-text audio, piped as WAV or PCM."""

import io
import struct

import numpy as np
import pytest
import soundfile as sf

from kokoro_lab.audio import pcm16, wav_header
from kokoro_lab.cli import main
from kokoro_lab.original.long_text import synthesize_long
from kokoro_lab.original.streaming import stream

TEXT = "Streaming starts early. Each chunk follows the last, with a pause; nothing is lost."


@pytest.fixture(scope="module")
def whole(kmodel):
    return synthesize_long(TEXT, voice="jf_alpha", max_phonemes=30)


def test_streamed_chunks_concatenate_to_the_long_text_audio_exactly(whole):
    pieces = list(stream(TEXT, voice="jf_alpha", max_phonemes=30))
    assert len(pieces) == len(whole.tokens) >= 3  # one yield per chunk
    assert np.array_equal(np.concatenate([p.audio for p in pieces]), whole.audio)
    assert [p.start for p in pieces] == list(np.cumsum([0] + [len(p.audio) for p in pieces[:-1]]))
    words = [w for p in pieces for w in p.words]
    assert words == whole.words and [w.word for w in words] == TEXT.split()
    for p in pieces:  # each chunk's words are heard inside that chunk's audio
        assert all(p.start / 24_000 <= w.start_s <= w.end_s <= p.end / 24_000 for w in p.words)


def test_stream_refuses_what_it_cannot_speak():
    with pytest.raises(ValueError, match="only punctuation"):
        next(stream("... ?!"))
    with pytest.raises(ValueError, match="speed must be > 0"):
        next(stream("Hello.", speed=0))


def test_wav_header_describes_mono_16_bit():
    header = wav_header(24_000, n_samples=10)
    assert len(header) == 44 and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    assert struct.unpack("<HHIIHH", header[20:36]) == (1, 1, 24_000, 48_000, 2, 16)
    audio, rate = sf.read(io.BytesIO(header + pcm16(np.linspace(-1, 1, 10))), dtype="int16")
    assert rate == 24_000 and audio[0] == -32767 and audio[-1] == 32767
    assert wav_header()[40:44] == b"\xff\xff\xff\xff"  # a stream: length unknown


def test_cli_streams_wav_and_raw_pcm_to_stdout(whole, capfdbinary):
    base = ["say", TEXT, "--stream", "-o", "-", "--voice", "jf_alpha", "--max-phonemes", "30", "-q"]
    assert main(base) == 0
    out = capfdbinary.readouterr().out
    assert out[:4] == b"RIFF" and len(out) == 44 + 2 * len(whole.audio)
    assert out[44:] == pcm16(whole.audio)
    assert main([*base, "--raw"]) == 0
    assert capfdbinary.readouterr().out == pcm16(whole.audio)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stream", "-o", "out.wav"], "use it with -o -"),
        (["-o", "-"], "use it with -o -"),
        (["--raw", "-o", "x.wav"], "--raw is a --stream format"),
    ],
)
def test_cli_stream_options_are_checked_first(extra, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["say", "Hello.", *extra]) == 2
    assert message in capsys.readouterr().err and not list(tmp_path.iterdir())
