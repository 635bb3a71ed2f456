"""Convert the two-stage pipeline: one ``.mlpackage`` per text bucket and per frame bucket, plus a manifest.

Each stage is traced at its fixed shape (``torch.jit.trace`` of :class:`TextStage` or
:class:`AcousticStage`, exact mode) and converted like the single graph
(:func:`kokoro_lab.coreml.convert.convert_traced`): typed, named inputs and outputs, float32
islands in fp16 (the text stage has only the ``length`` island), optional weight compression,
metadata with the conversion id, atomic saves. The directory is written under a hidden name and
renamed into place once complete, so a failed conversion leaves nothing half-written.

Every acoustic package takes the largest text bucket's token count: the acoustic stage's cost does
not depend on it (``bench/results/pipeline.json``), and zero-padded tokens give the same bits, so
one family of frame buckets serves every text bucket.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import OutputExistsError
from .convert import (
    AUTHOR,
    COMPRESSIONS,
    DEPLOYMENT_TARGETS,
    LICENSE,
    PRECISIONS,
    _choice,
    check_destination,
    convert_traced,
    package_size,
    quiet_trace,
    save_package,
)
from .heap import mapped_blocks, trim_heap
from .ladder import FRAME_BUCKETS, TEXT_BUCKETS
from .manifest import (
    ACOUSTIC_INPUTS,
    ACOUSTIC_OUTPUTS,
    TEXT_INPUTS,
    TEXT_OUTPUTS,
    PipelineManifest,
    StagePackage,
    conversion_id,
    write_manifest,
)


def text_package_name(max_tokens: int) -> str:
    return f"text-{max_tokens}.mlpackage"


def acoustic_package_name(max_frames: int) -> str:
    return f"acoustic-{max_frames}.mlpackage"


def text_example_inputs(max_tokens: int):
    """Inputs to trace the text stage with (any valid values do: nothing branches on them)."""
    import torch

    from ..rewrite.inputs import pad_inputs

    input_ids, attention_mask = pad_inputs([50, 83, 54, 156, 57, 135][: max_tokens - 2], max_tokens)
    return input_ids, attention_mask, torch.zeros(1, 256), torch.ones(1)


def acoustic_example_inputs(max_tokens: int, max_frames: int):
    """Inputs to trace the acoustic stage with: three tokens of one frame each, zero features."""
    import torch

    pred_dur = torch.zeros(1, max_tokens)
    pred_dur[0, :3] = 1.0
    d, t_en = torch.zeros(1, max_tokens, 640), torch.zeros(1, 512, max_tokens)
    return d, t_en, pred_dur, torch.zeros(1, 256), torch.zeros(1, 9)


def trace_text_stage(model, max_tokens: int):
    """``torch.jit.trace`` of :class:`TextStage` at ``max_tokens`` tokens (exact mode)."""
    import torch

    from ..rewrite.stages import TextStage

    stage = TextStage(model, max_tokens).eval()
    with mapped_blocks(), torch.no_grad(), quiet_trace():  # kokoro_lab.coreml.heap
        return torch.jit.trace(stage, text_example_inputs(max_tokens), check_trace=False)


def trace_acoustic_stage(model, max_tokens: int, max_frames: int):
    """``torch.jit.trace`` of :class:`AcousticStage` at ``max_tokens`` × ``max_frames`` (exact mode)."""
    import torch

    from ..rewrite.stages import AcousticStage

    stage = AcousticStage(model, max_tokens, max_frames).eval()
    with mapped_blocks(), torch.no_grad(), quiet_trace():  # kokoro_lab.coreml.heap
        return torch.jit.trace(stage, acoustic_example_inputs(max_tokens, max_frames), check_trace=False)


def text_program(traced, max_tokens: int, precision: str, deployment_target: str = "iOS17", quiet=False):
    """The text stage's ML program: ``input_ids``, ``attention_mask``, ``ref_s``, ``speed`` in."""
    shapes = {
        "input_ids": (1, max_tokens),
        "attention_mask": (1, max_tokens),
        "ref_s": (1, 256),
        "speed": (1,),
    }
    inputs = {n: (d, shapes[n]) for n, (d, _) in TEXT_INPUTS.items()}
    outputs = {n: d for n, (d, _) in TEXT_OUTPUTS.items()}
    return convert_traced(traced, inputs, outputs, precision, deployment_target, quiet)


def acoustic_program(
    traced, max_tokens: int, max_frames: int, precision: str, deployment_target: str = "iOS17", quiet=False
):
    """The acoustic stage's ML program: ``d``, ``t_en``, ``pred_dur``, ``ref_s``, ``random_phases`` in."""
    L = max_tokens
    shapes = {
        "d": (1, L, 640),
        "t_en": (1, 512, L),
        "pred_dur": (1, L),
        "ref_s": (1, 256),
        "random_phases": (1, 9),
    }
    inputs = {n: (d, shapes[n]) for n, (d, _) in ACOUSTIC_INPUTS.items()}
    outputs = {n: d for n, (d, _) in ACOUSTIC_OUTPUTS.items()}
    return convert_traced(traced, inputs, outputs, precision, deployment_target, quiet)


def set_stage_metadata(
    mlmodel,
    stage: str,
    max_tokens: int,
    max_frames: int | None,
    precision: str,
    compress: str | None,
    weights: str,
    conversion: str,
) -> dict[str, str]:
    """Author, license, descriptions and ``user_defined_metadata`` of a stage package."""
    from .. import __version__

    mlmodel.author, mlmodel.license, mlmodel.version = AUTHOR, LICENSE, __version__
    if stage == "text":
        mlmodel.short_description = (
            f"Kokoro-82M text stage, {max_tokens} tokens: phoneme ids to durations and the encoders' "
            f"features per token ({precision}{f', {compress} weights' if compress else ''})."
        )
        described = {**TEXT_INPUTS}, {**TEXT_OUTPUTS}
    else:
        mlmodel.short_description = (
            f"Kokoro-82M acoustic stage, {max_frames} frames ({max_frames * 600 / 24000:g} s): the text "
            f"stage's features for up to {max_tokens} tokens to 24 kHz audio ({precision}"
            f"{f', {compress} weights' if compress else ''})."
        )
        described = {**ACOUSTIC_INPUTS}, {**ACOUSTIC_OUTPUTS}
    for name, (_, text) in described[0].items():
        mlmodel.input_description[name] = text
    for name, (_, text) in described[1].items():
        mlmodel.output_description[name] = text
    meta = {
        "kokoro_lab.version": __version__,
        "kokoro_lab.stage": stage,
        "kokoro_lab.max_tokens": str(max_tokens),
        **({"kokoro_lab.max_frames": str(max_frames)} if max_frames is not None else {}),
        "kokoro_lab.sample_rate": "24000",
        "kokoro_lab.precision": precision,
        "kokoro_lab.compression": compress or "none",
        "kokoro_lab.weights": weights,
        "kokoro_lab.conversion_id": conversion,
    }
    mlmodel.user_defined_metadata.update(meta)
    return meta


@dataclass
class PipelineConversion:
    """What :func:`convert_pipeline` wrote, and the seconds and bytes of each package."""

    directory: Path
    manifest: PipelineManifest
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)  # package → step → s
    sizes: dict[str, int] = field(default_factory=dict)  # package → bytes

    @property
    def total_seconds(self) -> float:
        return sum(sum(s.values()) for s in self.seconds.values())

    @property
    def size_bytes(self) -> int:
        return sum(self.sizes.values())


def _check_buckets(kind: str, chosen: Sequence[int] | None, ladder: Sequence[int]) -> tuple[int, ...]:
    if chosen is None:
        return tuple(ladder)
    chosen = tuple(sorted({int(b) for b in chosen}))
    unknown = [b for b in chosen if b not in ladder]
    if unknown or not chosen:
        raise ValueError(
            f"Unknown {kind} bucket(s) {unknown or '(none given)'}; choose from {', '.join(map(str, ladder))}."
        )
    return chosen


def check_output_directory(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate a pipeline output directory before the slow part; return it as a ``Path``."""
    path = Path(path)
    if path.suffix == ".mlpackage":
        raise ValueError(f"{path} is a package name; a pipeline is written to a directory (-o DIR).")
    return check_destination(path, overwrite)


def convert_pipeline(
    output: str | os.PathLike,
    text_buckets: Sequence[int] | None = None,
    frame_buckets: Sequence[int] | None = None,
    precision: str = "fp32",
    compress: str | None = None,
    overwrite: bool = False,
    model=None,
    progress: bool = True,
    weights: str | None = None,
    deployment_target: str = "iOS17",
) -> PipelineConversion:
    """Convert both stages for the chosen buckets into the directory ``output``.

    Args:
        output: the directory to write (it must not exist unless ``overwrite``).
        text_buckets: token counts from :data:`kokoro_lab.coreml.ladder.TEXT_BUCKETS` (default: all).
        frame_buckets: frame counts from :data:`kokoro_lab.coreml.ladder.FRAME_BUCKETS` (default: all).
        precision, compress, deployment_target: as for :func:`kokoro_lab.coreml.convert`.
        model: a ``kokoro.KModel`` loaded with ``disable_complex=True``; loaded when None.
        progress: print one line per step to stderr.
        weights: how to describe the weights in the metadata; default: the resolved source.

    Every acoustic package takes ``max(text_buckets)`` tokens.

    Raises:
        ValueError: an unknown bucket, precision, compression or target (the message lists the
            valid ones), or an output that names a package instead of a directory.
        OutputExistsError: ``output`` exists and ``overwrite`` is False.
    """
    texts = _check_buckets("text", text_buckets, TEXT_BUCKETS)
    frames = _check_buckets("frame", frame_buckets, FRAME_BUCKETS)
    _choice("precision", precision, PRECISIONS)
    _choice("compression", compress, COMPRESSIONS)
    _choice("deployment target", deployment_target, DEPLOYMENT_TARGETS)
    output = check_output_directory(output, overwrite)
    say: Callable[[str], None] = (
        (lambda m: print(f"kokoro-lab: {m}", file=sys.stderr)) if progress else (lambda m: None)
    )
    if model is None:
        from ..original.model import load_kmodel

        say("load…")
        model, source = load_kmodel(None, True)
        weights = weights or source.describe()
    weights = weights or "caller-provided kokoro.KModel"
    conversion = conversion_id(model, precision, compress, deployment_target)
    acoustic_tokens = max(texts)

    tmp = output.with_name(f".{output.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    seconds: dict[str, dict[str, float]] = {}
    sizes: dict[str, int] = {}
    try:
        jobs = [("text", L, None) for L in texts] + [("acoustic", acoustic_tokens, F) for F in frames]
        for stage, L, F in jobs:
            name = text_package_name(L) if stage == "text" else acoustic_package_name(F)
            took = seconds.setdefault(name, {})

            def step(what: str, func, *args, took=took, name=name):
                t0 = time.perf_counter()
                out = func(*args)
                took[what] = time.perf_counter() - t0
                say(f"{name}: {what} {took[what]:.1f} s")
                return out

            if stage == "text":
                traced = step("trace", trace_text_stage, model, L)
                mlmodel = step("convert", text_program, traced, L, precision, deployment_target, not progress)
            else:
                traced = step("trace", trace_acoustic_stage, model, L, F)
                mlmodel = step(
                    "convert", acoustic_program, traced, L, F, precision, deployment_target, not progress
                )
            del traced
            trim_heap()
            if compress is not None:
                from .compress import compress_weights

                mlmodel = step("compress", compress_weights, mlmodel, compress, not progress)
            set_stage_metadata(mlmodel, stage, L, F, precision, compress, weights, conversion)
            step("save", save_package, mlmodel, tmp / name)
            del mlmodel
            sizes[name] = package_size(tmp / name)
        from .. import __version__

        manifest = PipelineManifest(
            conversion_id=conversion,
            kokoro_lab_version=__version__,
            precision=precision,
            compression=compress or "none",
            deployment_target=deployment_target,
            weights=weights,
            text=[StagePackage(text_package_name(L), L) for L in texts],
            acoustic=[StagePackage(acoustic_package_name(F), acoustic_tokens, F) for F in frames],
        )
        write_manifest(tmp, manifest)
        _replace_directory(tmp, output, overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    result = PipelineConversion(output, manifest, seconds, sizes)
    say(
        f"wrote {output} ({result.size_bytes / 1e6:.0f} MB, {len(jobs)} packages) in {result.total_seconds:.0f} s"
    )
    return result


def _replace_directory(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename the complete ``tmp`` onto ``path``; an existing ``path`` is moved aside first."""
    old = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputExistsError(f"{path} appeared during the conversion; not replacing it.")
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except OSError:
        if old.exists():
            os.replace(old, path)  # put the previous directory back
        raise
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


__all__ = [
    "PipelineConversion",
    "acoustic_package_name",
    "acoustic_program",
    "check_output_directory",
    "convert_pipeline",
    "set_stage_metadata",
    "text_package_name",
    "text_program",
    "trace_acoustic_stage",
    "trace_text_stage",
]
