"""Voice mixing: weights normalised, rows blended row by row, the same syntax everywhere, clear errors."""

import numpy as np
import pytest
import torch

from kokoro_lab import load_voice, synthesize
from kokoro_lab.cli import main
from kokoro_lab.original.mixing import parse_mix, resolve_voice


def test_weights_are_normalised_and_a_bare_name_weighs_one():
    assert parse_mix("jf_alpha:0.7,jm_kumo:0.3").parts == (("jf_alpha", 0.7), ("jm_kumo", 0.3))
    assert parse_mix("jf_alpha, jm_kumo").parts == (("jf_alpha", 0.5), ("jm_kumo", 0.5))
    assert parse_mix("jf_alpha:3,jm_kumo:1").parts == (("jf_alpha", 0.75), ("jm_kumo", 0.25))
    assert parse_mix("jf_alpha").parts == (("jf_alpha", 1.0),)


def test_weight_one_and_zero_is_the_pure_voice_exactly():
    pure = load_voice("jf_alpha")
    assert torch.equal(resolve_voice("jf_alpha:1.0,jm_kumo:0.0"), pure)
    assert torch.equal(resolve_voice("jm_kumo:0,jf_alpha:1"), pure)
    assert torch.equal(resolve_voice("jf_alpha"), pure)


def test_rows_stay_aligned():
    a, b = load_voice("jf_alpha"), load_voice("jm_kumo")
    mix = resolve_voice("jf_alpha:0.25,jm_kumo:0.75")
    assert mix.shape == a.shape == (510, 1, 256)
    for row in (0, 1, 49, 200, 509):  # row i of the mix blends row i of each pack, nothing else
        torch.testing.assert_close(mix[row], 0.25 * a[row] + 0.75 * b[row], rtol=0, atol=1e-6)
    assert not torch.allclose(mix[10], 0.25 * a[11] + 0.75 * b[11])


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jf_alpha:0,jm_kumo:0", "sum to 0; they must sum to a positive number"),
        ("jf_alpha:1,jm_kumo:-1", "sum to 0"),
        (
            "jf_alpha:0.5,nobody:0.5",
            r"Unknown voice 'nobody' in the mix .* Known voices: .*jf_alpha.*jm_kumo",
        ),
        ("jf_alpha:heavy,jm_kumo:0.5", "Malformed voice mix .* 'heavy' .* is not a number"),
        ("jf_alpha:0.5,:0.5", "has no voice name"),
        ("jf_alpha,,jm_kumo", "has no voice name"),
        ("jf_alpha:1,jf_alpha:2", "lists 'jf_alpha' twice"),
        ("jf_alpha:inf,jm_kumo:1", "not a finite number"),
        ("  ", "voice is empty"),
    ],
)
def test_bad_mixes_are_refused_with_a_clear_message(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve_voice(spec)


def test_synthesize_accepts_a_mix(kmodel):
    text = "Mixing voices."
    pure = synthesize(text, voice="jf_alpha").audio
    assert np.array_equal(synthesize(text, voice="jf_alpha:1.0,jm_kumo:0.0").audio, pure)
    mixed = synthesize(text, voice="jf_alpha:0.5,jm_kumo:0.5")
    assert mixed.voice == "jf_alpha:0.5,jm_kumo:0.5"
    assert not np.array_equal(mixed.audio[: len(pure)], pure[: len(mixed.audio)])


def test_cli_voice_takes_a_mix_and_names_a_bad_one(kmodel, tmp_path, capsys):
    out = tmp_path / "mix.wav"
    assert main(["say", "Hello.", "-o", str(out), "--voice", "jf_alpha:0.6,jm_kumo:0.4", "-q"]) == 0
    assert out.stat().st_size > 1000
    bad = tmp_path / "bad.wav"
    assert main(["say", "Hello.", "-o", str(bad), "--voice", "jf_alpha:0.6,nobody:0.4", "-q"]) == 2
    assert "Unknown voice 'nobody'" in capsys.readouterr().err and not bad.exists()


def test_synthesis_panel_takes_a_mix_and_reports_a_bad_one(kmodel):
    from kokoro_lab.book.widgets import synthesis_panel

    panel = synthesis_panel(text="Two voices.", voice="jf_alpha:0.5,jm_kumo:0.5")
    assert panel.run().voice == "jf_alpha:0.5,jm_kumo:0.5"
    voice_box = panel.widget.children[1].children[0]
    assert "jm_kumo" in voice_box.options  # still a list to pick from
    voice_box.value = "jf_alpha:1,jm_kumo:-1"
    panel.widget.children[1].children[2].click()
    out = panel.widget.children[2]
    assert any("must sum to a positive number" in o.get("text", "") for o in out.outputs)
