"""Weight compression schemes and named variants, with their size and deployment target.

A :class:`Scheme` says how one weight tensor is stored in a Core ML package:

* ``palettize``: every value replaced by an index into a k-means look-up table (LUT) of
  ``2**nbits`` values; one table per tensor (``per_tensor``) or one per ``group_size`` output
  channels (``per_grouped_channel``). The tables are float16, or int8 with one float16 scale
  per tensor (``lut_dtype="int8"``, coremltools' joint palettization + quantization).
* ``linear``: symmetric integer quantization, one float16 scale per output channel
  (``per_channel``) or per ``block_size`` input channels of each output channel (``per_block``).

A :class:`Variant` is a whole-model choice: a default scheme and per-layer-group overrides
(:mod:`.layer_groups`), e.g. 3-bit palettes everywhere but the duration predictor at 4 bits.
``None`` as a scheme keeps the weights in float16.

Deployment targets: per-tensor palettes and per-channel int8 load on iOS 16 / macOS 13 and later.
Grouped palettes, int4, per-block scales and int8 tables need the iOS 18 opset, so a package
using them loads only on iOS 18 / macOS 15 and later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PALETTIZE, LINEAR = "palettize", "linear"
GRANULARITIES = {PALETTIZE: ("per_tensor", "per_grouped_channel"), LINEAR: ("per_channel", "per_block")}
NBITS = {PALETTIZE: (1, 2, 3, 4, 6, 8), LINEAR: (4, 8)}
TARGETS = ("iOS16", "iOS17", "iOS18")  # oldest first; a package runs on its target and later
TARGET_OS = {"iOS16": "iOS 16 / macOS 13", "iOS17": "iOS 17 / macOS 14", "iOS18": "iOS 18 / macOS 15"}
FLOAT16_BYTES = 2


@dataclass(frozen=True)
class Scheme:
    """How one weight tensor is stored (see the module docstring)."""

    method: str  # "palettize" or "linear"
    nbits: int
    granularity: str
    group_size: int = 0  # output channels per table (per_grouped_channel only)
    block_size: int = 0  # input channels per scale (per_block only)
    lut_dtype: str = "float16"  # or "int8" (palettize only)

    def __post_init__(self) -> None:
        if self.method not in GRANULARITIES:
            raise ValueError(f"Unknown method {self.method!r}; use 'palettize' or 'linear'.")
        if self.nbits not in NBITS[self.method]:
            raise ValueError(f"{self.method} supports {NBITS[self.method]} bits, not {self.nbits}.")
        if self.granularity not in GRANULARITIES[self.method]:
            raise ValueError(
                f"{self.method} granularity must be one of {GRANULARITIES[self.method]}, not {self.granularity!r}."
            )
        if (self.group_size > 0) != (self.granularity == "per_grouped_channel"):
            raise ValueError("group_size > 0 goes with granularity='per_grouped_channel', and only with it.")
        if (self.block_size > 0) != (self.granularity == "per_block"):
            raise ValueError("block_size > 0 goes with granularity='per_block', and only with it.")
        if self.lut_dtype not in ("float16", "int8") or (
            self.lut_dtype == "int8" and self.method != PALETTIZE
        ):
            raise ValueError("lut_dtype is 'float16', or 'int8' for a palettize scheme.")

    @property
    def minimum_target(self) -> str:
        """The oldest deployment target whose opset holds this storage."""
        ios18 = (
            self.granularity in ("per_grouped_channel", "per_block")
            or (self.method == LINEAR and self.nbits == 4)
            or self.lut_dtype == "int8"
        )
        return "iOS18" if ios18 else "iOS16"

    @property
    def label(self) -> str:
        """A short description: "4-bit palette, a table per 16 channels"."""
        if self.method == PALETTIZE:
            where = (
                "per tensor"
                if self.granularity == "per_tensor"
                else f"a table per {self.group_size} channels"
            )
            lut = ", int8 tables" if self.lut_dtype == "int8" else ""
            return f"{self.nbits}-bit palette, {where}{lut}"
        where = (
            "per channel" if self.granularity == "per_channel" else f"a scale per {self.block_size} inputs"
        )
        return f"int{self.nbits}, {where}"

    def block_sizes(self, shape: Sequence[int], out_axis: int, in_axis: int) -> list[int] | None:
        """coremltools' block sizes for a weight of ``shape`` (0: the whole axis).

        Returns None when the shape does not divide into the groups or blocks: coremltools then
        leaves the tensor uncompressed, and so does the emulation.
        """
        sizes = [0] * len(shape)
        if self.granularity == "per_grouped_channel":
            if shape[out_axis] % self.group_size:
                return None
            sizes[out_axis] = self.group_size
        elif self.granularity == "per_channel":
            sizes[out_axis] = 1
        elif self.granularity == "per_block":
            if shape[in_axis] % self.block_size:
                return None
            sizes[out_axis], sizes[in_axis] = 1, self.block_size
        return sizes

    def stored_bytes(self, shape: Sequence[int], out_axis: int = 0, in_axis: int = 1) -> float:
        """Bytes this scheme stores for a weight of ``shape``: the packed indices or integers plus
        the tables or scales. A shape it cannot compress stays float16."""
        numel = math.prod(shape)
        sizes = self.block_sizes(shape, out_axis, in_axis)
        if sizes is None:
            return numel * FLOAT16_BYTES
        payload = numel * self.nbits / 8
        if self.method == PALETTIZE:
            tables = 1 if self.granularity == "per_tensor" else shape[out_axis] // self.group_size
            entry = 1 if self.lut_dtype == "int8" else FLOAT16_BYTES
            extra = FLOAT16_BYTES if self.lut_dtype == "int8" else 0  # the tables' one scale
            return payload + tables * 2**self.nbits * entry + extra
        scales = math.prod(n // b if b else 1 for n, b in zip(shape, sizes, strict=True))
        zero_points = scales if self.granularity == "per_channel" else 0  # the iOS16 op stores them
        return payload + scales * FLOAT16_BYTES + zero_points


def palette(nbits: int, group_size: int = 0, lut_dtype: str = "float16") -> Scheme:
    """A k-means palette scheme: per tensor, or one table per ``group_size`` output channels."""
    granularity = "per_grouped_channel" if group_size else "per_tensor"
    return Scheme(PALETTIZE, nbits, granularity, group_size=group_size, lut_dtype=lut_dtype)


INT8 = Scheme(LINEAR, 8, "per_channel")
INT4_BLOCK32 = Scheme(LINEAR, 4, "per_block", block_size=32)


@dataclass(frozen=True)
class Variant:
    """A whole-model compression: ``default`` for every large weight, ``overrides`` per layer group.

    ``None`` (as default or override) keeps the weights in float16.
    """

    name: str
    default: Scheme | None
    overrides: Mapping[str, Scheme | None] = field(default_factory=dict)  # layer group → scheme
    summary: str = ""

    def __post_init__(self) -> None:
        from .layer_groups import check_group

        for group in self.overrides:
            check_group(group)
        object.__setattr__(self, "overrides", dict(self.overrides))

    def scheme_for(self, weight_name: str) -> Scheme | None:
        """The scheme of one weight, by its KModel parameter name."""
        from .layer_groups import group_of

        group = group_of(weight_name)
        return self.overrides[group] if group in self.overrides else self.default

    @property
    def schemes(self) -> list[Scheme]:
        """Every scheme the variant uses."""
        return [s for s in (self.default, *self.overrides.values()) if s is not None]

    @property
    def minimum_target(self) -> str:
        """The oldest deployment target that holds every scheme used."""
        return max((s.minimum_target for s in self.schemes), key=TARGETS.index, default="iOS16")

    @property
    def label(self) -> str:
        if not self.overrides:
            return self.default.label if self.default else "float16"
        parts = [f"{g}: {s.label if s else 'float16'}" for g, s in self.overrides.items()]
        return f"{self.default.label if self.default else 'float16'}; " + "; ".join(parts)

    def __hash__(self) -> int:
        return hash((self.name, self.default, tuple(self.overrides.items())))


def _variants(*variants: Variant) -> dict[str, Variant]:
    return {v.name: v for v in variants}


VARIANTS: dict[str, Variant] = _variants(
    Variant("int8", INT8, summary="int8, one scale per output channel"),
    Variant("palettize6", palette(6), summary="6-bit palette per tensor"),
    Variant("palettize4", palette(4), summary="4-bit palette per tensor"),
    Variant(
        "palettize4-fc8",
        palette(4),
        {"adain_fc": INT8},
        summary="4-bit palette per tensor, AdaIN fc at int8",
    ),
    Variant("grouped6", palette(6, 16), summary="6-bit palettes, a table per 16 output channels"),
    Variant("grouped4", palette(4, 16), summary="4-bit palettes, a table per 16 output channels"),
    Variant("grouped3", palette(3, 16), summary="3-bit palettes, a table per 16 output channels"),
    Variant("grouped2", palette(2, 16), summary="2-bit palettes, a table per 16 output channels"),
    Variant(
        "grouped4-lut8",
        palette(4, 16, "int8"),
        summary="4-bit palettes per 16 output channels, tables stored as int8",
    ),
    Variant("int4-block32", INT4_BLOCK32, summary="int4, a scale per 32 input channels"),
)
# Mixed bit widths, chosen from bench/results/sensitivity.json (one layer group at a time, Harvard
# list 3). ALBERT cannot take 3 bits (it garbles words), the generator's residual blocks lose the
# speaker at 3 bits; the AdaIN fc layers take one table per tensor, since the decoder's (2,180 and
# 1,028 rows) do not divide into groups of 16 and would otherwise stay float16.
_ADAIN_PER_TENSOR = {"adain_fc": palette(4)}
VARIANTS.update(
    _variants(
        Variant(
            "grouped4-fct",
            palette(4, 16),
            _ADAIN_PER_TENSOR,
            summary="4-bit palettes per 16 channels, AdaIN fc per tensor",
        ),
        Variant(
            "mixed34a",
            palette(3, 16),
            {"bert": palette(4, 16), "generator_resblocks": palette(4, 16), "adain_fc": palette(3)},
            summary="3-bit palettes per 16 channels; ALBERT and the generator's resblocks at 4 bits",
        ),
        Variant(
            "mixed34b",
            palette(3, 16),
            {
                "bert": palette(4, 16),
                "bert_encoder": palette(4, 16),
                "predictor_duration": palette(4, 16),
                "generator_noise": palette(4, 16),
                "adain_fc": palette(3),
            },
            summary="3-bit palettes per 16 channels; ALBERT, durations and the noise branch at 4 bits",
        ),
    )
)
RECOMMENDED = Variant(
    "small",
    palette(4, 16),
    {
        **_ADAIN_PER_TENSOR,
        "bert": palette(6, 16),
        "bert_encoder": palette(3, 16),
        "text_encoder": palette(3, 16),
    },
    summary="4-bit palettes per 16 channels; ALBERT at 6 bits, the text encoders at 3, AdaIN fc per tensor",
)
VARIANTS[RECOMMENDED.name] = RECOMMENDED
# What bench/quality.py measured for it (5 s package; 20 Harvard sentences said by jm_kumo, Whisper
# tiny.en), quoted by the CLI's help; tests/test_compression_schemes.py checks them against
# bench/results/quality.json.
RECOMMENDED_SIZE_MB = 44.8
RECOMMENDED_WER = 0.050
RECOMMENDED_FP32_WER = 0.056
MODES: tuple[str, ...] = ("int8", "palettize6", "palettize4")  # the iOS 16 variants of the first chapters


def get_variant(variant: str | Variant) -> Variant:
    """A :class:`Variant` by name (or the variant itself).

    Raises:
        ValueError: an unknown name; the message lists the known ones.
    """
    if isinstance(variant, Variant):
        return variant
    if variant not in VARIANTS:
        raise ValueError(f"Unknown compression {variant!r}; choose one of {', '.join(VARIANTS)}.")
    return VARIANTS[variant]


def check_target(variant: Variant, deployment_target: str) -> None:
    """Raise if ``variant`` needs a newer deployment target than ``deployment_target``.

    Raises:
        ValueError: naming the target to choose and what it costs the user.
    """
    if deployment_target not in TARGETS:
        raise ValueError(
            f"Unknown deployment target {deployment_target!r}; choose one of {', '.join(TARGETS)}."
        )
    need = variant.minimum_target
    if TARGETS.index(deployment_target) < TARGETS.index(need):
        raise ValueError(
            f"Compression {variant.name!r} ({variant.label}) needs minimum_deployment_target={need} "
            f"(CLI: --target {need}), so the package will load only on {TARGET_OS[need]} and later; "
            f"{deployment_target} cannot hold it. Choose --target {need} or an iOS16 variant "
            f"({', '.join(n for n, v in VARIANTS.items() if v.minimum_target == 'iOS16')})."
        )
