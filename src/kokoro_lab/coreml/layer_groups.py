"""Kokoro's large weights in twelve groups, by the part of the model they belong to.

Per-layer compression (mixed bit widths) and the sensitivity measurement both work on these
groups rather than on 197 single tensors: a group is small enough to be meaningful (the duration
LSTM, the generator's upsampling convolutions, …) and large enough to matter in megabytes.

The AdaIN ``fc`` layers, which turn the voice style into each normalisation's scale and shift,
form their own group wherever they sit (predictor, decoder, generator): they are the one place the
voice enters the network.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerGroup:
    """A named set of weights, matched by parameter-name prefix."""

    name: str
    prefixes: tuple[str, ...]  # parameter names (as in ``KModel.named_parameters()``) they start with
    description: str


ADAIN_FC = "adain_fc"
GROUPS: tuple[LayerGroup, ...] = (
    # First: an ``.fc.`` weight is AdaIN's, whatever module holds it.
    LayerGroup(ADAIN_FC, (), "AdaIN / AdaLayerNorm fc: style → scale and shift, everywhere"),
    LayerGroup("bert", ("bert.",), "ALBERT: embeddings and the shared transformer layer"),
    LayerGroup("bert_encoder", ("bert_encoder.",), "ALBERT's 768 features → 512"),
    LayerGroup("predictor_text_encoder", ("predictor.text_encoder.",), "prosody text encoder LSTMs"),
    LayerGroup(
        "predictor_duration", ("predictor.lstm.", "predictor.duration_proj."), "duration LSTM and head"
    ),
    LayerGroup(
        "predictor_f0_n",
        ("predictor.shared.", "predictor.F0", "predictor.N"),
        "F0 and energy: shared LSTM, blocks, heads",
    ),
    LayerGroup("text_encoder", ("text_encoder.",), "phoneme embedding, CNN and LSTM"),
    LayerGroup(
        "decoder_encode_decode",
        ("decoder.encode.", "decoder.decode.", "decoder.F0_conv.", "decoder.N_conv.", "decoder.asr_res."),
        "decoder: encode and the four decode blocks",
    ),
    LayerGroup(
        "generator_ups", ("decoder.generator.ups.",), "generator upsampling (transposed convolutions)"
    ),
    LayerGroup("generator_resblocks", ("decoder.generator.resblocks.",), "generator residual blocks"),
    LayerGroup(
        "generator_noise",
        ("decoder.generator.noise_convs.", "decoder.generator.noise_res."),
        "generator: harmonic-source convolutions and their residual blocks",
    ),
    LayerGroup("generator_conv_post", ("decoder.generator.conv_post.",), "generator output convolution"),
)
GROUP_NAMES: tuple[str, ...] = tuple(g.name for g in GROUPS)


def group_of(weight_name: str) -> str:
    """The group of a weight, e.g. ``"decoder.generator.ups.0.weight"`` → ``"generator_ups"``.

    Raises:
        ValueError: the name belongs to no group (not one of Kokoro's weights).
    """
    if ".fc." in f".{weight_name}":
        return ADAIN_FC
    for group in GROUPS:
        if weight_name.startswith(group.prefixes):
            return group.name
    raise ValueError(f"{weight_name!r} is in no layer group; groups cover KModel parameter names only.")


def check_group(name: str) -> str:
    """``name`` if it is a group; otherwise a ValueError listing the groups."""
    if name not in GROUP_NAMES:
        raise ValueError(f"Unknown layer group {name!r}; choose one of {', '.join(GROUP_NAMES)}.")
    return name
