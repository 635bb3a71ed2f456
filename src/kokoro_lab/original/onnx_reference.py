"""onnxruntime on the int8 ONNX export: the independent reference for the rebuilt weights."""

from __future__ import annotations

import functools

import numpy as np
import torch

from .onnx_export import assemble_onnx

# The export's inverse STFT skips the window normalisation, so its audio is 1.5× louder than
# kokoro's (Hann window, n_fft 20, hop 5: the squared-window overlap sums to 1.5).
ORT_LOUDNESS = 1.5
_DURATION_TENSOR = "/encoder/Clip_output_0"  # rounded, clamped durations before the alignment


@functools.cache
def _session(threads: int = 0):
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(assemble_onnx()))
    model.graph.output.append(
        onnx.helper.make_tensor_value_info(_DURATION_TENSOR, onnx.TensorProto.FLOAT, None)
    )
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(
        model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"]
    )


def onnx_synthesize(
    tokens: list[int], ref_s: torch.Tensor, speed: float = 1.0, threads: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Run the int8 ONNX model.

    Args:
        tokens: phoneme ids without boundaries.
        ref_s: style [1, 256].

    Returns:
        ``(audio, durations)``: loudness-corrected float32 audio [T] and the per-token durations
        in frames [len(tokens) + 2], boundary tokens included.
    """
    audio, dur = _session(threads).run(
        None,
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.asarray(ref_s, dtype=np.float32).reshape(1, 256),
            "speed": np.array([speed], dtype=np.float32),
        },
    )
    return np.asarray(audio, np.float32).reshape(-1) / ORT_LOUDNESS, np.asarray(dur).reshape(-1).astype(
        np.int64
    )
