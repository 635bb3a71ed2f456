"""Convert ``KokoroCompleteCoreML`` to a CoreML ML program (``.mlpackage``), one bucket at a time.

Pipeline: build the fixed-shape module (exact mode) → ``torch.jit.trace`` → ``ct.convert`` to an
ML program with named, typed inputs and outputs → optional weight compression → metadata →
atomic save.

Why TorchScript tracing and not ``torch.export``: coremltools 9.0's ``torch.export`` frontend has
no translation for the LSTM (``NotImplementedError: Unsupported fx node lstm, kind lstm.input``),
and Kokoro has six bidirectional LSTMs. ``torch.jit.trace`` of the module equals eager mode bit
for bit (``tests/test_coreml_modules.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..atomic import OutputExistsError
from .buckets import Bucket, get_bucket
from .heap import trim_heap
from .schemes import VARIANTS

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "fp16")
COMPRESSIONS = (None, *VARIANTS)  # "small" is the recommended one; see kokoro_lab.coreml.schemes
DEPLOYMENT_TARGETS = ("iOS17", "iOS18")

INPUTS: dict[str, tuple[str, str]] = {  # name → (dtype, description); shapes come from the bucket
    "input_ids": ("int32", "Phoneme token ids [1, MAX_TOKENS]: 0, the ids, 0, then zeros (pad_inputs())."),
    "ref_s": ("float32", "Voice style [1, 256]: [:128] decoder style, [128:] prosody style (style_for())."),
    "random_phases": ("float32", "Initial harmonic phases [1, 9]; unused by the faithful sine source."),
    "attention_mask": ("int32", "[1, MAX_TOKENS]: 1 for the boundaries and tokens, 0 for padding."),
    "speed": ("float32", "Speaking rate [1]; 1.0 is normal, larger is faster."),
}
OUTPUTS: dict[str, tuple[str, str]] = {
    "audio": ("float32", "24 kHz waveform [1, 1, MAX_FRAMES·600]; zero after audio_length_samples."),
    "audio_length_samples": ("int32", "Valid samples at the start of audio [1]."),
    "pred_dur": ("float32", "Frames per token [1, MAX_TOKENS] (600 samples each); 0 at padding."),
    "frame_overflow": ("int32", "Frames the text needed beyond MAX_FRAMES [1]; > 0 means cut off."),
}
AUTHOR = "kokoro-lab (Kokoro-82M by hexgrad, StyleTTS 2 / iSTFTNet architecture)"
LICENSE = "Apache-2.0 (Kokoro-82M weights and code)"


@dataclass
class ConversionResult:
    """What :func:`convert` wrote and how long each step took."""

    path: Path
    bucket: Bucket
    precision: str
    compress: str | None
    seconds: dict[str, float]  # step → wall time: load, trace, convert, compress, save
    size_bytes: int
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


def _choice(kind: str, value, valid) -> None:
    if value not in valid:
        shown = ", ".join(repr(v) for v in valid)
        raise ValueError(f"Unknown {kind} {value!r}; choose one of {shown}.")


def default_output(bucket: str, precision: str, compress: str | None) -> Path:
    """``kokoro-82m-<bucket>-<precision>[-<compress>].mlpackage`` in the working directory."""
    return Path(f"kokoro-82m-{bucket}-{precision}{f'-{compress}' if compress else ''}.mlpackage")


def check_output(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Validate an ``.mlpackage`` output path before the slow part; return it as a ``Path``.

    Raises:
        ValueError: the name does not end in ``.mlpackage``.
        OutputExistsError: something exists there and ``overwrite`` is False.
        NotADirectoryError: the parent is not a directory (or does not exist).
        PermissionError: the parent is not writable.
    """
    path = Path(path)
    if path.suffix != ".mlpackage":
        raise ValueError(f"{path} must end in .mlpackage (an ML program is a package directory).")
    return check_destination(path, overwrite)


def check_destination(path: Path, overwrite: bool = False) -> Path:
    """``path`` may be written: free (or ``overwrite``), in an existing, writable directory.

    Raises:
        OutputExistsError, NotADirectoryError, PermissionError: as :func:`check_output`.
    """
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputExistsError(
            f"{path} already exists; pass overwrite=True (CLI: --overwrite) to replace it."
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise NotADirectoryError(
            f"Output directory {parent} does not exist or is not a directory; create it first."
        )
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"Output directory {parent} is not writable; choose another path.")
    return path


def save_package(mlmodel, path: Path, overwrite: bool = False) -> Path:
    """Save ``mlmodel`` to ``path`` atomically: into a hidden sibling, then renamed into place.

    A package is a directory, which ``os.replace`` cannot put over a non-empty one, so an existing
    target is first moved aside and removed only once the new package is in place.
    """
    path = check_output(path, overwrite)
    token = uuid.uuid4().hex[:8]
    tmp = path.with_name(f".{path.stem}.{token}.tmp.mlpackage")
    old = path.with_name(f".{path.stem}.{token}.old")
    try:
        mlmodel.save(str(tmp))
        if path.exists() or path.is_symlink():
            if not overwrite:  # appeared while we were writing
                raise OutputExistsError(f"{path} appeared during the write; not replacing it.")
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old.exists() or old.is_symlink():
                os.replace(old, path)  # put the previous package back
            raise
    finally:
        for leftover in (tmp, old):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.exists() or leftover.is_symlink():
                leftover.unlink()
    return path


def package_size(path: str | os.PathLike) -> int:
    """Bytes on disk of a package directory (or a file)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _example_inputs(bucket: Bucket):
    """Inputs to trace with; any valid values do, as nothing in the graph branches on them."""
    import torch

    from ..rewrite.model import pad_inputs

    ids = [50, 83, 54, 156, 57, 135][: bucket.max_phonemes]  # arbitrary valid phoneme ids
    input_ids, attention_mask = pad_inputs(ids, bucket.max_tokens)
    ref_s = torch.zeros(1, 256)
    return input_ids, ref_s, torch.zeros(1, 9), attention_mask, torch.ones(1)


def _fp16_selector():
    """``op_selector`` for ``FP16ComputePrecision``: float16 everywhere but the float32 islands.

    The islands are computed once, from the block the first selected op belongs to; the pass
    runs after the optimisations, on the program that is saved.
    """
    from .graph import from_pymil_block
    from .islands import fp32_islands

    keep: dict[int, frozenset[str]] = {}

    def select(op) -> bool:
        block = op.enclosing_block
        if id(block) not in keep:
            g = from_pymil_block(block)
            islands = fp32_islands(g)
            keep[id(block)] = frozenset(g.ops[i].name for ops in islands.values() for i in ops)
        return op.name not in keep[id(block)]

    return select


def trace(bucket: Bucket, model) -> torch.jit.ScriptModule:
    """``torch.jit.trace`` of ``KokoroCompleteCoreML`` for ``bucket`` (exact mode)."""
    import torch

    from ..rewrite.model import KokoroCompleteCoreML
    from .heap import mapped_blocks

    module = KokoroCompleteCoreML(model, bucket.max_tokens, bucket.max_frames, mode="exact").eval()
    with mapped_blocks(), torch.no_grad(), quiet_trace():  # see kokoro_lab.coreml.heap: 6.6 → 1.4 GB at 10 s
        return torch.jit.trace(module, _example_inputs(bucket), check_trace=False)


@contextlib.contextmanager
def quiet_trace() -> Iterator[None]:
    """Silence what tracing Kokoro always prints, and nothing else.

    ``TracerWarning``: ALBERT's masking code in transformers branches on sizes, which are fixed
    per bucket, so the constants it warns about are right (the tests compare the trace with eager
    execution at several lengths). transformers also warns that ``is_gradient_checkpointing`` is
    deprecated and logs its ``loss_type`` default, both from its own code; torch warns that
    ``torch.jit.trace`` is deprecated, which is the front-end coremltools 9 converts best.
    """
    import torch
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing.*is deprecated", category=FutureWarning
        )
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.trace.* is deprecated", category=DeprecationWarning
        )
        hf_logging.set_verbosity_error()
        try:
            yield
        finally:
            hf_logging.set_verbosity(level)


def to_mlprogram(
    traced, bucket: Bucket, precision: str, deployment_target: str = "iOS17", quiet: bool = False
):
    """``ct.convert`` the traced module into an ML program with typed, named inputs/outputs."""
    shapes = {
        "input_ids": (1, bucket.max_tokens),
        "ref_s": (1, 256),
        "random_phases": (1, 9),
        "attention_mask": (1, bucket.max_tokens),
        "speed": (1,),
    }
    inputs = {n: (d, shapes[n]) for n, (d, _) in INPUTS.items()}
    outputs = {n: d for n, (d, _) in OUTPUTS.items()}
    return convert_traced(traced, inputs, outputs, precision, deployment_target, quiet)


def convert_traced(
    traced,
    inputs: dict[str, tuple[str, tuple[int, ...] | object]],
    outputs: dict[str, str],
    precision: str,
    deployment_target: str = "iOS17",
    quiet: bool = False,
):
    """``ct.convert`` a traced module into an ML program with typed, named inputs/outputs.

    Args:
        inputs: name → (dtype, shape), in the traced module's argument order; a shape is a tuple
            or a ``ct.EnumeratedShapes``.
        outputs: name → dtype, in the module's output order.

    Float inputs and outputs are declared float32 in both precisions: without explicit dtypes
    an fp16 program takes and returns float16 arrays. In fp16 the float32 islands
    (:mod:`kokoro_lab.coreml.islands`) stay float32.
    """
    from .coremltools_import import load_coremltools

    ct = load_coremltools()
    import numpy as np

    from .frontend_fixes import torch_frontend_fixes

    np_types = {"int32": np.int32, "float32": np.float32}
    ct_inputs = [ct.TensorType(name=n, shape=shape, dtype=np_types[d]) for n, (d, shape) in inputs.items()]
    ct_outputs = [ct.TensorType(name=n, dtype=np_types[d]) for n, d in outputs.items()]
    if precision == "fp32":
        compute_precision = ct.precision.FLOAT32
    else:
        compute_precision = ct.transform.FP16ComputePrecision(op_selector=_fp16_selector())
    # Folding constants into float16 casts ALBERT's mask fill (float32's lowest value) to -inf,
    # which numpy warns about; softmax takes -inf as intended, and the fp16 audio is tested.
    with torch_frontend_fixes(quiet=quiet), np.errstate(over="ignore"):
        return ct.convert(
            traced,
            inputs=ct_inputs,
            outputs=ct_outputs,
            convert_to="mlprogram",
            compute_precision=compute_precision,
            minimum_deployment_target=getattr(ct.target, deployment_target),
        )


def set_metadata(
    mlmodel, bucket: Bucket, precision: str, compress: str | None, weights: str
) -> dict[str, str]:
    """Author, license, descriptions and ``user_defined_metadata``; returns the latter."""
    from .. import __version__

    mlmodel.author = AUTHOR
    mlmodel.license = LICENSE
    mlmodel.version = __version__
    mlmodel.short_description = (
        f"Kokoro-82M text to speech, {bucket.seconds:g} s bucket: up to {bucket.max_phonemes} phoneme "
        f"tokens in, up to {bucket.max_samples} samples of 24 kHz audio out ({precision}"
        f"{f', {compress} weights' if compress else ''})."
    )
    for name, (_, text) in INPUTS.items():
        mlmodel.input_description[name] = text
    for name, (_, text) in OUTPUTS.items():
        mlmodel.output_description[name] = text
    meta = {
        "kokoro_lab.version": __version__,
        "kokoro_lab.bucket": bucket.name,
        "kokoro_lab.max_tokens": str(bucket.max_tokens),
        "kokoro_lab.max_frames": str(bucket.max_frames),
        "kokoro_lab.sample_rate": "24000",
        "kokoro_lab.precision": precision,
        "kokoro_lab.compression": compress or "none",
        "kokoro_lab.weights": weights,
    }
    mlmodel.user_defined_metadata.update(meta)
    return meta


def convert(
    bucket: str = "5s",
    precision: str = "fp32",
    compress: str | None = None,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    model=None,
    progress: bool = True,
    weights: str | None = None,
    deployment_target: str = "iOS17",
) -> ConversionResult:
    """Convert Kokoro-82M for one bucket and save it as an ``.mlpackage``.

    Args:
        bucket: a name from :data:`kokoro_lab.coreml.BUCKETS` ("2s" is for tests).
        precision: "fp32", or "fp16" with float32 islands (:mod:`kokoro_lab.coreml.islands`).
        compress: None or a variant of :data:`kokoro_lab.coreml.schemes.VARIANTS`: "int8",
            "palettize6", "palettize4" (iOS16+), "small" (recommended; iOS18), "grouped4", ….
        output: the ``.mlpackage`` path; default :func:`default_output` in the working directory.
        overwrite: replace an existing package; otherwise an existing path is an error.
        model: a ``kokoro.KModel`` loaded with ``disable_complex=True``; loaded when None.
        progress: print one line per step (and coremltools' progress bars) to stderr.
        weights: how to describe the weights in the metadata; default: the resolved source.
        deployment_target: "iOS17" (default) or "iOS18".

    Raises:
        ValueError: an unknown bucket, precision, compression or target (the message lists the
            valid ones), or an output name without ``.mlpackage``.
        OutputExistsError: ``output`` exists and ``overwrite`` is False.
        NotADirectoryError: ``output``'s parent directory does not exist.
    """
    b = get_bucket(bucket)
    _choice("precision", precision, PRECISIONS)
    _choice("compression", compress, COMPRESSIONS)
    _choice("deployment target", deployment_target, DEPLOYMENT_TARGETS)
    path = check_output(
        output if output is not None else default_output(bucket, precision, compress), overwrite
    )

    seconds: dict[str, float] = {}
    say: Callable[[str], None] = (
        (lambda m: print(f"kokoro-lab: {m}", file=sys.stderr)) if progress else (lambda m: None)
    )

    def step(name: str, func, *args):
        say(f"{name}…")
        t0 = time.perf_counter()
        out = func(*args)
        seconds[name] = time.perf_counter() - t0
        say(f"{name}: {seconds[name]:.1f} s")
        return out

    if model is None:
        from ..original.model import load_kmodel

        model, source = step("load", load_kmodel, None, True)
        weights = weights or source.describe()
    weights = weights or "caller-provided kokoro.KModel"
    traced = step("trace", trace, b, model)
    mlmodel = step("convert", to_mlprogram, traced, b, precision, deployment_target, not progress)
    del traced
    trim_heap()
    if compress is not None:
        from .compress import compress_weights

        mlmodel = step("compress", compress_weights, mlmodel, compress, not progress)
    meta = set_metadata(mlmodel, b, precision, compress, weights)
    step("save", save_package, mlmodel, path, overwrite)
    size = package_size(path)
    say(f"wrote {path} ({size / 1e6:.1f} MB) in {sum(seconds.values()):.0f} s")
    return ConversionResult(path, b, precision, compress, seconds, size, meta)
