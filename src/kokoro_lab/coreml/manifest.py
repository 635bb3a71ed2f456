"""The manifest of a pipeline directory: which stage packages it holds, their shapes and names.

``kokoro-lab convert --pipeline -o DIR`` writes one ``.mlpackage`` per stage and bucket and a
``manifest.json`` beside them. The manifest and every package carry the same *conversion id*, a
digest of what determines the packages' contents (kokoro-lab's version, the weights, precision,
compression, deployment target, rewrite variant). Packages from one conversion therefore work
together, and :func:`check_directory` refuses a mix with an error that names the fix.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import atomic_path

MANIFEST = "manifest.json"
FORMAT = "kokoro-lab pipeline"
FORMAT_VERSION = 1

TEXT_INPUTS: dict[str, tuple[str, str]] = {  # name → (dtype, description); L from the bucket
    "input_ids": ("int32", "Phoneme token ids [1, L]: 0, the ids, 0, then zeros (pad_inputs())."),
    "attention_mask": ("int32", "[1, L]: 1 for the boundaries and tokens, 0 for padding."),
    "ref_s": ("float32", "Voice style [1, 256]: [:128] decoder style, [128:] prosody style (style_for())."),
    "speed": ("float32", "Speaking rate [1]; 1.0 is normal, larger is faster."),
}
TEXT_OUTPUTS: dict[str, tuple[str, str]] = {
    "pred_dur": ("float32", "Frames per token [1, L] (600 samples each); 0 at padding."),
    "d": ("float32", "Duration encoder output [1, L, 640]: the prosody predictor's input per token."),
    "t_en": ("float32", "Text encoder output [1, 512, L]: the decoder's input per token."),
}
ACOUSTIC_INPUTS: dict[str, tuple[str, str]] = {
    "d": ("float32", "The text stage's d [1, L, 640], zero-padded to this stage's L."),
    "t_en": ("float32", "The text stage's t_en [1, 512, L], zero-padded to this stage's L."),
    "pred_dur": ("float32", "The text stage's pred_dur [1, L], zero-padded to this stage's L."),
    "ref_s": ("float32", "Voice style [1, 256], the same as the text stage's."),
    "random_phases": ("float32", "Initial harmonic phases [1, 9]; unused by the faithful sine source."),
}
ACOUSTIC_OUTPUTS: dict[str, tuple[str, str]] = {
    "audio": ("float32", "24 kHz waveform [1, 1, F·600]; zero after audio_length_samples."),
    "audio_length_samples": ("int32", "Valid samples at the start of audio [1]."),
    "frame_overflow": ("int32", "Frames the text needed beyond F [1]; > 0 means cut off."),
}


class ManifestError(ValueError):
    """A pipeline directory whose manifest and packages disagree; the message names the fix."""


RECONVERT = "convert the whole pipeline again into one directory (kokoro-lab convert --pipeline -o DIR)"


def conversion_id(
    model, precision: str, compress: str | None, deployment_target: str, config: str = "exact"
) -> str:
    """16 hex digits of SHA-256 over kokoro-lab's version, every weight's bytes and the settings.

    The same weights and settings give the same id (a conversion is deterministic), so packages
    converted separately with them fit together; anything else gives another id.
    """
    import torch

    from .. import __version__

    h = hashlib.sha256()
    for part in (__version__, precision, compress or "none", deployment_target, config):
        h.update(part.encode() + b"\0")
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode() + b"\0")
        h.update(tensor.detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class StagePackage:
    """One package of a pipeline: its file name and fixed shape."""

    package: str  # file name inside the directory
    max_tokens: int
    max_frames: int | None = None  # acoustic stage only


@dataclass
class PipelineManifest:
    """What ``manifest.json`` holds. ``text`` and ``acoustic`` list the packages, smallest first."""

    conversion_id: str
    kokoro_lab_version: str
    precision: str
    compression: str
    deployment_target: str
    weights: str
    text: list[StagePackage]
    acoustic: list[StagePackage]
    sample_rate: int = 24000
    samples_per_frame: int = 600
    packaging: str = "one package per stage and bucket"
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # stage → name → dtype
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def __post_init__(self):
        self.text = sorted(self.text, key=lambda p: p.max_tokens)
        self.acoustic = sorted(self.acoustic, key=lambda p: p.max_frames or 0)
        if not self.inputs:
            self.inputs = {
                "text": {n: d for n, (d, _) in TEXT_INPUTS.items()},
                "acoustic": {n: d for n, (d, _) in ACOUSTIC_INPUTS.items()},
            }
        if not self.outputs:
            self.outputs = {
                "text": {n: d for n, (d, _) in TEXT_OUTPUTS.items()},
                "acoustic": {n: d for n, (d, _) in ACOUSTIC_OUTPUTS.items()},
            }

    @property
    def text_buckets(self) -> tuple[int, ...]:
        return tuple(p.max_tokens for p in self.text)

    @property
    def frame_buckets(self) -> tuple[int, ...]:
        return tuple(p.max_frames for p in self.acoustic)

    @property
    def acoustic_tokens(self) -> int:
        """The token count of every acoustic package (the largest text bucket)."""
        return self.acoustic[0].max_tokens

    @property
    def limits(self) -> dict[str, float]:
        return {
            "max_tokens": self.text_buckets[-1],
            "max_phonemes": self.text_buckets[-1] - 2,
            "max_frames": self.frame_buckets[-1],
            "max_seconds": self.frame_buckets[-1] * self.samples_per_frame / self.sample_rate,
        }

    def to_json(self) -> dict:
        d = asdict(self)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **d, "limits": self.limits}

    @classmethod
    def from_json(cls, data: dict, source: str = MANIFEST) -> PipelineManifest:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ManifestError(f"{source} is not a kokoro-lab pipeline manifest; {RECONVERT}.")
        if data.get("format_version") != FORMAT_VERSION:
            raise ManifestError(
                f"{source} has format version {data.get('format_version')}, this kokoro-lab reads "
                f"{FORMAT_VERSION}; {RECONVERT}."
            )
        try:
            fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            fields["text"] = [StagePackage(**p) for p in data["text"]]
            fields["acoustic"] = [StagePackage(**p) for p in data["acoustic"]]
            manifest = cls(**fields)
        except (KeyError, TypeError) as err:
            raise ManifestError(f"{source} lacks or garbles a field ({err}); {RECONVERT}.") from None
        if not manifest.text or not manifest.acoustic:
            raise ManifestError(f"{source} lists no text or no acoustic package; {RECONVERT}.")
        if len({p.max_tokens for p in manifest.acoustic}) != 1:
            raise ManifestError(f"{source}: the acoustic packages differ in max_tokens; {RECONVERT}.")
        if manifest.acoustic_tokens < manifest.text_buckets[-1]:
            raise ManifestError(
                f"{source}: the acoustic packages take {manifest.acoustic_tokens} tokens, fewer than the "
                f"largest text bucket ({manifest.text_buckets[-1]}); {RECONVERT}."
            )
        return manifest


def write_manifest(directory: str | os.PathLike, manifest: PipelineManifest, overwrite: bool = False) -> Path:
    """Write ``directory/manifest.json`` atomically. → its path."""
    path = Path(directory) / MANIFEST
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(manifest.to_json(), indent=1) + "\n", encoding="utf-8")
        tmp.chmod(0o644)
    return path


def read_manifest(directory: str | os.PathLike) -> PipelineManifest:
    """Read ``directory/manifest.json`` (without opening the packages; see :func:`check_directory`)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise ManifestError(f"{directory} is not a directory; give the directory convert --pipeline wrote.")
    if not path.exists():
        raise ManifestError(f"{directory} has no {MANIFEST}; {RECONVERT}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ManifestError(f"{path} is not valid JSON ({err}); {RECONVERT}.") from None
    return PipelineManifest.from_json(data, str(path))


def package_metadata(path: str | os.PathLike) -> tuple[dict[str, str], dict, dict]:
    """A package's ``user_defined_metadata``, input shapes and output names (no runtime needed)."""
    from .inspection import load_spec

    spec = load_spec(path)
    inputs = {f.name: tuple(int(s) for s in f.type.multiArrayType.shape) for f in spec.description.input}
    outputs = {f.name: None for f in spec.description.output}
    return dict(spec.description.metadata.userDefined), inputs, outputs


def check_directory(directory: str | os.PathLike) -> PipelineManifest:
    """Read the manifest and check every listed package against it. → the manifest.

    Raises:
        ManifestError: a listed package is missing, is another stage or shape than listed, has
            other input or output names, or comes from another conversion (conversion id).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    for stage, packages in (("text", manifest.text), ("acoustic", manifest.acoustic)):
        for p in packages:
            path = directory / p.package
            if not path.exists():
                raise ManifestError(
                    f"{MANIFEST} lists {p.package}, which is not in {directory.name}; {RECONVERT}."
                )
            meta, inputs, outputs = package_metadata(path)
            got_id = meta.get("kokoro_lab.conversion_id")
            if got_id != manifest.conversion_id:
                raise ManifestError(
                    f"{p.package} comes from another conversion (conversion id {got_id}, the manifest "
                    f"says {manifest.conversion_id}): stage packages only work with those converted "
                    f"with them; {RECONVERT}."
                )
            want = {
                "kokoro_lab.stage": stage,
                "kokoro_lab.max_tokens": str(p.max_tokens),
                **({"kokoro_lab.max_frames": str(p.max_frames)} if stage == "acoustic" else {}),
            }
            wrong = {k: (meta.get(k), v) for k, v in want.items() if meta.get(k) != v}
            if wrong:
                detail = ", ".join(f"{k} is {g!r}, the manifest says {w!r}" for k, (g, w) in wrong.items())
                raise ManifestError(f"{p.package} does not match {MANIFEST}: {detail}; {RECONVERT}.")
            if set(inputs) != set(manifest.inputs[stage]) or set(outputs) != set(manifest.outputs[stage]):
                raise ManifestError(
                    f"{p.package} has inputs {sorted(inputs)} and outputs {sorted(outputs)}, the manifest "
                    f"lists {sorted(manifest.inputs[stage])} and {sorted(manifest.outputs[stage])}; {RECONVERT}."
                )
    return manifest


__all__ = [
    "ACOUSTIC_INPUTS",
    "ACOUSTIC_OUTPUTS",
    "MANIFEST",
    "TEXT_INPUTS",
    "TEXT_OUTPUTS",
    "ManifestError",
    "PipelineManifest",
    "StagePackage",
    "check_directory",
    "conversion_id",
    "package_metadata",
    "read_manifest",
    "write_manifest",
]
