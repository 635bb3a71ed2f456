"""Run a converted package with Core ML (macOS only) and compare it with the PyTorch module.

Core ML's runtime ships with macOS; on Linux coremltools converts and reads packages but cannot
run them, and :func:`predict` says so before doing anything else.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

COMPUTE_UNITS = ("ALL", "CPU_ONLY", "CPU_AND_GPU", "CPU_AND_NE")


class PredictionUnavailable(RuntimeError):
    """Core ML predictions need macOS."""


def require_macos() -> None:
    """Raise :class:`PredictionUnavailable` unless this is macOS."""
    if sys.platform != "darwin":
        raise PredictionUnavailable(
            f"Model prediction is only supported on macOS (this is {sys.platform}). Conversion and "
            "inspection work here; run the prediction cells on a Mac."
        )


@dataclass
class Prediction:
    """One utterance from a package, cut to its valid length."""

    audio: np.ndarray  # [T] float32, 24 kHz
    pred_dur: np.ndarray  # [n_tokens] frames per token, boundaries included
    frame_overflow: int
    compute_units: str


def package_inputs(path: str | os.PathLike, tokens: list[int], ref_s: torch.Tensor, speed: float = 1.0):
    """The five named inputs for ``tokens`` (phoneme ids, no boundaries), padded to the package's
    MAX_TOKENS as recorded in its metadata."""
    from .coremltools_import import load_coremltools

    ct = load_coremltools()

    from ..rewrite.model import pad_inputs

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    max_tokens = int(spec.description.metadata.userDefined["kokoro_lab.max_tokens"])
    input_ids, attention_mask = pad_inputs(tokens, max_tokens)
    return {
        "input_ids": input_ids.numpy().astype(np.int32),
        "ref_s": np.asarray(ref_s, dtype=np.float32).reshape(1, 256),
        "random_phases": np.zeros((1, 9), np.float32),
        "attention_mask": attention_mask.numpy().astype(np.int32),
        "speed": np.array([speed], np.float32),
    }


def predict(
    path: str | os.PathLike,
    tokens: list[int],
    ref_s: torch.Tensor,
    speed: float = 1.0,
    compute_units: str = "ALL",
) -> Prediction:
    """Synthesize ``tokens`` with the package at ``path`` on the chosen compute units.

    Args:
        tokens: phoneme ids without boundaries (:func:`kokoro_lab.tokenize`).
        ref_s: style [1, 256].
        compute_units: one of :data:`COMPUTE_UNITS`; "CPU_AND_NE" prefers the Neural Engine.

    Raises:
        PredictionUnavailable: not on macOS.
        ValueError: an unknown compute unit.
    """
    require_macos()
    if compute_units not in COMPUTE_UNITS:
        raise ValueError(
            f"Unknown compute units {compute_units!r}; choose one of {', '.join(COMPUTE_UNITS)}."
        )
    from .coremltools_import import load_coremltools

    ct = load_coremltools()

    if not Path(path).exists():
        raise FileNotFoundError(f"{path} does not exist; convert a package first.")
    model = ct.models.MLModel(str(path), compute_units=getattr(ct.ComputeUnit, compute_units))
    out = model.predict(package_inputs(path, tokens, ref_s, speed))
    n = int(np.asarray(out["audio_length_samples"]).reshape(-1)[0])
    return Prediction(
        audio=np.asarray(out["audio"], np.float32).reshape(-1)[:n],
        pred_dur=np.asarray(out["pred_dur"], np.float32).reshape(-1)[: len(tokens) + 2],
        frame_overflow=int(np.asarray(out["frame_overflow"]).reshape(-1)[0]),
        compute_units=compute_units,
    )


@dataclass
class Agreement:
    """A package's output against the PyTorch module's, on the comparable tensors."""

    duration_max_diff: float  # frames
    length_diff: int  # samples
    log_mel_db: float  # mean |Δ| of the log-mel spectrograms over the common length


def compare_with_torch(
    path: str | os.PathLike, model, tokens: list[int], ref_s: torch.Tensor, **kw
) -> Agreement:
    """Predict with the package and run ``KokoroCompleteCoreML`` for the same bucket in PyTorch."""
    from .coremltools_import import load_coremltools

    ct = load_coremltools()

    from ..quality.distance import log_mel_distance
    from ..rewrite.model import KokoroCompleteCoreML

    got = predict(path, tokens, ref_s, **kw)
    meta = ct.models.MLModel(str(path), skip_model_load=True).get_spec().description.metadata.userDefined
    module = KokoroCompleteCoreML(
        model, int(meta["kokoro_lab.max_tokens"]), int(meta["kokoro_lab.max_frames"])
    )
    inputs = {
        k: torch.from_numpy(v) for k, v in package_inputs(path, tokens, ref_s, kw.get("speed", 1.0)).items()
    }
    with torch.inference_mode():
        audio, length, pred_dur, _ = module(**inputs)
    ref = audio.reshape(-1)[: int(length[0])].numpy()
    dur = pred_dur.reshape(-1)[: len(tokens) + 2].numpy()
    return Agreement(
        float(np.abs(got.pred_dur - dur).max()), len(got.audio) - len(ref), log_mel_distance(ref, got.audio)
    )


# --- the two-stage pipeline ------------------------------------------------------------------


class CoreMLStages:
    """The stages of a pipeline directory, run with Core ML (macOS only), loaded on first use.

    The manifest and every package are checked when this is built (on any OS,
    :func:`kokoro_lab.coreml.manifest.check_directory`); running a stage needs macOS.
    """

    def __init__(self, directory: str | os.PathLike, compute_units: str = "ALL"):
        from .manifest import check_directory

        if compute_units not in COMPUTE_UNITS:
            raise ValueError(
                f"Unknown compute units {compute_units!r}; choose one of {', '.join(COMPUTE_UNITS)}."
            )
        self.directory = Path(directory)
        self.manifest = check_directory(self.directory)
        self.acoustic_tokens = self.manifest.acoustic_tokens
        self.compute_units = compute_units
        self._models: dict[str, object] = {}

    def _model(self, package: str):
        require_macos()
        if package not in self._models:
            from .coremltools_import import load_coremltools

            ct = load_coremltools()
            units = getattr(ct.ComputeUnit, self.compute_units)
            self._models[package] = ct.models.MLModel(str(self.directory / package), compute_units=units)
        return self._models[package]

    def _package(self, packages, size: int, attr: str) -> str:
        for p in packages:
            if getattr(p, attr) == size:
                return p.package
        raise ValueError(f"{self.directory.name} has no package with {attr} = {size}; convert that bucket.")

    def text(self, max_tokens: int):
        package = self._package(self.manifest.text, max_tokens, "max_tokens")

        def run(input_ids, attention_mask, ref_s, speed):
            out = self._model(package).predict(
                {
                    "input_ids": np.asarray(input_ids, np.int32),
                    "attention_mask": np.asarray(attention_mask, np.int32),
                    "ref_s": np.asarray(ref_s, np.float32).reshape(1, 256),
                    "speed": np.asarray(speed, np.float32).reshape(1),
                }
            )
            return tuple(torch.from_numpy(np.asarray(out[k], np.float32)) for k in ("pred_dur", "d", "t_en"))

        return run

    def acoustic(self, max_frames: int):
        package = self._package(self.manifest.acoustic, max_frames, "max_frames")

        def run(d, t_en, pred_dur, ref_s, random_phases):
            feed = {
                "d": d,
                "t_en": t_en,
                "pred_dur": pred_dur,
                "ref_s": ref_s,
                "random_phases": random_phases,
            }
            out = self._model(package).predict({k: np.asarray(v, np.float32) for k, v in feed.items()})
            return (
                torch.from_numpy(np.asarray(out["audio"], np.float32)),
                torch.from_numpy(np.asarray(out["audio_length_samples"], np.int32)),
                torch.from_numpy(np.asarray(out["frame_overflow"], np.int32)),
            )

        return run


def predict_pipeline(
    directory: str | os.PathLike,
    tokens: list[int],
    ref_s: torch.Tensor,
    speed: float = 1.0,
    compute_units: str = "ALL",
):
    """Synthesize ``tokens`` with the pipeline packages in ``directory`` (macOS only).

    Returns a :class:`kokoro_lab.coreml.pipeline.PipelineOutput`, which names the buckets used.

    Raises:
        PredictionUnavailable: not on macOS (checked first).
        ManifestError: the directory's manifest and packages disagree.
        TextTooLongForPipeline, FrameOverflowError: the text does not fit the largest buckets.
    """
    require_macos()
    from .pipeline import KokoroPipeline

    return KokoroPipeline.from_directory(directory, compute_units).synthesize_tokens(tokens, ref_s, speed)
