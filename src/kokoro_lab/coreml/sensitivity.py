"""Per-layer sensitivity: compress one layer group at a time and measure what it costs.

Each group of :mod:`.layer_groups` is compressed alone (every other weight stays float16, as in
an fp16 package), the voice speaks the sentences, and the rendering is scored against the
float32 rendering (:func:`kokoro_lab.coreml.listening.score`). A group whose compression moves
the log-mel distance or the word error rate most is where bits are worth spending; the others
can take fewer. :func:`mixed_variant` turns the measurement into a mixed-bit variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .layer_groups import GROUP_NAMES, group_of
from .schemes import FLOAT16_BYTES, Scheme, Variant
from .weight_compression import compressed_weights, weight_axes, weight_targets


@dataclass(frozen=True)
class GroupSensitivity:
    """What compressing one layer group alone costs."""

    group: str
    scheme: str  # the scheme's label
    params: int  # weights of the group that the scheme compresses
    saved_mb: float  # MB saved against float16
    wer: float
    cer: float
    log_mel_db: float  # aligned log-mel distance to float32, mean over the sentences
    speaker_similarity: float  # to float32, mean over the sentences

    def as_row(self) -> dict:
        return asdict(self)


def group_variant(group: str, scheme: Scheme) -> Variant:
    """A variant that compresses ``group`` with ``scheme`` and keeps every other weight float16."""
    return Variant(f"{group}: {scheme.label}", None, {group: scheme})


def group_savings(model: torch.nn.Module, scheme: Scheme) -> dict[str, tuple[int, float]]:
    """Per group: (weights compressed, MB saved against float16) if ``scheme`` compresses it."""
    out: dict[str, tuple[int, float]] = dict.fromkeys(GROUP_NAMES, (0, 0.0))
    for name, module, attr in weight_targets(model):
        p = getattr(module, attr)
        shape = tuple(p.shape)
        n, mb = out[group_of(name)]
        saved = (p.numel() * FLOAT16_BYTES - scheme.stored_bytes(shape, *weight_axes(module))) / 1e6
        out[group_of(name)] = (n + p.numel(), mb + saved)
    return out


def measure_sensitivity(
    model: torch.nn.Module,
    speaker,
    reference,
    scheme: Scheme,
    groups: Sequence[str] = GROUP_NAMES,
    asr=None,
    progress=None,
) -> list[GroupSensitivity]:
    """Compress each group alone with ``scheme`` and score the rendering.

    Args:
        model: the ``KModel`` that ``speaker`` speaks with.
        speaker: a :class:`kokoro_lab.coreml.listening.Speaker`.
        reference: ``speaker``'s float32 :class:`~kokoro_lab.coreml.listening.Rendering` of the sentences.
        scheme: e.g. ``palette(4)`` or ``palette(3, 16)``.
        groups: the groups to measure (default: all twelve).
        asr: a loaded Whisper model (default tiny.en).
        progress: optional callable(row) after each group.

    Returns:
        One :class:`GroupSensitivity` per group, in the order of ``groups``.
    """
    from .listening import score

    savings = group_savings(model, scheme)
    rows = []
    for group in groups:
        variant = group_variant(group, scheme)
        with compressed_weights(model, variant):
            rendering = speaker.render(reference.texts, variant.name)
        s = score(rendering, reference, asr)
        n, saved = savings[group]
        rows.append(
            GroupSensitivity(group, scheme.label, n, saved, s.wer, s.cer, s.log_mel_db, s.speaker_similarity)
        )
        if progress:
            progress(rows[-1])
    return rows


def mixed_variant(
    name: str,
    rows: Sequence[GroupSensitivity],
    low: Scheme,
    high: Scheme,
    budget_mb: float,
    size_of,
    keep: dict[str, Scheme | None] | None = None,
) -> Variant:
    """The variant with the most groups at ``low`` bits whose size stays within ``budget_mb``.

    Groups take ``low`` in order of measured cost per MB saved (log-mel increase at ``low``,
    from ``rows``), cheapest first, until the size fits; the rest stay at ``high``.

    Args:
        rows: :func:`measure_sensitivity` at ``low``.
        size_of: callable(Variant) → MB, e.g. ``lambda v: package_megabytes(model, v, fp16_mb)``.
        keep: groups whose scheme is fixed (e.g. ``{"adain_fc": INT8}``).

    Raises:
        ValueError: even every group at ``low`` exceeds the budget.
    """
    keep = dict(keep or {})
    order = sorted(
        (r for r in rows if r.group not in keep and r.saved_mb > 0),
        key=lambda r: r.log_mel_db / r.saved_mb,
    )
    chosen: dict[str, Scheme | None] = {}
    for r in order:
        variant = Variant(name, high, {**keep, **chosen})
        if size_of(variant) <= budget_mb:
            return variant
        chosen[r.group] = low
    variant = Variant(name, high, {**keep, **chosen})
    if size_of(variant) > budget_mb:
        raise ValueError(
            f"Even with every group at {low.label}, {name} is {size_of(variant):.1f} MB > {budget_mb} MB."
        )
    return variant
