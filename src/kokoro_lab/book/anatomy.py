"""Reports about the loaded Kokoro-82M: parameters, checkpoint keys, configuration, vocabulary, voices.

Every figure here is measured from the model or the files it was loaded from, so the chapter
"Anatomy of Kokoro-82M" can compare them with the figures reported elsewhere. Two counts of
"parameters" exist and both are available:

* **checkpoint parameters**: the tensors ``kokoro-v1_0.pth`` stores (81,763,410);
* **torch parameters**: ``model.parameters()``, which adds the affine tensors of the
  ``InstanceNorm1d`` inside every ``AdaIN1d`` (identity, never stored; see
  :func:`kokoro_lab.original.rebuild.is_instance_norm_affine`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..config import load_config
from ..original.rebuild import is_instance_norm_affine

TOP_LEVEL = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
SUBMODULES = ("predictor.text_encoder", "decoder.encode", "decoder.decode", "decoder.generator")

# The per-module figures of the project's two seed reports, as printed there.
REPORT_002 = {  # counts model.parameters() (InstanceNorm affine included)
    "total": 81_810_022,
    "bert": 6_292_480,
    "bert_encoder": 393_728,
    "predictor": 16_203_828,
    "text_encoder": 5_606_400,
    "decoder": 53_313_586,
    "predictor.text_encoder": 5_913_600,
    "decoder.encode": 5_656_072,
    "decoder.generator": 19_685_942,
}
REPORT_003 = {  # counts checkpoint tensors: label -> (keys, parameters)
    "total": (548, 81_763_410),  # 548 keys: the sum of its rows
    "BERT": (25, 6_292_480),
    "BERT_ENCODER": (2, 393_728),
    "TEXT_ENCODER": (54, 11_520_000),
    "DECODER": (375, 53_276_190),
    "PREDICTOR": (92, 10_281_012),
}


@dataclass(frozen=True)
class ParameterRow:
    """Parameters of one module of ``kokoro.KModel``.

    ``parameters`` counts what the checkpoint stores; ``instance_norm_affine`` counts the
    InstanceNorm affine parameters that ``model.parameters()`` adds on top.
    """

    module: str  # dotted path in KModel, e.g. "decoder.generator"
    kind: str  # the module's class name
    parameters: int
    instance_norm_affine: int

    @property
    def torch_parameters(self) -> int:
        """What ``sum(p.numel() for p in module.parameters())`` gives."""
        return self.parameters + self.instance_norm_affine

    @property
    def top_level(self) -> bool:
        return "." not in self.module


def parameter_table(model: torch.nn.Module, submodules: Sequence[str] = SUBMODULES) -> list[ParameterRow]:
    """Parameters per module: the five top-level modules, each followed by its listed submodules.

    Summing the top-level rows' ``parameters`` gives the checkpoint total (81,763,410 for
    Kokoro-82M), and summing their ``torch_parameters`` gives ``model.parameters()``'s total.

    Args:
        model: a ``kokoro.KModel``.
        submodules: finer rows, as dotted paths below a top-level module.
    """
    rows = []
    for top in TOP_LEVEL:
        for path in (top, *(s for s in submodules if s.split(".", 1)[0] == top)):
            module = model.get_submodule(path)
            stored = affine = 0
            for name, p in module.named_parameters():
                if is_instance_norm_affine(f"{path}.{name}"):
                    affine += p.numel()
                else:
                    stored += p.numel()
            rows.append(ParameterRow(path, type(module).__name__, stored, affine))
    return rows


def instance_norm_affine_summary(model: torch.nn.Module) -> dict:
    """The InstanceNorm affine tensors of ``model``: how many, how large, where, and their values.

    Returns:
        ``tensors`` and ``layers`` (one weight and one bias per InstanceNorm), ``parameters``,
        ``by_module`` (parameters per second-level module such as ``decoder.generator``) and
        ``identity`` (True when every weight is 1 and every bias 0, i.e. never trained).
    """
    found = [(n, p) for n, p in model.named_parameters() if is_instance_norm_affine(n)]
    by_module: dict[str, int] = {}
    for name, p in found:
        key = ".".join(name.split(".")[:2])
        by_module[key] = by_module.get(key, 0) + p.numel()
    identity = all(bool((p == (1.0 if name.endswith("weight") else 0.0)).all()) for name, p in found)
    return {
        "tensors": len(found),
        "layers": len({n.rsplit(".", 1)[0] for n, _ in found}),
        "parameters": sum(p.numel() for _, p in found),
        "by_module": by_module,
        "identity": identity,
    }


@dataclass(frozen=True)
class KeyRow:
    """Keys and parameters of one group of checkpoint tensors."""

    group: str
    keys: int
    parameters: int


def checkpoint_key_table(
    checkpoint: Mapping[str, Mapping[str, torch.Tensor]],
    group: Callable[[str, str], str] | None = None,
) -> list[KeyRow]:
    """Keys and parameters per group of a checkpoint (by default, per top-level entry).

    Args:
        checkpoint: ``{entry: {"module.<key>": tensor}}``, as
            :func:`kokoro_lab.original.model.load_checkpoint` returns it (5 entries, 548 keys).
        group: ``group(entry, key) -> label`` with ``key`` stripped of its ``module.`` prefix;
            rows appear in the order their labels are first met.
    """
    rows: dict[str, list[int]] = {}
    for entry, state in checkpoint.items():
        for key, tensor in state.items():
            label = group(entry, key.removeprefix("module.")) if group else entry
            acc = rows.setdefault(label, [0, 0])
            acc[0] += 1
            acc[1] += tensor.numel()
    return [KeyRow(label, keys, params) for label, (keys, params) in rows.items()]


def report_003_group(entry: str, key: str) -> str:
    """The grouping that reproduces report 003's table: any path containing ``text_encoder``.

    That rule puts the top-level ``text_encoder`` *and* the prosody predictor's
    ``predictor.text_encoder`` (its DurationEncoder) under one ``TEXT_ENCODER`` label.
    """
    return "TEXT_ENCODER" if "text_encoder" in f"{entry}.{key}" else entry.upper()


def style_consumers(model: torch.nn.Module) -> dict[str, dict]:
    """The layers that read the style vector, per top-level module.

    Every ``AdaIN1d`` and ``AdaLayerNorm`` maps the style through a ``Linear`` called ``fc``.

    Returns:
        ``{top: {"layers": n, "style_width": sorted input widths of those fc layers}}``; for
        Kokoro-82M both the decoder and the predictor read 128 numbers.
    """
    out: dict[str, dict] = {}
    for name, module in model.named_modules():
        if type(module).__name__ in {"AdaIN1d", "AdaLayerNorm"}:
            top = name.split(".", 1)[0]
            entry = out.setdefault(top, {"layers": 0, "style_width": set()})
            entry["layers"] += 1
            entry["style_width"].add(module.fc.in_features)
    return {top: {"layers": e["layers"], "style_width": sorted(e["style_width"])} for top, e in out.items()}


def split_style(ref_s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``ref_s`` [..., 256] into the decoder half [..., :128] and the predictor half [..., 128:].

    ``kokoro.KModel.forward_with_tokens`` gives ``ref_s[:, 128:]`` to the prosody predictor and
    ``ref_s[:, :128]`` to the decoder.
    """
    half = load_config()["style_dim"]
    if ref_s.shape[-1] != 2 * half:
        raise ValueError(f"ref_s must end in {2 * half} numbers, got shape {tuple(ref_s.shape)}.")
    return ref_s[..., :half], ref_s[..., half:]


class _StopBeforeDecoder(Exception):
    pass


@torch.inference_mode()
def style_routes(
    model: torch.nn.Module, input_ids: torch.Tensor, ref_s: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The style tensor each style-reading stage receives in ``KModel.forward_with_tokens``.

    The official forward pass runs with forward pre-hooks that record the style argument of the
    predictor's DurationEncoder, of its first F0 and N blocks, and of the decoder; it stops as the
    decoder starts (the decoder itself, the slow part, never runs).

    Args:
        model: a ``kokoro.KModel``.
        input_ids: [1, L] token ids with the 0 boundaries.
        ref_s: [1, 256] style.

    Returns:
        ``{"predictor.text_encoder", "predictor.F0", "predictor.N", "decoder"}`` → [1, 128] each.
    """
    seen: dict[str, torch.Tensor] = {}

    def grab(name: str, index: int, stop: bool = False):
        def hook(module, args):
            seen[name] = args[index].detach().clone()
            if stop:
                raise _StopBeforeDecoder

        return hook

    handles = [
        model.predictor.text_encoder.register_forward_pre_hook(grab("predictor.text_encoder", 1)),
        model.predictor.F0[0].register_forward_pre_hook(grab("predictor.F0", 1)),
        model.predictor.N[0].register_forward_pre_hook(grab("predictor.N", 1)),
        model.decoder.register_forward_pre_hook(grab("decoder", 3, stop=True)),
    ]
    try:
        model.forward_with_tokens(input_ids, ref_s)
    except _StopBeforeDecoder:
        pass
    finally:
        for h in handles:
            h.remove()
    return seen


def config_table(model: torch.nn.Module, config: Mapping | None = None) -> list[dict]:
    """Structural settings of ``config.json`` next to the same figure measured on ``model``.

    Returns:
        rows ``{"setting", "config", "model", "measured as"}``; ``config == model`` in every row
        when the model was built from this configuration.
    """
    cfg = config or load_config()
    gen = model.decoder.generator
    style_widths = sorted({w for e in style_consumers(model).values() for w in e["style_width"]})
    measured = [
        (
            "n_token",
            cfg["n_token"],
            model.text_encoder.embedding.num_embeddings,
            "text_encoder.embedding rows",
        ),
        (
            "n_token (ALBERT)",
            cfg["n_token"],
            model.bert.embeddings.word_embeddings.num_embeddings,
            "bert word embedding rows",
        ),
        ("hidden_dim", cfg["hidden_dim"], model.bert_encoder.out_features, "bert_encoder output width"),
        (
            "style_dim",
            cfg["style_dim"],
            style_widths[0] if len(style_widths) == 1 else style_widths,
            "fc input of every AdaIN",
        ),
        ("n_layer", cfg["n_layer"], len(model.text_encoder.cnn), "text_encoder CNN blocks"),
        (
            "max_dur",
            cfg["max_dur"],
            model.predictor.duration_proj.linear_layer.out_features,
            "duration_proj outputs",
        ),
        (
            "text_encoder_kernel_size",
            cfg["text_encoder_kernel_size"],
            model.text_encoder.cnn[0][0].kernel_size[0],
            "text_encoder conv kernel",
        ),
        ("plbert.hidden_size", cfg["plbert"]["hidden_size"], model.bert.config.hidden_size, "ALBERT width"),
        (
            "plbert.max_position_embeddings",
            cfg["plbert"]["max_position_embeddings"],
            model.bert.embeddings.position_embeddings.num_embeddings,
            "ALBERT position rows",
        ),
        (
            "istftnet.upsample_rates",
            cfg["istftnet"]["upsample_rates"],
            [u.stride[0] for u in gen.ups],
            "generator.ups strides",
        ),
        (
            "istftnet.upsample_initial_channel",
            cfg["istftnet"]["upsample_initial_channel"],
            gen.ups[0].in_channels,
            "generator.ups[0] input channels",
        ),
        (
            "istftnet.resblock_kernel_sizes",
            cfg["istftnet"]["resblock_kernel_sizes"],
            [
                r.convs1[0].kernel_size[0]
                for r in gen.resblocks[: len(cfg["istftnet"]["resblock_kernel_sizes"])]
            ],
            "generator.resblocks kernels",
        ),
        (
            "istftnet.gen_istft_n_fft",
            cfg["istftnet"]["gen_istft_n_fft"],
            gen.conv_post.out_channels - 2,
            "conv_post outputs − 2 (magnitude + phase bins)",
        ),
    ]
    return [{"setting": s, "config": c, "model": m, "measured as": how} for s, c, m, how in measured]


def vocab_summary(vocab: Mapping[str, int] | None = None, config: Mapping | None = None) -> dict:
    """Size and id range of Kokoro's phoneme vocabulary.

    Returns:
        ``symbols`` (114), ``min_id`` (1), ``max_id`` (177), ``n_token`` (178 embedding rows),
        ``unused_ids`` (ids in 1..n_token−1 with no symbol: 63), ``boundary_id`` (0) and
        ``boundary_in_vocab`` (False: id 0 is the boundary/pad token, no symbol maps to it).
    """
    from ..original.text import vocab as _vocab

    v = dict(vocab if vocab is not None else _vocab())
    n_token = (config or load_config())["n_token"]
    ids = set(v.values())
    return {
        "symbols": len(v),
        "min_id": min(ids),
        "max_id": max(ids),
        "n_token": n_token,
        "unused_ids": len(set(range(1, n_token)) - ids),
        "boundary_id": 0,
        "boundary_in_vocab": 0 in ids,
    }


def voice_stats(pack: torch.Tensor) -> dict:
    """Summary statistics of a voice pack (510, 1, 256), over all its 130,560 numbers.

    ``std`` is the sample standard deviation (``ddof=1``, as ``torch.Tensor.std``); ``median`` is
    the mean of the two middle values.
    """
    x = pack.detach().cpu().numpy().astype(np.float64).ravel()
    return {
        "shape": tuple(pack.shape),
        "min": float(x.min()),
        "max": float(x.max()),
        "mean": float(x.mean()),
        "std": float(x.std(ddof=1)),
        "median": float(np.median(x)),
    }


def voice_row_stats(pack: torch.Tensor) -> dict[str, np.ndarray]:
    """How the rows of a voice pack vary with the utterance's token count, per half of ``ref_s``.

    Row ``i`` (0-based) is the ``ref_s`` used for an utterance of ``i + 1`` phonemes.

    Returns:
        arrays of shape (510,): ``n_tokens`` (1..510), and for ``half`` in ``decoder``
        (``ref_s[:, :128]``) and ``predictor`` (``ref_s[:, 128:]``): ``{half}_norm`` (L2 norm of
        the row), ``{half}_from_row0`` (L2 distance from row 0) and ``{half}_step`` (L2 distance
        from the previous row; 0 for row 0).
    """
    rows = pack.detach().cpu().reshape(pack.shape[0], -1).double()  # [510, 256]
    out = {"n_tokens": np.arange(1, rows.shape[0] + 1)}
    for half, h in zip(("decoder", "predictor"), split_style(rows), strict=True):
        out[f"{half}_norm"] = h.norm(dim=1).numpy()
        out[f"{half}_from_row0"] = (h - h[0]).norm(dim=1).numpy()
        step = torch.zeros(h.shape[0], dtype=h.dtype)
        step[1:] = (h[1:] - h[:-1]).norm(dim=1)
        out[f"{half}_step"] = step.numpy()
    return out


def row_variation(pack: torch.Tensor, settle: float = 0.9, early: int = 10, late: int = 100) -> dict:
    """How far, and how early, the rows of a pack move, per half of ``ref_s`` (from :func:`voice_row_stats`).

    Returns:
        for ``half`` in ``decoder`` and ``predictor``: ``{half}_drift`` (distance of the last row
        from row 0), ``{half}_settles_at`` (the first token count whose row is ``settle`` of that
        drift away from row 0) and ``{half}_step_ratio`` (mean step between consecutive rows over
        token counts 2..``early`` + 1, divided by the mean step over the last ``late`` rows).
    """
    stats = voice_row_stats(pack)
    out: dict = {}
    for half in ("decoder", "predictor"):
        dist, step = stats[f"{half}_from_row0"], stats[f"{half}_step"]
        out[f"{half}_drift"] = float(dist[-1])
        out[f"{half}_settles_at"] = int(stats["n_tokens"][np.argmax(dist >= settle * dist[-1])])
        with np.errstate(divide="ignore", invalid="ignore"):  # inf when the last rows never move
            out[f"{half}_step_ratio"] = float(step[1 : early + 1].mean() / step[-late:].mean())
    return out


def markdown_table(rows: Sequence, columns: Sequence[str] | None = None) -> str:
    """A Markdown table of dicts or dataclasses; integers get thousands separators, floats 4 decimals."""

    def as_dict(row) -> dict:
        return dataclasses.asdict(row) if dataclasses.is_dataclass(row) else dict(row)

    records = [as_dict(r) for r in rows]
    cols = list(columns or (records[0] if records else []))

    def fmt(value) -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in records]
    return "\n".join(lines)


# Figures for the chapter "Anatomy of Kokoro-82M".


def plot_parameters(rows: Sequence[ParameterRow], ax=None):
    """Horizontal bars of checkpoint parameters (millions) per top-level module, with their share."""
    import matplotlib.pyplot as plt

    top = [r for r in rows if r.top_level]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 2.6))
    y = np.arange(len(top))
    stored = np.array([r.parameters for r in top]) / 1e6
    ax.barh(y, stored, color="tab:blue")
    for yi, s in zip(y, stored, strict=True):
        ax.text(s + 0.4, yi, f"{s:.2f} M ({s / stored.sum():.1%})", va="center", fontsize=8)
    ax.set_yticks(y, [r.module for r in top])
    ax.invert_yaxis()
    ax.set(
        xlabel="parameters in the checkpoint (millions)",
        title=f"Kokoro-82M: {stored.sum():.2f} M parameters per module",
        xlim=(0, stored.max() * 1.3),
    )
    return ax


def plot_voice_rows(pack: torch.Tensor, title: str = "voice pack", axes=None):
    """Two panels over the 510 rows: L2 norm of each half, and distance of each half from row 0."""
    import matplotlib.pyplot as plt

    stats = voice_row_stats(pack)
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3), sharex=True)
    n = stats["n_tokens"]
    for half, color in (("decoder", "tab:blue"), ("predictor", "tab:red")):
        label = f"{half} half ref_s[:, {':128' if half == 'decoder' else '128:'}]"
        axes[0].plot(n, stats[f"{half}_norm"], color=color, label=label)
        axes[1].plot(n, stats[f"{half}_from_row0"], color=color, label=label)
    axes[0].set(xlabel="phoneme tokens in the utterance", ylabel="L2 norm", title=f"{title}: row norm")
    axes[1].set(
        xlabel="phoneme tokens in the utterance", ylabel="L2 distance", title=f"{title}: distance from row 0"
    )
    axes[0].legend(fontsize=8)
    return axes


def plot_style_heatmap(pack: torch.Tensor, title: str = "voice pack", ax=None):
    """The pack as an image, rows (token count) × 256 style numbers, with the two halves marked."""
    import matplotlib.pyplot as plt

    rows = pack.detach().cpu().reshape(pack.shape[0], -1).numpy()  # [510, 256]
    half = rows.shape[1] // 2
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.5))
    lim = float(np.abs(rows).max())
    im = ax.imshow(
        rows,
        aspect="auto",
        cmap="RdBu_r",
        vmin=-lim,
        vmax=lim,
        origin="lower",
        extent=(0, rows.shape[1], 1, rows.shape[0] + 1),
    )
    ax.axvline(half, color="black", lw=1)
    ax.set(xlabel="style index (0–127 decoder, 128–255 predictor)", ylabel="phoneme tokens", title=title)
    ax.figure.colorbar(im, ax=ax, label="value")
    return ax
