"""Long text: sentences, chunks that fit a bucket, seams at natural pauses, resumable CLI runs."""

import numpy as np
import pytest
import soundfile as sf

from kokoro_lab.cli import main
from kokoro_lab.coreml.buckets import BUCKETS
from kokoro_lab.original.chunking import DEFAULT_MAX_PHONEMES, plan_chunks
from kokoro_lab.original.long_text import synthesize_long
from kokoro_lab.original.resume import parts_dir
from kokoro_lab.original.seams import compare_joins
from kokoro_lab.original.sentences import split_sentences
from kokoro_lab.original.timestamps import text_words

PARAGRAPH = (
    "Dr. Smith paid 3.5 dollars for apples, e.g. the red ones. Then he left! "
    "We can not dedicate -- we can not consecrate -- this ground."
)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Dr. Smith paid 3.5 dollars. Then he left!", ["Dr. Smith paid 3.5 dollars.", "Then he left!"]),
        ("Fruit, e.g. apples, i.e. food. Fine.", ["Fruit, e.g. apples, i.e. food.", "Fine."]),
        ("Mr. and Mrs. Lee met J. R. R. Tolkien.", ["Mr. and Mrs. Lee met J. R. R. Tolkien."]),
        ("We met at 9 a.m. The rest is history.", ["We met at 9 a.m.", "The rest is history."]),
        ("Pears, plums, etc. and more.", ["Pears, plums, etc. and more."]),
        ('He said "Stop." Then he left... Why?', ['He said "Stop."', "Then he left...", "Why?"]),
        ("It costs $4.99 today.", ["It costs $4.99 today."]),
        (
            "Line one\ncontinues here.\n\nA heading\n\nText.",
            ["Line one continues here.", "A heading", "Text."],
        ),
        ("Version 2.0 is out. It is fast.", ["Version 2.0 is out.", "It is fast."]),
        ("", []),
    ],
)
def test_sentence_splitting_keeps_abbreviations_and_numbers(text, sentences):
    assert split_sentences(text) == sentences


def test_chunks_fit_the_bucket_and_end_only_sentences_with_a_stop():
    text = " ".join([PARAGRAPH] * 3)
    for limit in (DEFAULT_MAX_PHONEMES, 40):
        chunks = list(plan_chunks(text, max_phonemes=limit))
        assert all(c.n_tokens <= limit for c in chunks)
        assert [w for c in chunks for w in c.alignment.words] == text_words(text)  # nothing lost
        for c in chunks:
            assert c.alignment.words == text_words(c.text)
            if not c.ends_sentence:
                assert c.phonemes[-1] not in ".!?", c.phonemes  # no sentence-final fall mid-sentence
    assert DEFAULT_MAX_PHONEMES == BUCKETS["15s"].max_phonemes
    first = next(plan_chunks(text))
    assert first.text == "Dr. Smith paid 3.5 dollars for apples, e.g. the red ones."  # never packed
    assert "dˈɑːktɚ smˈɪθ" in first.phonemes  # the abbreviation's stop is gone
    assert first.phonemes.endswith(".")


def test_long_sentences_are_cut_at_clause_marks():
    sentence = (
        "It is rather for us to be here dedicated to the great task remaining before us -- that from these "
        "honored dead we take increased devotion to that cause for which they gave the last full measure "
        "of devotion -- that we here highly resolve that these dead shall not have died in vain."
    )
    chunks = list(plan_chunks(sentence))
    assert len(chunks) >= 3 and all(c.n_tokens <= DEFAULT_MAX_PHONEMES for c in chunks)
    assert all(c.phonemes.endswith("—") for c in chunks[:-1])  # "--" became a pause eSpeak keeps
    assert [c.ends_sentence for c in chunks] == [False] * (len(chunks) - 1) + [True]


def test_punctuation_only_text_is_refused_and_punctuation_only_sentences_skipped():
    with pytest.raises(ValueError, match="only punctuation"):
        list(plan_chunks("... !!! —"))
    with pytest.raises(ValueError, match="empty"):
        list(plan_chunks("   "))
    chunks = list(plan_chunks("Hello there. ... !!! Goodbye now."))
    assert "..." not in " ".join(c.phonemes for c in chunks)
    assert [w for c in chunks for w in c.alignment.words] == ["Hello", "there.", "Goodbye", "now."]


def test_the_chosen_join_beats_naive_concatenation(kmodel):
    rows = compare_joins(
        ["jm_kumo"],
        [
            ("Rain fell softly on the tin roof.", "Please water the plants."),
            ("On a quiet morning,", "the river carried small boats past the old mill."),
        ],
    )
    for kind in ("sentence", "comma"):
        by = {r["join"]: r for r in rows if r["kind"] == kind}
        naive, chosen = by["naive concatenation"], by["quiet shortened (chosen)"]
        print(kind, {k: (round(r["pause_s"], 3), round(r["energy_jump_db"], 2)) for k, r in by.items()})
        assert chosen["pause_error_s"] < naive["pause_error_s"]
        assert chosen["energy_jump_db"] <= naive["energy_jump_db"] + 1.0
        assert chosen["flux_peak_db"] <= naive["flux_peak_db"] + 1.0


def test_synthesize_long_joins_chunks_and_times_every_word(kmodel):
    text = "On a quiet morning, the river carried small boats past the old mill. Rain fell all night."
    result = synthesize_long(text, voice="jm_kumo", max_phonemes=40)
    assert len(result.tokens) >= 3 and all(len(t) - 2 <= 40 for t in result.tokens)
    assert [w.word for w in result.words] == text.split()
    for w, nxt in zip(result.words, result.words[1:], strict=False):
        assert 0 <= w.start_s <= w.end_s <= nxt.start_s
    assert result.words[-1].end_s <= result.seconds
    assert [w.chunk for w in result.words] == sorted(w.chunk for w in result.words)


def test_cli_file_resumes_from_kept_parts(kmodel, tmp_path, capsys, monkeypatch):
    book = tmp_path / "book.txt"
    book.write_text("The first sentence is short. The second one is short too. A third ends it.\n")
    out = tmp_path / "book.wav"
    args = ["say", "--file", str(book), "-o", str(out), "--max-phonemes", "40", "--voice", "jm_kumo"]

    import kokoro_lab.original.streaming as streaming

    real, calls = streaming.speak_chunk, []

    def interrupted_after_two(*a, **k):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(a[2])
        return real(*a, **k)

    monkeypatch.setattr(streaming, "speak_chunk", interrupted_after_two)
    assert main(args) == 130
    assert "Run the same command again to resume" in capsys.readouterr().err
    assert not out.exists() and len(list(parts_dir(out).glob("*.npz"))) == 2

    calls.clear()
    monkeypatch.setattr(streaming, "speak_chunk", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    assert main(args) == 0
    assert len(calls) == 1  # only the chunk that was not finished
    assert "2 already done" in capsys.readouterr().err
    assert not parts_dir(out).exists()  # removed after the successful write
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 24_000
    whole = synthesize_long(book.read_text(), voice="jm_kumo", max_phonemes=40).audio
    assert np.abs(audio - whole).max() <= 1 / 32767  # the resumed WAV is the uninterrupted speech
    assert main(args) == 2 and "already exists" in capsys.readouterr().err


def test_ending_drift_measures_rate_and_level_of_the_last_second():
    from kokoro_lab.original.chunk_drift import ending_drift
    from kokoro_lab.original.text import tokenize

    ids = [0, *tokenize("ab" * 60), 0]  # 120 sounds
    durations = np.array([4] + [2] * 110 + [4] * 10 + [4])  # the last second: sounds twice as long
    n = 600 * int(durations.sum())
    audio = np.full(n, 0.1, np.float32)
    end = 600 * int(durations[:-1].sum())
    audio[end - 24_000 : end] *= 0.5  # the last second 6 dB quieter
    drift = ending_drift(audio, ids, durations)
    assert drift.rate_ratio == pytest.approx(0.5)
    assert drift.level_change_db == pytest.approx(-6.02, abs=0.05)
    with pytest.raises(ValueError, match="need 2.0 s"):
        ending_drift(audio[:24_000], ids[:20], durations[:20])
