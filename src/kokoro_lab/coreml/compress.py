"""Post-training weight compression of a converted ML program (``coremltools.optimize.coreml``).

Any :class:`~kokoro_lab.coreml.schemes.Variant` of :mod:`.schemes` (by name: "int8",
"palettize6", "palettize4", "grouped4", "int4-block32", "small", …) becomes coremltools configs:

* only the model's **weights** are compressed: the constants a ``conv``, ``conv_transpose``,
  ``linear``, ``lstm``, ``gather`` (embedding table) or ``matmul`` reads as its weight
  (:func:`weight_const_names`). A global config would also compress the program's other large
  constants (the frame and sample position ramps its masks compare against, a 9,601-value float16
  ramp in the 2 s bucket), and a 16-entry palette of a position ramp breaks the mask.
  Every weight gets an entry in ``op_name_configs``, none goes through ``global_config``;
* palettes and linear quantization are two passes (``palettize_weights``, then
  ``linear_quantize_weights`` on the constants still plain); int8 tables are a third, joint pass
  over the palettes (``linear_quantize_weights(..., joint_compression=True)``);
* per-layer-group overrides name constants through :func:`kokoro_lab.coreml.package_weights.match_weights`,
  which finds each KModel parameter among the program's constants by value (tracing renames
  most of them: ``weight_15_to_fp16``, ``concat_9_to_fp16``).

A scheme that needs a newer opset than the program's (grouped palettes, int4, per-block scales,
int8 tables: iOS18) raises a ``ValueError`` naming ``--target iOS18`` and what it costs (iOS 18 /
macOS 15 and later only); so does an explicit per-constant config naming no constant.

k-means speed: coremltools clusters float16 weights with the exact 1-D k-means it ships
(``coremltools._deps.kmeans1d``, on the distinct values weighted by their counts: seconds) when a
table covers at least 10,000 values, and with scikit-learn's ``KMeans`` otherwise or for float32
weights (which took over 10 minutes for the 82M weights on 2 cores). Palettize the fp16 program.

Only weights with more than ``WEIGHT_THRESHOLD`` elements are compressed; small ones (biases,
norms, the STFT kernels) stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .schemes import LINEAR, PALETTIZE, Scheme, Variant, check_target, get_variant

WEIGHT_THRESHOLD = 2048
SPEC_TARGETS = {7: "iOS16", 8: "iOS17", 9: "iOS18"}  # ML program specification version → opset


def op_config(scheme: Scheme):
    """The coremltools ``OpPalettizerConfig`` / ``OpLinearQuantizerConfig`` of one scheme.

    The int8 tables of a palette are a separate joint pass (:func:`compress_weights`).
    """
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before the submodule
    import coremltools.optimize.coreml as cto

    if scheme.method == PALETTIZE:
        return cto.OpPalettizerConfig(
            mode="kmeans",
            nbits=scheme.nbits,
            granularity=scheme.granularity,
            group_size=scheme.group_size or 32,  # ignored per tensor; 32 is coremltools' default
            weight_threshold=WEIGHT_THRESHOLD,
        )
    return cto.OpLinearQuantizerConfig(
        mode="linear_symmetric",
        dtype=f"int{scheme.nbits}",
        granularity=scheme.granularity,
        block_size=scheme.block_size or 32,
        weight_threshold=WEIGHT_THRESHOLD,
    )


def compression_config(mode: str | Variant):
    """The ``OptimizationConfig`` of a variant without per-layer overrides, as a global config.

    For reading and for programs that are all weights; :func:`compress_weights` does not use
    it, as a global config also reaches the program's non-weight constants.
    """
    variant = get_variant(mode)
    if variant.overrides or variant.default is None:
        raise ValueError(
            f"{variant.name!r} has per-layer schemes; use compress_weights(), which names each weight."
        )
    config = op_config(variant.default)  # imports coremltools quietly first
    import coremltools.optimize.coreml as cto

    return cto.OptimizationConfig(global_config=config)


def program_target(mlmodel) -> str:
    """The deployment target (opset) an ML program was converted for: "iOS16", "iOS17" or "iOS18"."""
    version = mlmodel.get_spec().specificationVersion
    return SPEC_TARGETS.get(version, "iOS18" if version > 9 else "iOS15")


@dataclass(frozen=True)
class CompressionPlan:
    """Which scheme each weight constant of one program gets (``None``: stays float16)."""

    variant: Variant
    schemes: dict[str, Scheme | None]  # const name → scheme

    def names(self, method: str) -> list[str]:
        return [n for n, s in self.schemes.items() if s is not None and s.method == method]


def plan_compression(
    mlmodel,
    mode: str | Variant,
    model=None,
    op_names: Mapping[str, Scheme | None] | None = None,
) -> CompressionPlan:
    """Decide the scheme of every weight constant of ``mlmodel``.

    Args:
        mlmodel: an fp16 ML program (``ct.models.MLModel``).
        mode: a variant name or :class:`Variant`.
        model: the ``KModel`` it was converted from; needed for per-layer-group overrides (loaded
            with :func:`kokoro_lab.load_kmodel` when None).
        op_names: explicit schemes by constant name (``None``: keep float16), applied last.

    Raises:
        ValueError: the variant needs a newer deployment target than the program's; or an
            ``op_names`` entry names no weight constant of the program (the message lists some).
    """
    from .package_weights import load_program, match_weights, weight_const_names

    variant = get_variant(mode)
    check_target(variant, program_target(mlmodel))
    prog = load_program(mlmodel)
    names = weight_const_names(prog)
    schemes: dict[str, Scheme | None] = dict.fromkeys(names, variant.default)
    if variant.overrides:
        if model is None:
            from ..original.model import load_kmodel

            model, _ = load_kmodel(None, True)
        for match in match_weights(prog, model).values():
            if match.const_name in schemes:
                schemes[match.const_name] = variant.scheme_for(match.torch_name)
    for name, scheme in (op_names or {}).items():
        if name not in schemes:
            shown = ", ".join(sorted(schemes)[:5])
            raise ValueError(
                f"op_names names {name!r}, which is no weight constant of this program; weight "
                f"constants are named like {shown}, … (kokoro_lab.coreml.package_weights.weight_const_names)."
            )
        if scheme is not None:
            check_target(Variant(f"{variant.name}, {name}", scheme), program_target(mlmodel))
        schemes[name] = scheme
    return CompressionPlan(variant, schemes)


def compress_weights(
    mlmodel,
    mode: str | Variant,
    quiet: bool = False,
    model=None,
    op_names: Mapping[str, Scheme | None] | None = None,
):
    """Return a compressed copy of the ML program ``mlmodel`` (see the module docstring).

    Args:
        mlmodel: an fp16 ML program.
        mode: a variant name (:data:`kokoro_lab.coreml.schemes.VARIANTS`) or :class:`Variant`.
        quiet: no progress bars.
        model, op_names: as for :func:`plan_compression`.

    Raises:
        ValueError: see :func:`plan_compression`.
    """
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before the submodule
    import coremltools.optimize.coreml as cto

    from .frontend_fixes import torch_frontend_fixes
    from .weight_compression import _quiet_kmeans

    plan = plan_compression(mlmodel, mode, model, op_names)
    with torch_frontend_fixes(quiet=quiet):  # only for its progress-bar switch
        palettes = {n: op_config(plan.schemes[n]) for n in plan.names(PALETTIZE)}
        if palettes:
            with _quiet_kmeans():
                mlmodel = cto.palettize_weights(mlmodel, cto.OptimizationConfig(op_name_configs=palettes))
        linear = {n: op_config(plan.schemes[n]) for n in plan.names(LINEAR)}
        if linear:
            mlmodel = cto.linear_quantize_weights(mlmodel, cto.OptimizationConfig(op_name_configs=linear))
        int8_tables = [n for n in plan.names(PALETTIZE) if plan.schemes[n].lut_dtype == "int8"]
        if int8_tables:
            mlmodel = _quantize_tables(mlmodel, int8_tables)
    return mlmodel


def _quantize_tables(mlmodel, palettized: list[str]):
    """Joint compression: each listed weight's palette stored as int8 with one scale per tensor.

    The palettes are constants that ``palettize_weights`` created; their names get a counter
    each time the program is read back (``…_palettized_lut_0``, ``…_lut_1``), so they are chosen
    by structure instead: the table input of the ``<weight>_palettized`` op. coremltools takes
    such a selector only through its older API (``_op_selector``, no weight threshold).
    """
    import coremltools.optimize.coreml as cto

    wanted = {f"{n}_palettized" for n in palettized}  # the name palettize_weights gives the op

    def is_table(op) -> bool:
        children = op.outputs[0].child_ops
        return (
            len(children) == 1
            and children[0].op_type == "constexpr_lut_to_dense"
            and children[0].name in wanted
            and children[0].lut is op.outputs[0]
        )

    table = cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_tensor", weight_threshold=None
    )
    config = cto.OptimizationConfig(global_config=table, is_deprecated=True, op_selector=is_table)
    return cto.linear_quantize_weights(mlmodel, config, joint_compression=True)


__all__ = [
    "WEIGHT_THRESHOLD",
    "CompressionPlan",
    "compress_weights",
    "compression_config",
    "op_config",
    "plan_compression",
    "program_target",
]
