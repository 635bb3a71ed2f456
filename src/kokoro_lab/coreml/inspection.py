"""Read a saved ``.mlpackage`` back and report what is in it — on any OS, without running it.

``inspect_program`` lists every op with its output dtypes, ``inspect`` summarises the package,
and ``island_report`` checks that the fp16 model kept its float32 islands
(:mod:`kokoro_lab.coreml.islands`) on the saved program, not on what the converter intended.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .graph import MilGraph, from_spec
from .islands import fp32_islands

# Apple publishes no table of the ops the Neural Engine runs; Core ML decides per op and device.
# On macOS 14.4+, compute_plan() below asks MLComputePlan for the real placement. The static
# estimate here rests on:
# * coremltools' "Typed Execution" guide: Core ML models "execute with either float 32 or float
#   16 precision", and by default "portions of your model will run in float 16 precision". The
#   Neural Engine computes in float16 only (as measured in hollance/neural-engine, "Is the ANE
#   16-bit?"), so an op kept in float32 runs on the GPU or the CPU.
# * Recurrent layers: MIL's ``lstm`` is one sequential op over the whole sequence; it is commonly
#   reported to fall back to the CPU. Not verified here (no Core ML runtime on Linux): check it
#   with compute_plan() on a Mac.
ANE_UNSUPPORTED_TYPES = frozenset({"lstm", "gru", "rnn"})


def load_spec(path: str | os.PathLike):
    """The protobuf spec of a saved package, without compiling or loading it (works on Linux)."""
    from .coremltools_import import load_coremltools

    ct = load_coremltools()

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if path.is_dir() and not (path / "Manifest.json").exists():
        raise FileNotFoundError(
            f"{path} is neither an .mlpackage (no Manifest.json) nor a pipeline directory (no "
            "manifest.json); give a package from `kokoro-lab convert` or a directory from "
            "`kokoro-lab convert --pipeline`."
        )
    return ct.models.MLModel(str(path), skip_model_load=True).get_spec()


def load_graph(path: str | os.PathLike) -> MilGraph:
    """The main block of a saved ML program as a :class:`MilGraph`."""
    return from_spec(load_spec(path))


@dataclass(frozen=True)
class OpInfo:
    type: str
    name: str
    dtypes: tuple[str, ...]


def inspect_program(path: str | os.PathLike) -> list[OpInfo]:
    """Every op of the saved program's main block, in order: type, name, output dtypes."""
    return [OpInfo(op.type, op.name, op.dtypes) for op in load_graph(path).ops]


@dataclass
class ModelSummary:
    """What :func:`inspect` found in a package."""

    path: Path
    size_bytes: int
    inputs: dict[str, tuple[str, tuple[int, ...] | None]]  # name → (dtype, shape)
    outputs: dict[str, tuple[str, tuple[int, ...] | None]]
    op_types: Counter  # compute ops only (constants excluded)
    ops_by_dtype: Counter  # compute ops by the dtype of their first output
    n_const: int
    ane_unsupported: list[tuple[str, str, str]]  # (type, name, reason)
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [
            f"{Path(self.path).name}: {self.size_bytes / 1e6:.1f} MB on disk"
        ]  # no machine path in a page
        for kind, table in (("input", self.inputs), ("output", self.outputs)):
            lines += [f"  {kind} {n}: {d} {list(s) if s else '?'}" for n, (d, s) in table.items()]
        lines.append(
            f"  {sum(self.op_types.values())} ops (+{self.n_const} constants); by dtype: "
            + ", ".join(f"{d} {n}" for d, n in self.ops_by_dtype.most_common())
        )
        lines.append("  op types: " + ", ".join(f"{t} {n}" for t, n in self.op_types.most_common()))
        reasons = Counter(r for _, _, r in self.ane_unsupported)
        lines.append(
            f"  not for the Neural Engine: {len(self.ane_unsupported)} ops ("
            + ", ".join(f"{n} {r}" for r, n in reasons.items())
            + ")"
        )
        return "\n".join(lines)


def _description_types(features) -> dict[str, tuple[str, tuple[int, ...] | None]]:
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before any submodule
    from coremltools.proto import FeatureTypes_pb2

    out = {}
    for f in features:
        arr = f.type.multiArrayType
        dtype = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(arr.dataType).lower()
        out[f.name] = (dtype, tuple(int(s) for s in arr.shape) or None)
    return out


def ane_unsupported(g: MilGraph) -> list[tuple[str, str, str]]:
    """Ops the Neural Engine cannot run, by the rules in the comment on ANE_UNSUPPORTED_TYPES."""
    found = []
    for _, op in g.compute_ops():
        if op.type in ANE_UNSUPPORTED_TYPES:
            found.append((op.type, op.name, "recurrent layer"))
        elif "fp32" in op.dtypes and op.type != "cast":
            found.append((op.type, op.name, "float32"))
    return found


def inspect(path: str | os.PathLike) -> ModelSummary:
    """Summarise a package: inputs/outputs, op histogram, ops per dtype, size, ANE blockers."""
    from .convert import package_size

    spec = load_spec(path)
    g = from_spec(spec)
    compute = [op for _, op in g.compute_ops()]
    return ModelSummary(
        path=Path(path),
        size_bytes=package_size(path),
        inputs=_description_types(spec.description.input),
        outputs=_description_types(spec.description.output),
        op_types=Counter(op.type for op in compute),
        ops_by_dtype=Counter(op.dtypes[0] if op.dtypes else "none" for op in compute),
        n_const=len(g.ops) - len(compute),
        ane_unsupported=ane_unsupported(g),
        metadata=dict(spec.description.metadata.userDefined),
    )


@dataclass
class IslandReport:
    """Per island: its ops as (type, name, dtypes); ``violations`` lists what is not fp32/int32."""

    islands: dict[str, list[OpInfo]]
    violations: list[str]
    fp16_ops: int  # compute ops of the whole program with a float16 output
    fp32_ops: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, Counter]:
        """Per island, the number of ops by the dtype of their first output."""
        return {k: Counter(op.dtypes[0] for op in ops) for k, ops in self.islands.items()}


NARROW_INTS = frozenset({"int8", "int16", "uint8", "uint16"})


def island_report(path: str | os.PathLike) -> IslandReport:
    """Check, on the saved program, that the phase and length paths (and the other float32
    islands) compute in float32 / int32.

    Violations: a float16 output anywhere in an island; a 16-bit or 8-bit integer on the phase
    or length path (``audio_length_samples`` reaches 384,000), except index casts feeding a
    gather whose axis is short enough for them; a ``sub(x, x)`` on the phase path (the
    coremltools ``x % 1`` miscompilation, see :mod:`kokoro_lab.coreml.frontend_fixes`).
    """
    g = load_graph(path)
    islands = fp32_islands(g)
    violations = []
    for name, ops in islands.items():
        for i in sorted(ops):
            op = g.ops[i]
            if "fp16" in op.dtypes:
                violations.append(f"{name}: {op.type} {op.name!r} outputs float16")
            if NARROW_INTS.intersection(op.dtypes) and not _index_only(g, i):
                violations.append(f"{name}: {op.type} {op.name!r} outputs {op.dtypes} (integer too narrow)")
            if op.type == "sub" and op.inputs.get("x") == op.inputs.get("y"):
                violations.append(f"{name}: sub {op.name!r} subtracts a value from itself (always 0)")
    if "phase" in islands and not any(g.ops[i].type == "floor" for i in islands["phase"]):
        violations.append("phase: no floor op, so the phase is not wrapped with % 1 as in PyTorch")
    compute = [op for _, op in g.compute_ops()]
    return IslandReport(
        {
            k: [OpInfo(g.ops[i].type, g.ops[i].name, g.ops[i].dtypes) for i in sorted(v)]
            for k, v in islands.items()
        },
        violations,
        sum(1 for op in compute if op.dtypes and op.dtypes[0] == "fp16"),
        sum(1 for op in compute if op.dtypes and op.dtypes[0] == "fp32"),
    )


def _index_only(g: MilGraph, i: int) -> bool:
    """True when op ``i`` only feeds ``indices`` of gathers along axes shorter than 2¹⁵."""
    op = g.ops[i]
    for v in op.outputs:
        for c in g.consumers.get(v, []):
            user = g.ops[c]
            if not user.type.startswith("gather") or user.inputs.get("indices") != (v,):
                return False
            x = user.inputs.get("x", ())
            shape = g.ops[g.producer[x[0]]].shapes[0] if x and x[0] in g.producer else None
            if shape is None or max(shape) > 32767:
                return False
    return True


def compute_plan(path: str | os.PathLike, compute_units: str = "ALL") -> Counter:
    """macOS only: the device Core ML prefers for each op, counted by (op type, device).

    Uses ``MLComputePlan`` (macOS 14.4+), which needs the Core ML framework.
    """
    if sys.platform != "darwin":
        raise RuntimeError("Core ML compute plans are only available on macOS.")
    from .coremltools_import import load_coremltools

    ct = load_coremltools()
    from coremltools.models.compute_plan import MLComputePlan

    units = getattr(ct.ComputeUnit, compute_units)
    model = ct.models.MLModel(str(path), compute_units=units)
    plan = MLComputePlan.load_from_path(model.get_compiled_model_path(), compute_units=units)
    counts: Counter = Counter()
    for op in plan.model_structure.program.functions["main"].block.operations:
        usage = plan.get_compute_device_usage_for_mlprogram_operation(op)
        device = type(usage.preferred_compute_device).__name__ if usage is not None else "none"
        counts[(op.operator_name, device)] += 1
    return counts


@dataclass
class PipelineSummary:
    """What :func:`inspect_pipeline` found: the manifest and a summary per package."""

    directory: Path
    manifest: object  # kokoro_lab.coreml.manifest.PipelineManifest
    packages: dict[str, ModelSummary]

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self.packages.values())

    def __str__(self) -> str:
        m = self.manifest
        limits = m.limits
        lines = [
            f"{Path(self.directory).name}: a two-stage pipeline, conversion {m.conversion_id}, {m.precision}"
            f"{'' if m.compression == 'none' else f', {m.compression} weights'}, {m.deployment_target}, "
            f"{len(self.packages)} packages, {self.size_bytes / 1e6:.1f} MB on disk",
            f"  text buckets (tokens): {', '.join(map(str, m.text_buckets))}",
            f"  frame buckets (frames): {', '.join(map(str, m.frame_buckets))}; acoustic tokens {m.acoustic_tokens}",
            f"  limits: {limits['max_phonemes']} phoneme tokens, {limits['max_frames']} frames "
            f"({limits['max_seconds']:g} s)",
        ]
        for summary in self.packages.values():
            lines.append(str(summary))
        return "\n".join(lines)


def is_pipeline_directory(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory with a pipeline manifest (rather than one package).

    Names are compared as stored: on a case-insensitive file system (macOS) a package's
    ``Manifest.json`` would otherwise pass for the pipeline's ``manifest.json``.
    """
    from .manifest import MANIFEST

    path = Path(path)
    return path.is_dir() and path.suffix != ".mlpackage" and MANIFEST in os.listdir(path)


def inspect_pipeline(directory: str | os.PathLike) -> PipelineSummary:
    """Check a pipeline directory's manifest against its packages, then summarise each package.

    Raises:
        ManifestError: the manifest and the packages disagree (the message names the fix).
    """
    from .manifest import check_directory

    manifest = check_directory(directory)
    names = [p.package for p in (*manifest.text, *manifest.acoustic)]
    return PipelineSummary(Path(directory), manifest, {n: inspect(Path(directory) / n) for n in names})
