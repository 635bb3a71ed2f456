"""The float32 islands of an fp16 model, found by dataflow rather than by op names.

Op names in the converted program derive from TorchScript value names (``rad.1``, ``phase0.1``)
and change whenever the PyTorch code or the optimisation passes change. The islands are
therefore found from the graph's structure, anchored on ops that occur once:

``phase``
    The sine source's phase accumulation: the floating-point ``cumsum`` (the only one; the
    alignment's ``cumsum`` is int32), everything before it that carries the harmonic dimension
    (``F0 · harmonics / sr``, the ``% 1``), and everything after it up to the ``sin``. The phase
    reaches ``300 · Σ rad`` ≈ 10⁶ rad: float16 (max 65,504, 11-bit mantissa) would overflow.
``source_stft``
    From that ``sin`` to the ``concat`` of the source's STFT magnitude and phase: the analysis
    STFT and ``atan2``. coremltools lowers ``atan2`` with ``±1e-8`` guards that vanish in
    float16, where ``atan(0 / 0)`` is NaN.
``istft``
    Backwards from the ``audio`` output to the generator's last ``conv``: ``exp`` of the log
    magnitude (overflows float16 above 11), ``sin`` of the phase, the inverse STFT, the
    division by the window envelope and the valid-length mask.
``length``
    Backwards from ``audio_length_samples``, ``frame_overflow`` and ``pred_dur`` to the duration
    projection: the duration head (sigmoid, sum, / speed, round), the alignment's integer
    arithmetic and the frame count. Plus, for verification, every integer/boolean op fed by it.

The stages of the two-stage pipeline split these: the text stage has only the ``length`` island
(from ``pred_dur``), the acoustic stage all four, its ``length`` island starting from
``audio_length_samples`` and ``frame_overflow`` (:func:`expected_islands`).
"""

from __future__ import annotations

from .graph import FLOAT_DTYPES, INT_DTYPES, MilGraph

# Ops that end a backward walk: the network's real layers, which stay in float16.
LAYER_TYPES = frozenset(
    {"conv", "linear", "matmul", "lstm", "gru", "rnn", "einsum", "instance_norm", "layer_norm"}
)
LENGTH_OUTPUTS = ("audio_length_samples", "frame_overflow", "pred_dur")
AUDIO_OUTPUT = "audio"
_LIMIT = 400  # an island larger than this means the walk escaped into the network


class IslandError(RuntimeError):
    """The program does not have the structure the island rules expect."""


def _check_size(name: str, island: set[int]) -> set[int]:
    if len(island) > _LIMIT:
        raise IslandError(f"The {name} island grew to {len(island)} ops; the graph is not the expected one.")
    return island


def _backward(g: MilGraph, start_vars, stop_types=LAYER_TYPES) -> set[int]:
    """Ops producing ``start_vars``, transitively, not crossing constants or ``stop_types``."""
    island: set[int] = set()
    stack = [g.producer.get(v) for v in start_vars]
    while stack:
        i = stack.pop()
        if i is None or i in island:
            continue
        op = g.ops[i]
        if op.is_const or op.type in stop_types:
            continue
        island.add(i)
        stack.extend(g.producer.get(v) for v in op.input_vars)
    return island


def phase_island(g: MilGraph) -> set[int]:
    """Harmonic phase: ``F0 · h / sr`` → ``% 1`` → ``cumsum`` → ... → ``sin`` (see module doc)."""
    seeds = [i for i, op in g.compute_ops() if op.type == "cumsum" and op.dtypes[0] in FLOAT_DTYPES]
    if not seeds:
        raise IslandError("No floating-point cumsum: the sine source's phase accumulation was not found.")
    island: set[int] = set()
    for seed in seeds:
        shape = g.ops[seed].shapes[0]
        stack = [seed]
        while stack:  # backwards, while tensors carry the harmonic dimension
            i = stack.pop()
            if i in island:
                continue
            island.add(i)
            for v in g.ops[i].input_vars:
                p = g.producer.get(v)
                if p is None:
                    continue
                op = g.ops[p]
                if not op.is_const and op.shapes[0] == shape and op.dtypes[0] in FLOAT_DTYPES:
                    stack.append(p)
        frontier = [seed]
        while frontier:  # forwards, up to the sine
            i = frontier.pop()
            for v in g.ops[i].outputs:
                for c in g.consumers.get(v, []):
                    if c in island:
                        continue
                    op = g.ops[c]
                    if op.type in LAYER_TYPES or v in g.outputs:
                        raise IslandError(f"The phase reaches {op.type} {op.name!r} before any sin.")
                    island.add(c)
                    if op.type != "sin":
                        frontier.append(c)
    return _check_size("phase", island)


def source_stft_island(g: MilGraph, phase: set[int] | None = None) -> set[int]:
    """From the phase's ``sin`` to the ``concat`` of STFT magnitude and phase."""
    phase = phase_island(g) if phase is None else phase
    sines = [i for i in phase if g.ops[i].type == "sin"]
    island: set[int] = set()
    frontier = list(sines)
    while frontier:
        i = frontier.pop()
        for v in g.ops[i].outputs:
            if v in g.outputs:
                raise IslandError("The harmonic source reaches a model output without an STFT.")
            for c in g.consumers.get(v, []):
                if c in island or c in phase:
                    continue
                island.add(c)
                if g.ops[c].type != "concat":
                    frontier.append(c)
                _check_size("source STFT", island)
    if not any(g.ops[i].type == "concat" for i in island):
        raise IslandError("The source's STFT (ending in a concat) was not found after the sine.")
    return island


def istft_island(g: MilGraph) -> set[int]:
    """Backwards from ``audio`` to the last ``conv`` (see module doc)."""
    if AUDIO_OUTPUT not in g.outputs:
        raise IslandError(f"The program has no {AUDIO_OUTPUT!r} output.")
    return _check_size("iSTFT", _backward(g, [AUDIO_OUTPUT]))


def length_island(g: MilGraph, closure: bool = True) -> set[int]:
    """Backwards from the length outputs to the duration projection; with ``closure``, also
    every op whose outputs are all integer or boolean and that consumes that arithmetic.

    A pipeline stage has some of the length outputs: the text stage ``pred_dur``, the acoustic
    stage ``audio_length_samples`` and ``frame_overflow``; the walk starts from those it has.
    """
    if AUDIO_OUTPUT not in g.outputs:
        wanted: tuple[str, ...] = ("pred_dur",)  # the text stage
    elif "pred_dur" in g.outputs:
        wanted = LENGTH_OUTPUTS  # the single graph
    else:
        wanted = ("audio_length_samples", "frame_overflow")  # the acoustic stage
    missing = [o for o in wanted if o not in g.outputs]
    if missing:
        raise IslandError(f"The program lacks the outputs {missing}.")
    island = _backward(g, wanted)
    if closure:
        discrete = INT_DTYPES | {"bool"}
        frontier = [i for i in island if all(d in discrete for d in g.ops[i].dtypes)]
        while frontier:
            i = frontier.pop()
            for v in g.ops[i].outputs:
                for c in g.consumers.get(v, []):
                    if c not in island and all(d in discrete for d in g.ops[c].dtypes):
                        island.add(c)
                        frontier.append(c)
    return _check_size("length", island)


def expected_islands(g: MilGraph) -> tuple[str, ...]:
    """The islands a program must have: all four if it makes audio (the single graph, the
    acoustic stage), only ``length`` otherwise (the text stage ends at ``pred_dur``)."""
    return ("phase", "source_stft", "istft", "length") if AUDIO_OUTPUT in g.outputs else ("length",)


def fp32_islands(g: MilGraph) -> dict[str, set[int]]:
    """The program's islands by name (op indices into ``g.ops``); see :func:`expected_islands`."""
    if AUDIO_OUTPUT not in g.outputs:
        return {"length": length_island(g)}
    phase = phase_island(g)
    return {
        "phase": phase,
        "source_stft": source_stft_island(g, phase),
        "istft": istft_island(g),
        "length": length_island(g),
    }
