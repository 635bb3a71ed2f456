"""A panel for the pipeline chapter: type a text, see which bucket each stage picks.

Only the text stage runs (a fraction of a second): the frames it predicts choose the acoustic
stage's bucket. The single graph's choice is shown beside it, for comparison.
"""

from __future__ import annotations

from ..config import FRAMES_PER_SECOND
from ..coreml.buckets import BUCKETS
from ..coreml.ladder import LadderError
from .widgets import Panel

DEFAULT_TEXT = "Thank you."


def describe_choice(pipeline, text: str, voice: str = "jf_alpha", speed: float = 1.0) -> dict:
    """The buckets ``pipeline`` and the single graph pick for ``text``.

    Returns a dict with ``tokens``, ``frames``, ``text_bucket``, ``frame_bucket``, ``single_bucket``
    (a name, or None when no single-graph bucket fits), the padded shares of both, or ``error``
    (the message of a text that fits no bucket).
    """
    tokens, ref_s = pipeline.prepare(text, voice)
    try:
        c = pipeline.choose(tokens, ref_s, speed)
    except LadderError as err:
        return {"text": text, "tokens": len(tokens) + 2, "error": str(err)}
    fitting = [b for b in BUCKETS.values() if c.tokens <= b.max_tokens and c.frames <= b.max_frames]
    single = min(fitting, key=lambda b: b.max_frames) if fitting else None
    return {
        "text": text,
        "tokens": c.tokens,
        "frames": c.frames,
        "seconds": c.frames / FRAMES_PER_SECOND,
        "text_bucket": c.text_bucket,
        "frame_bucket": c.frame_bucket,
        "pipeline_padding": c.padded_frame_fraction,
        "single_bucket": single.name if single else None,
        "single_padding": 1 - c.frames / single.max_frames if single else None,
    }


def render_choice(info: dict) -> str:
    """Markdown lines for :func:`describe_choice`'s result."""
    if "error" in info:
        return f"**{info['tokens']} tokens**: {info['error']}"
    single = (
        f"the single graph's **{info['single_bucket']}** bucket ({info['single_padding']:.0%} padding)"
        if info["single_bucket"]
        else "no single-graph bucket"
    )
    return (
        f"**{info['tokens']} tokens → {info['frames']} frames ({info['seconds']:.2f} s)**\n\n"
        f"- text stage: the {info['text_bucket']}-token bucket\n"
        f"- acoustic stage: the {info['frame_bucket']}-frame bucket ({info['pipeline_padding']:.0%} padding)\n"
        f"- for comparison: {single}"
    )


def bucket_panel(pipeline, text: str = DEFAULT_TEXT, voice: str = "jf_alpha") -> Panel:
    """A text box and a button; ``run()`` shows the buckets for the current text."""
    import ipywidgets as w
    from IPython.display import Markdown, display

    text_box = w.Textarea(value=text, description="Text", layout=w.Layout(width="95%", height="3em"))
    speed_box = w.FloatSlider(value=1.0, min=0.5, max=2.0, step=0.05, description="Speed")
    button = w.Button(description="Which buckets?", button_style="primary")
    out = w.Output()
    panel = Panel(w.VBox([text_box, speed_box, button, out]), run=lambda: None)

    def run():
        info = describe_choice(pipeline, text_box.value, voice, speed_box.value)
        out.clear_output()
        with out:
            display(Markdown(render_choice(info)))
        panel.last = info
        return info

    button.on_click(lambda _: run())
    panel.run = run
    return panel


__all__ = ["bucket_panel", "describe_choice", "render_choice"]
