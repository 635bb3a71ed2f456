"""Kokoro-82M to CoreML: buckets, conversion, fp16 with float32 islands, compression, inspection,
and the two-stage pipeline (token buckets for the text stage, frame buckets for the acoustic stage).

coremltools is imported only when a function needs it, so the bucket table is usable without it.
"""

from .buckets import BUCKETS, Bucket, bucket_for, get_bucket, measure_token_limit
from .convert import COMPRESSIONS, PRECISIONS, ConversionResult, convert
from .inspection import IslandReport, ModelSummary, inspect, inspect_pipeline, inspect_program, island_report
from .ladder import FRAME_BUCKETS, TEXT_BUCKETS
from .pipeline import BucketChoice, KokoroPipeline, PipelineOutput
from .pipeline_convert import convert_pipeline

__all__ = [
    "BUCKETS",
    "COMPRESSIONS",
    "FRAME_BUCKETS",
    "PRECISIONS",
    "TEXT_BUCKETS",
    "Bucket",
    "BucketChoice",
    "ConversionResult",
    "KokoroPipeline",
    "PipelineOutput",
    "IslandReport",
    "ModelSummary",
    "bucket_for",
    "convert",
    "convert_pipeline",
    "get_bucket",
    "inspect",
    "inspect_pipeline",
    "inspect_program",
    "island_report",
    "measure_token_limit",
]
