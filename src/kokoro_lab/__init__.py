"""kokoro-lab: Kokoro-82M explained stage by stage, rewritten for CoreML, and converted.

Subpackages, in the order of the story:

* :mod:`kokoro_lab.original`: hexgrad's model as shipped (weights, voices, text, synthesis);
* :mod:`kokoro_lab.rewrite`: the seed's CoreML-compatible modules;
* :mod:`kokoro_lab.coreml`: conversion, buckets, fp16 islands, compression, inspection;
* :mod:`kokoro_lab.quality`: measures of the audio;
* :mod:`kokoro_lab.transformer_tts`, :mod:`kokoro_lab.finetune`: learning from Kokoro;
* :mod:`kokoro_lab.book`: what only the chapters use.
"""

from .config import SAMPLE_RATE, SAMPLES_PER_FRAME, load_config
from .original import (
    CheckpointSource,
    SynthesisResult,
    TextTooLongError,
    list_voices,
    load_kmodel,
    load_voice,
    phonemize,
    resolve_checkpoint,
    split_phonemes,
    synthesize,
    tokenize,
    vocab,
)
from .rewrite import (
    GeneratorDeterministic,
    KokoroCompleteCoreML,
    RewriteConfig,
    SineGenDeterministic,
    SourceModuleHnNSFDeterministic,
    TextEncoderFixed,
    TextEncoderPredictorFixed,
    create_alignment_matrix,
)

__version__ = "0.1.0"

__all__ = [
    "SAMPLES_PER_FRAME",
    "SAMPLE_RATE",
    "CheckpointSource",
    "GeneratorDeterministic",
    "KokoroCompleteCoreML",
    "RewriteConfig",
    "SineGenDeterministic",
    "SourceModuleHnNSFDeterministic",
    "SynthesisResult",
    "TextEncoderFixed",
    "TextEncoderPredictorFixed",
    "TextTooLongError",
    "create_alignment_matrix",
    "list_voices",
    "load_config",
    "load_kmodel",
    "load_voice",
    "phonemize",
    "resolve_checkpoint",
    "split_phonemes",
    "synthesize",
    "tokenize",
    "vocab",
]
