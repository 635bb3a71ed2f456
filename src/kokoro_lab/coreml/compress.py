"""Post-training weight compression of a converted ML program (``coremltools.optimize.coreml``).

* ``int8``: linear symmetric quantization, one scale per output channel (iOS16+).
* ``palettize6`` / ``palettize4``: k-means look-up tables of 64 / 16 values, one per tensor
  (iOS16+). Per-grouped-channel tables (``granularity="per_grouped_channel"``) and int4
  per-block quantization would lose less, but need ``minimum_deployment_target=iOS18``.

k-means speed: coremltools clusters float16 weights with the exact 1-D k-means it ships
(``coremltools._deps.kmeans1d``, on the distinct values weighted by their counts: seconds), and
float32 weights with scikit-learn's ``KMeans``, which took over 10 minutes for the 82M weights
on 2 cores. Palettize the fp16 program.

Only weights with at least ``WEIGHT_THRESHOLD`` elements are compressed; small ones (biases,
norms, the STFT kernels) stay as they are.
"""

from __future__ import annotations

WEIGHT_THRESHOLD = 2048


def compression_config(mode: str):
    """The ``OptimizationConfig`` for ``mode`` ("int8", "palettize6" or "palettize4")."""
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before the submodule
    import coremltools.optimize.coreml as cto

    if mode == "int8":
        op = cto.OpLinearQuantizerConfig(
            mode="linear_symmetric",
            dtype="int8",
            granularity="per_channel",
            weight_threshold=WEIGHT_THRESHOLD,
        )
    elif mode in ("palettize6", "palettize4"):
        op = cto.OpPalettizerConfig(
            mode="kmeans", nbits=int(mode[-1]), granularity="per_tensor", weight_threshold=WEIGHT_THRESHOLD
        )
    else:
        raise ValueError(f"Unknown compression {mode!r}; choose one of 'int8', 'palettize6', 'palettize4'.")
    return cto.OptimizationConfig(global_config=op)


def compress_weights(mlmodel, mode: str, quiet: bool = False):
    """Return a compressed copy of the ML program ``mlmodel``."""
    from .coremltools_import import load_coremltools

    load_coremltools()  # quietly, before the submodule
    import coremltools.optimize.coreml as cto

    from .frontend_fixes import torch_frontend_fixes

    config = compression_config(mode)
    with torch_frontend_fixes(quiet=quiet):  # only for its progress-bar switch
        if mode == "int8":
            return cto.linear_quantize_weights(mlmodel, config)
        return cto.palettize_weights(mlmodel, config)
