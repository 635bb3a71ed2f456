"""Rebuild an fp32 Kokoro-82M state dict from the int8 ONNX export.

The kokoro-onnx export keeps the torch module paths in its initializer names and node scopes,
so every weight can be traced back to the parameter it came from:

* ``encoder.bert.*`` → ``bert``, ``encoder.text_encoder.*`` → ``text_encoder``,
  ``encoder.predictor.*`` (and the scopes ``/encoder/F0.i``, ``/N.i``, ``/F0_proj``, ``/N_proj``,
  ``/shared``) → ``predictor``, ``decoder.decoder.*`` → ``decoder``.
* Unnamed tensors (``onnx::MatMul_*``, ``onnx::LSTM_*``, ``…/Mul_k_output_0_quantized``) are
  identified through the node that consumes them.
* Dequantisation is ``w = scale · (q − zero_point)``, with the zero point read from the consuming
  node's input (ONNX Runtime merged identical zero-point tensors across layers).

The result has the official checkpoint's layout: five top-level entries, each a state dict whose
keys carry the ``module.`` prefix (the original was saved from ``DataParallel``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

# ONNX LSTM gate order is (i, o, f, c); torch's is (i, f, g=c, o).
_ONNX_TO_TORCH_GATES = (0, 2, 3, 1)
_TOP_LEVEL = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
_PREDICTOR_SCOPES = ("F0.", "N.", "F0_proj", "N_proj", "shared")
_REPEAT_SUFFIX = re.compile(r"_\d+$")  # ALBERT reuses one layer 12 times: query_1, dense_11, …


def kokoro_skeleton(config: dict | None = None) -> torch.nn.Module:
    """An uninitialised module tree with ``kokoro.KModel``'s layout, built without any weights."""
    from kokoro.istftnet import Decoder
    from kokoro.modules import CustomAlbert, ProsodyPredictor, TextEncoder
    from transformers import AlbertConfig

    from ..config import load_config

    cfg = config or load_config()
    root = torch.nn.Module()
    root.bert = CustomAlbert(AlbertConfig(vocab_size=cfg["n_token"], **cfg["plbert"]))
    root.bert_encoder = torch.nn.Linear(cfg["plbert"]["hidden_size"], cfg["hidden_dim"])
    root.predictor = ProsodyPredictor(
        style_dim=cfg["style_dim"],
        d_hid=cfg["hidden_dim"],
        nlayers=cfg["n_layer"],
        max_dur=cfg["max_dur"],
        dropout=cfg["dropout"],
    )
    root.text_encoder = TextEncoder(
        channels=cfg["hidden_dim"],
        kernel_size=cfg["text_encoder_kernel_size"],
        depth=cfg["n_layer"],
        n_symbols=cfg["n_token"],
    )
    root.decoder = Decoder(
        dim_in=cfg["hidden_dim"],
        style_dim=cfg["style_dim"],
        dim_out=cfg["n_mels"],
        disable_complex=False,  # TorchSTFT has no buffers, like the official checkpoint
        **cfg["istftnet"],
    )
    return root


def is_instance_norm_affine(key: str) -> bool:
    """True for ``AdaIN1d``'s InstanceNorm affine tensors, absent from the official checkpoint.

    kokoro builds ``InstanceNorm1d(affine=True)`` only to work around an old ONNX exporter bug; the
    affine stays at its identity initialisation (weight 1, bias 0), so the checkpoint omits it.
    """
    return bool(re.search(r"\.norm\d?\.norm\.(weight|bias)$|\.adain[12]\.\d+\.norm\.(weight|bias)$", key))


def official_layout(skeleton: torch.nn.Module) -> dict[str, torch.Size]:
    """Flat ``{key: shape}`` of the tensors the official checkpoint stores (548 keys)."""
    return {
        k: v.shape
        for k, v in skeleton.state_dict().items()
        if not is_instance_norm_affine(k) and not k.startswith("bert.embeddings.position_ids")
    }


def scope_to_module(node_name: str) -> str:
    """Map an ONNX node scope to a torch module path.

    >>> scope_to_module("/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant")
    'text_encoder.cnn.0.0'
    >>> scope_to_module("/encoder/F0.1/conv1x1/Conv_quant")
    'predictor.F0.1.conv1x1'
    """
    parts = node_name.strip("/").split("/")[:-1]
    if parts[:2] == ["decoder", "decoder"]:
        parts = parts[1:]
    elif parts and parts[0] == "encoder":
        parts = parts[1:]
        if parts and parts[0].startswith(_PREDICTOR_SCOPES):
            parts = ["predictor", *parts]
    out: list[str] = []
    for p in parts:
        p = _REPEAT_SUFFIX.sub("", p)
        if out and p.startswith(out[-1] + "."):  # "cnn.0/cnn.0.0" names one module twice
            out[-1] = p
        else:
            out.append(p)
    return ".".join(out)


def initializer_to_key(name: str) -> str | None:
    """Map a named ONNX initializer to its torch key (``None`` for anonymous tensors)."""
    for prefix, repl in (("encoder.", ""), ("decoder.decoder.", "decoder.")):
        if name.startswith(prefix):
            return repl + name[len(prefix) :]
    return None


def _weight_norm_parts(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a folded weight into ``(weight_v, weight_g)`` for ``torch.nn.utils.weight_norm``.

    Output channels that int8 quantisation rounded to all zeros would give v = g = 0 and a 0/0
    NaN; for those, v = 1 and g = 0 reproduce the zero weight exactly.
    """
    axes = tuple(range(1, w.ndim))
    g = np.sqrt((w.astype(np.float64) ** 2).sum(axis=axes, keepdims=True)).astype(np.float32)
    v = w.copy()
    dead = g.reshape(-1) == 0
    v[dead] = 1.0
    return v, g


class _Rebuilder:
    """Walks the ONNX graph once and collects every tensor it can attribute to a torch key."""

    def __init__(self, onnx_path: Path, layout: dict[str, torch.Size]):
        import onnx
        from onnx import numpy_helper

        self.graph = onnx.load(str(onnx_path)).graph
        self.inits = {t.name: numpy_helper.to_array(t) for t in self.graph.initializer}
        self.layout = layout
        self.out: dict[str, np.ndarray] = {}
        self.consumers: dict[str, list] = {}
        for node in self.graph.node:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
        self.zeroed_channels = 0
        self.zeroed_convs = 0

    def put(self, key: str, value: np.ndarray) -> None:
        if key not in self.layout:
            raise KeyError(f"ONNX rebuild produced unknown key {key}")
        want = tuple(self.layout[key])
        if tuple(value.shape) != want:
            raise ValueError(f"{key}: rebuilt shape {value.shape} != expected {want}")
        if key not in self.out:
            self.out[key] = np.array(value, dtype=np.float32, copy=True, order="C")

    def dequant(self, q_name: str, zero_point_name: str) -> np.ndarray:
        q = self.inits[q_name].astype(np.float32)
        scale = self.inits[q_name.replace("_quantized", "_scale")].astype(np.float32)
        zp = self.inits[zero_point_name].astype(np.float32)
        return (q - zp) * scale

    def put_conv(self, path: str, w: np.ndarray) -> None:
        if f"{path}.weight_v" in self.layout:
            v, g = _weight_norm_parts(w)
            dead = int((g.reshape(-1) == 0).sum())
            if dead:
                self.zeroed_channels += dead
                self.zeroed_convs += 1
            self.put(f"{path}.weight_v", v)
            self.put(f"{path}.weight_g", g)
        else:
            self.put(f"{path}.weight", w)

    def run(self) -> dict[str, np.ndarray]:
        handlers: dict[str, Callable] = {
            "MatMulInteger": self._matmul_integer,
            "ConvInteger": self._conv_integer,
            "DynamicQuantizeLSTM": self._lstm,
            "ConvTranspose": self._float_conv,
            "Conv": self._float_conv,
            "MatMul": self._float_matmul,
            "Gather": self._embedding,
        }
        for node in self.graph.node:
            handler = handlers.get(node.op_type)
            if handler is not None:
                handler(node)
        self._named_float_tensors()
        return self.out

    def _matmul_integer(self, node) -> None:
        path = scope_to_module(node.name)
        w = self.dequant(node.input[1], node.input[3])  # [in, out], one scale per column
        self.put(f"{path}.weight", w.T)

    def _conv_integer(self, node) -> None:
        path = scope_to_module(node.name)
        self.put_conv(path, self.dequant(node.input[1], node.input[3]))  # [out, in, k]

    def _float_conv(self, node) -> None:
        w = self.inits.get(node.input[1])
        path = scope_to_module(node.name)
        if w is None or not (f"{path}.weight_v" in self.layout or f"{path}.weight" in self.layout):
            return  # the STFT's own conv, or an activation-only conv
        self.put_conv(path, w.astype(np.float32))

    def _float_matmul(self, node) -> None:
        w = self.inits.get(node.input[1])
        path = scope_to_module(node.name)
        if w is not None and f"{path}.weight" in self.layout:
            self.put(f"{path}.weight", w.T)  # m_source.l_linear: [9, 1] → [1, 9]

    def _embedding(self, node) -> None:
        q_name = node.input[0]
        if q_name not in self.inits or not q_name.endswith("_quantized"):
            return
        deq = next(n for n in self.consumers[node.output[0]] if n.op_type == "DequantizeLinear")
        q = self.inits[q_name].astype(np.float32)
        scale = self.inits[deq.input[1]].astype(np.float32)
        zp = self.inits[deq.input[2]].astype(np.float32)
        key = initializer_to_key(q_name.replace("_quantized", ""))
        self.put(key, (q - zp) * scale)

    def _lstm(self, node) -> None:
        path = scope_to_module(node.name)
        W = self.inits[node.input[1]].astype(np.float32)  # [2, in, 4H]
        R = self.inits[node.input[2]].astype(np.float32)  # [2, H, 4H]
        B = self.inits[node.input[3]].astype(np.float32)  # [2, 8H]
        w_scale, w_zp = self.inits[node.input[8]], self.inits[node.input[9]]
        r_scale, r_zp = self.inits[node.input[10]], self.inits[node.input[11]]
        hidden = R.shape[1]

        def gates(m: np.ndarray) -> np.ndarray:  # rows grouped (i, o, f, c) → (i, f, c, o)
            blocks = m.reshape(4, hidden, *m.shape[1:])
            return blocks[list(_ONNX_TO_TORCH_GATES)].reshape(m.shape)

        for d, suffix in enumerate(("", "_reverse")):
            w = ((W[d] - w_zp[d]) * w_scale[d]).T  # [4H, in]
            r = ((R[d] - r_zp[d]) * r_scale[d]).T  # [4H, H]
            b_ih, b_hh = B[d, : 4 * hidden], B[d, 4 * hidden :]
            self.put(f"{path}.weight_ih_l0{suffix}", gates(w))
            self.put(f"{path}.weight_hh_l0{suffix}", gates(r))
            self.put(f"{path}.bias_ih_l0{suffix}", gates(b_ih))
            self.put(f"{path}.bias_hh_l0{suffix}", gates(b_hh))

    def _named_float_tensors(self) -> None:
        for name, value in self.inits.items():
            key = initializer_to_key(name)
            if key in self.layout and key not in self.out and value.dtype == np.float32:
                self.put(key, value)


def rebuild_state_dict(
    onnx_path: str | Path, config: dict | None = None
) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """Rebuild the official-layout fp32 state dict from the int8 ONNX file.

    Returns:
        ``(checkpoint, report)``: ``checkpoint[top]["module.<key>"]`` tensors for the five
        top-level modules, and a report with the counts the rebuild established.

    Raises:
        RuntimeError: some official key could not be recovered from the ONNX graph.
    """
    layout = official_layout(kokoro_skeleton(config))
    rb = _Rebuilder(Path(onnx_path), layout)
    flat = rb.run()
    # ALBERT's pooler is unused by Kokoro and absent from the export: zero-fill it.
    for key, shape in layout.items():
        if key.startswith("bert.pooler.") and key not in flat:
            flat[key] = np.zeros(tuple(shape), np.float32)
    missing = sorted(set(layout) - set(flat))
    if missing:
        raise RuntimeError(f"ONNX rebuild could not recover {len(missing)} keys, e.g. {missing[:5]}")
    checkpoint: dict[str, dict[str, torch.Tensor]] = {top: {} for top in _TOP_LEVEL}
    for key in layout:  # keep the module's own key order
        top, rest = key.split(".", 1)
        checkpoint[top][f"module.{rest}"] = torch.from_numpy(flat[key])
    report = {
        "keys": len(layout),
        "parameters": int(sum(int(np.prod(s)) for s in layout.values())),
        "zeroed_channels": rb.zeroed_channels,
        "zeroed_convs": rb.zeroed_convs,
    }
    return checkpoint, report
