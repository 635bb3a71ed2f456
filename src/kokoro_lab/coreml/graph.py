"""A small, read-only view of an ML program's main block: ops, their dataflow and dtypes.

The same view is built from a live pymil block (during conversion, to choose the float32 islands)
and from a saved ``.mlpackage`` (to verify them), so both use the same island rules
(:mod:`kokoro_lab.coreml.islands`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

FLOAT_DTYPES = frozenset({"fp16", "fp32", "fp64", "bf16"})
INT_DTYPES = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "int4", "uint4"}
)


@dataclass(frozen=True)
class MilOp:
    """One operation: ``inputs`` maps each parameter to the names of the variables bound to it."""

    type: str
    name: str
    inputs: dict[str, tuple[str, ...]]
    outputs: tuple[str, ...]
    dtypes: tuple[str, ...]  # per output: "fp16", "fp32", "int32", "bool", ...
    shapes: tuple[tuple[int, ...] | None, ...]  # per output; None where not static

    @property
    def is_const(self) -> bool:
        return self.type == "const" or self.type.startswith("constexpr_")

    @property
    def input_vars(self) -> tuple[str, ...]:
        return tuple(v for vs in self.inputs.values() for v in vs)


@dataclass
class MilGraph:
    """Ops in program order, the function's inputs and outputs, and producer/consumer maps."""

    ops: list[MilOp]
    inputs: dict[str, tuple[str, tuple[int, ...] | None]]  # name → (dtype, shape)
    outputs: list[str]
    producer: dict[str, int] = field(default_factory=dict)  # var → op index
    consumers: dict[str, list[int]] = field(default_factory=dict)  # var → op indices

    def __post_init__(self) -> None:
        for i, op in enumerate(self.ops):
            for v in op.outputs:
                self.producer[v] = i
            for v in set(op.input_vars):
                self.consumers.setdefault(v, []).append(i)

    def producer_of(self, var: str) -> MilOp | None:
        i = self.producer.get(var)
        return None if i is None else self.ops[i]

    def is_const_var(self, var: str) -> bool:
        op = self.producer_of(var)
        return op is not None and op.is_const

    def var_dtype(self, var: str) -> str | None:
        if var in self.inputs:
            return self.inputs[var][0]
        op = self.producer_of(var)
        return None if op is None else op.dtypes[op.outputs.index(var)]

    def compute_ops(self) -> Iterable[tuple[int, MilOp]]:
        """Every op that is not a constant."""
        return ((i, op) for i, op in enumerate(self.ops) if not op.is_const)


# --- from a live pymil block ---------------------------------------------------------------


def from_pymil_block(block) -> MilGraph:
    """View of a ``coremltools.converters.mil`` block (used inside the fp16 op selector)."""
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before any submodule
    from coremltools.converters.mil.mil import types

    def dtype_of(var) -> str:
        try:
            return types.builtin_to_string(var.dtype)
        except Exception:  # lists, tuples: not tensors
            return str(var.dtype)

    def shape_of(var) -> tuple[int, ...] | None:
        try:
            return tuple(int(d) for d in var.shape)
        except (AttributeError, TypeError):  # symbolic dimensions, or not a tensor
            return None

    ops = []
    for op in block.operations:
        inputs = {}
        for k, v in op.inputs.items():
            vs = v if isinstance(v, (list, tuple)) else [v]
            inputs[k] = tuple(x.name for x in vs)
        ops.append(
            MilOp(
                op.op_type,
                op.name,
                inputs,
                tuple(o.name for o in op.outputs),
                tuple(dtype_of(o) for o in op.outputs),
                tuple(shape_of(o) for o in op.outputs),
            )
        )
    function_inputs = {name: (dtype_of(v), shape_of(v)) for name, v in block.inputs.items()}
    return MilGraph(ops, function_inputs, [v.name for v in block.outputs])


# --- from a saved .mlpackage ---------------------------------------------------------------

_PROTO_DTYPES = {"FLOAT16": "fp16", "FLOAT32": "fp32", "FLOAT64": "fp64", "BFLOAT16": "bf16", "BOOL": "bool"}


def _proto_dtype(code: int) -> str:
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before any submodule
    from coremltools.proto import MIL_pb2

    name = MIL_pb2.DataType.Name(code)
    return _PROTO_DTYPES.get(name, name.lower())


def _proto_value_type(vt) -> tuple[str, tuple[int, ...] | None]:
    if not vt.HasField("tensorType"):
        return vt.WhichOneof("type") or "unknown", None
    t = vt.tensorType
    dims = []
    for d in t.dimensions:
        if not d.HasField("constant"):
            return _proto_dtype(t.dataType), None
        dims.append(int(d.constant.size))
    return _proto_dtype(t.dataType), tuple(dims)


def main_block_spec(spec):
    """The ``main`` function of an ML program spec and its block (the one for its opset)."""
    if spec.WhichOneof("Type") != "mlProgram":
        raise ValueError("Not an ML program (mlprogram) model; only .mlpackage ML programs are supported.")
    function = spec.mlProgram.functions["main"]
    return function, function.block_specializations[function.opset]


def from_spec(spec) -> MilGraph:
    """View of the main block of a saved ML program's protobuf spec."""
    function, block = main_block_spec(spec)
    ops = []
    for op in block.operations:
        name_attr = op.attributes.get("name")
        name = (
            name_attr.immediateValue.tensor.strings.values[0]
            if name_attr is not None and name_attr.immediateValue.tensor.strings.values
            else (op.outputs[0].name if op.outputs else op.type)
        )
        inputs = {k: tuple(b.name for b in arg.arguments if b.name) for k, arg in op.inputs.items()}
        types_ = [_proto_value_type(o.type) for o in op.outputs]
        ops.append(
            MilOp(
                op.type,
                name,
                inputs,
                tuple(o.name for o in op.outputs),
                tuple(t[0] for t in types_),
                tuple(t[1] for t in types_),
            )
        )
    function_inputs = {i.name: _proto_value_type(i.type) for i in function.inputs}
    return MilGraph(ops, function_inputs, list(block.outputs))
