"""Interactive panels for the notebooks (ipywidgets), each with a headless default path.

A panel's controls call one plain function. Under nbval or in the static HTML book there is no
one to click, so each panel also exposes ``run()``, which calls the same function with the
controls' current (default) values and shows the result in the cell's own output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..original.synthesis import SynthesisResult, synthesize
from ..original.voices import DEFAULT_VOICE, list_voices

DEFAULT_TEXT = "Kokoro speaks any voice you pick, at the speed you set."


@dataclass
class Panel:
    """A widget box, the function it drives, and the last result."""

    widget: Any  # ipywidgets.VBox
    run: Callable[[], Any]
    last: Any = None


def show_synthesis(result: SynthesisResult, title: str | None = None) -> None:
    """Display a player and a log-mel spectrogram of ``result`` in the current output."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    from .plots import audio_player, plot_mel

    display(audio_player(result.audio))
    plot_mel(result.audio, title=title or f"{result.voice}, speed {result.speed:g}: {result.seconds:.2f} s")
    plt.show()


def synthesis_panel(text: str = DEFAULT_TEXT, voice: str = DEFAULT_VOICE, speed: float = 1.0) -> Panel:
    """Text, voice and speed controls with a Speak button; ``run()`` speaks with the current values.

    The voice box lists the voices and also takes a mix, ``"name:weight,name:weight"``
    (see :mod:`kokoro_lab.original.mixing`); a bad mix is reported under the panel.
    """
    import ipywidgets as w

    text_box = w.Textarea(value=text, description="Text", layout=w.Layout(width="95%", height="4em"))
    # A combobox: pick a voice from the list, or type a mix such as "jf_alpha:0.7,jm_kumo:0.3".
    voice_box = w.Combobox(
        options=list_voices(),
        value=voice,
        placeholder="jf_alpha:0.7,jm_kumo:0.3",
        ensure_option=False,
        description="Voice",
    )
    speed_box = w.FloatSlider(value=speed, min=0.5, max=2.0, step=0.05, description="Speed")
    button = w.Button(description="Speak", button_style="primary", icon="play")
    out = w.Output()
    panel = Panel(widget=w.VBox([text_box, w.HBox([voice_box, speed_box, button]), out]), run=lambda: None)

    def speak() -> SynthesisResult:
        if not text_box.value.strip():
            raise ValueError("The text box is empty; type something to say.")
        panel.last = synthesize(text_box.value, voice=voice_box.value.strip(), speed=speed_box.value)
        return panel.last

    def on_click(_):
        out.clear_output()
        try:
            result = speak()
        except ValueError as err:  # bad text: say what to change, keep the panel alive
            out.append_stdout(f"Cannot speak this: {err}\n")
            return
        with out:
            show_synthesis(result)

    button.on_click(on_click)

    def run() -> SynthesisResult:
        result = speak()
        show_synthesis(result)
        return result

    panel.run = run
    return panel


def conversion_panel(
    output_dir, bucket: str = "2s", precision: str = "fp16", compress: str | None = None
) -> Panel:
    """Bucket, precision and compression controls with a Convert button.

    Packages are written to ``output_dir`` under their default names. An existing package is
    replaced only when "Replace" is ticked; otherwise the panel says so and keeps it. ``run()``
    converts with the current values and shows the summary of the saved package.
    """
    from pathlib import Path

    import ipywidgets as w

    from ..coreml import BUCKETS, COMPRESSIONS, PRECISIONS
    from ..coreml.convert import default_output

    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise NotADirectoryError(f"{output_dir} is not a directory; create it first.")
    bucket_box = w.Dropdown(
        options=[(f"{b.name}: ≤ {b.max_phonemes} phonemes", b.name) for b in BUCKETS.values()],
        value=bucket,
        description="Bucket",
    )
    precision_box = w.ToggleButtons(options=list(PRECISIONS), value=precision, description="Precision")
    compress_box = w.Dropdown(
        options=[("none", None)] + [(c, c) for c in COMPRESSIONS if c], value=compress, description="Weights"
    )
    replace_box = w.Checkbox(value=False, description="Replace an existing package")
    button = w.Button(description="Convert", button_style="primary", icon="cogs")
    out = w.Output()
    panel = Panel(
        widget=w.VBox(
            [w.HBox([bucket_box, compress_box]), w.HBox([precision_box, replace_box, button]), out]
        ),
        run=lambda: None,
    )

    def convert_now(progress: bool = True):
        from ..coreml import convert

        path = output_dir / default_output(bucket_box.value, precision_box.value, compress_box.value)
        panel.last = convert(
            bucket_box.value,
            precision_box.value,
            compress_box.value,
            output=path,
            overwrite=replace_box.value,
            progress=progress,
        )
        return panel.last

    def show(result) -> None:
        from ..coreml import inspect

        print(f"{result.path.name}: {result.size_bytes / 1e6:.1f} MB, {result.total_seconds:.0f} s")
        print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
        print(inspect(result.path))

    def on_click(_):
        out.clear_output()
        button.disabled = True
        try:
            with out:  # coremltools' progress bars and the step lines appear here
                show(convert_now())
        except (ValueError, OSError) as err:
            out.append_stdout(f"Cannot convert: {err}\n")
        finally:
            button.disabled = False

    button.on_click(on_click)

    def run(progress: bool = False):
        """What clicking "Convert" does, without the progress lines unless asked (a static page)."""
        result = convert_now(progress)
        show(result)
        return result

    panel.run = run
    return panel
