"""The synthesis panel: its default path speaks, and bad text gets a message instead of a crash."""

import pytest

from kokoro_lab.widgets import synthesis_panel


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
