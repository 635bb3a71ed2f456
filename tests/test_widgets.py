"""The interactive panels: their default paths run, and bad input gets a message instead of a crash."""

import pytest

from kokoro_lab.book.widgets import synthesis_panel


def test_default_path_speaks_with_the_controls_values(kmodel):
    panel = synthesis_panel(text="Hello there.", voice="jm_kumo", speed=1.2)
    result = panel.run()
    assert panel.last is result
    assert result.voice == "jm_kumo" and result.speed == 1.2
    assert result.seconds > 0.3 and result.audio.ndim == 1


def test_empty_text_is_refused_with_a_clear_message(kmodel):
    panel = synthesis_panel(text="   ")
    with pytest.raises(ValueError, match="text box is empty"):
        panel.run()
    button = panel.widget.children[1].children[2]
    button.click()  # the click path reports the problem in the panel and keeps it usable
    out = panel.widget.children[2]
    assert any("text box is empty" in o.get("text", "") for o in out.outputs)


def test_conversion_panel_keeps_an_existing_package_and_names_the_fix(tmp_path):
    from kokoro_lab.atomic import OutputExistsError
    from kokoro_lab.book.widgets import conversion_panel
    from kokoro_lab.coreml.convert import default_output

    existing = tmp_path / default_output("2s", "fp16", None)
    existing.mkdir()
    (existing / "keep.txt").write_text("user data")
    panel = conversion_panel(tmp_path)  # "Replace" is unticked by default
    with pytest.raises(OutputExistsError, match="overwrite"):
        panel.run()  # refused before anything slow is loaded
    assert (existing / "keep.txt").read_text() == "user data"
    with pytest.raises(NotADirectoryError, match="create it first"):
        conversion_panel(tmp_path / "missing")
