"""The seed's CoreML-compatible rewrite of Kokoro-82M: six modules and the alignment matrix.

Every module wraps the official ``kokoro`` module it replaces and reuses its weights:

* :class:`TextEncoderFixed`, :class:`TextEncoderPredictorFixed`: the text encoders without
  ``pack_padded_sequence`` (:mod:`.text_encoders`);
* :class:`SineGenDeterministic`, :class:`SourceModuleHnNSFDeterministic`: the harmonic source
  without random draws (:mod:`.sine_source`);
* :class:`GeneratorDeterministic`: the iSTFTNet generator with a conv STFT (:mod:`.generator`);
* :class:`KokoroCompleteCoreML`: the whole model, fixed shapes in and out (:mod:`.model`);
* :class:`TextStage`, :class:`AcousticStage`: the same model cut in two at the token level, each
  stage with its own fixed shapes (:mod:`.stages`);
* :func:`create_alignment_matrix`: durations to the alignment by broadcasting (:mod:`.alignment`).

:class:`RewriteConfig` names the variants (``mode``, ``source``, ``istft``).
"""

from .alignment import create_alignment_matrix
from .config import IstftVariant, LstmMode, RewriteConfig, SourceVariant
from .generator import GeneratorDeterministic
from .model import InputError, KokoroCompleteCoreML, pad_inputs
from .sine_source import (
    SineGenDeterministic,
    SineGenFaithful,
    SourceModuleHnNSFDeterministic,
    no_source_noise,
)
from .stages import AcousticStage, TextStage, pad_tokens
from .text_encoders import TextEncoderFixed, TextEncoderPredictorFixed

SEED_NAMES = (
    "TextEncoderFixed",
    "TextEncoderPredictorFixed",
    "SineGenDeterministic",
    "SourceModuleHnNSFDeterministic",
    "GeneratorDeterministic",
    "KokoroCompleteCoreML",
    "create_alignment_matrix",
)

__all__ = [
    "GeneratorDeterministic",
    "KokoroCompleteCoreML",
    "SineGenDeterministic",
    "SourceModuleHnNSFDeterministic",
    "TextEncoderFixed",
    "TextEncoderPredictorFixed",
    "create_alignment_matrix",
    "AcousticStage",
    "InputError",
    "IstftVariant",
    "LstmMode",
    "RewriteConfig",
    "SineGenFaithful",
    "SourceVariant",
    "TextStage",
    "no_source_noise",
    "pad_inputs",
    "pad_tokens",
]
