"""Luxembourgish through eSpeak NG: language codes, the vocabulary coverage, and the mapping table."""

import warnings

import pytest

from kokoro_lab import phonemize, tokenize
from kokoro_lab.finetune import new_language as nl
from kokoro_lab.original.text import vocab


@pytest.fixture(scope="module")
def measured():
    return nl.coverage(nl.texts())


def test_luxembourgish_phonemizes_with_espeak_symbols_unmapped():
    assert phonemize("Moien, wéi geet et?", "lb") == "mˈojən, vˈɜɪ ʒˈeːt ˈeːt?"
    assert "ʀ" in phonemize("Stären", "lb")  # eSpeak's uvular trill, left for to_kokoro


@pytest.mark.parametrize("lang", ["a", "b", "e", "f", "h", "i", "p", "en", "en-us", "es", "fr-fr"])
def test_kokoro_language_codes_still_work(lang):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Kokoro's own languages need no mapping
        assert tokenize(phonemize("Hello, Anna.", lang))


def test_unknown_language_lists_the_valid_codes():
    with pytest.raises(ValueError, match="Unsupported language 'xx'") as err:
        phonemize("Moien", "xx")
    for code in ("'a'", "'b'", "'e'", "'f'", "'h'", "'i'", "'p'", "'lb'", "'en-us'"):
        assert code in str(err.value)


def test_text_set_sizes():
    assert len(nl.fable_sentences()) == 6 and len(nl.stop_words()) == 204
    assert len(nl.sentences()) == 51 and len(nl.words()) == 294
    assert len(set(nl.words())) == len(nl.words())
    assert all(phonemize(w, "lb") for w in nl.words())  # eSpeak says something for each


def test_coverage_figures(measured):
    assert 0 <= measured.type_coverage <= 1 and 0 <= measured.token_coverage <= 1
    assert measured.type_coverage < 1 and measured.token_coverage < 1
    # what eSpeak's lb voice writes that Kokoro's vocabulary lacks (measured; see the module)
    assert set(measured.missing) == {"ʀ", "g", "X", "ʑ"}
    assert measured.missing["ʀ"] == max(measured.missing.values())
    assert sum(measured.counts.values()) == sum(measured.missing.values()) + sum(
        n for s, n in measured.counts.items() if s in measured.covered
    )
    assert not any(s.isspace() for s in measured.counts)
    for s, examples in measured.examples.items():
        assert 1 <= len(examples) <= 3 and all(s in p for _, p in examples)
    # the nasal tilde is its own token, and Kokoro has it
    assert measured.combining == {"\u0303": 4} and "\u0303" in measured.covered
    assert "type coverage" in measured.report() and "'ʀ'" in measured.report()


def test_every_missing_symbol_is_mapped_to_a_vocabulary_symbol(measured):
    v = vocab()
    assert set(measured.missing) <= set(nl.MAPPING)
    for row in nl.MAPPING_TABLE:
        assert len(row.symbol) == 1 and row.why and row.symbol in row.example
        assert all(ch in v for ch in row.replacement), row
        assert row.symbol in nl.__doc__ and row.replacement in nl.__doc__  # the documented table
    assert nl.NEW_SOUNDS == {"ʀ": "ʁ", "ʑ": "ʒ"}


def test_mapped_text_tokenizes_without_a_warning():
    after = nl.coverage(nl.texts(), mapped=True)
    assert after.type_coverage == after.token_coverage == 1.0 and not after.missing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for text in nl.texts():
            assert tokenize(nl.to_kokoro(phonemize(text, "lb")))


def test_to_kokoro_maps_and_keeps():
    assert nl.to_kokoro("ʃtˈɛːʀən gˈut ˈaːXt nˈeɳ") == "ʃtˈɛːʁən ɡˈut ˈaːχt nˈeŋ"
    assert nl.to_kokoro("ʀʑg", keep=nl.NEW_SOUNDS) == "ʀʑɡ"


def test_tokenize_takes_another_vocabulary():
    extended = vocab() | {"ʀ": 178}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tokenize("ʃtˈɛːʀən", vocab=extended)[5] == 178
    with pytest.warns(UserWarning, match=r"not in the given vocabulary: \['#'\]"):
        assert tokenize("a#", vocab=extended) == [vocab()["a"]]
    with pytest.warns(UserWarning, match=r"Kokoro's vocabulary: \['ʀ'\]"):
        tokenize("ʃtˈɛːʀən")
