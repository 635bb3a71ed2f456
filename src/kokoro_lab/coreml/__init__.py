"""Kokoro-82M to CoreML: buckets, conversion, fp16 with float32 islands, compression, inspection.

coremltools is imported only when a function needs it, so the bucket table is usable without it.
"""

from .buckets import BUCKETS, Bucket, bucket_for, get_bucket, measure_token_limit
from .convert import COMPRESSIONS, PRECISIONS, ConversionResult, convert
from .inspection import IslandReport, ModelSummary, inspect, inspect_program, island_report

__all__ = [
    "BUCKETS",
    "COMPRESSIONS",
    "PRECISIONS",
    "Bucket",
    "ConversionResult",
    "IslandReport",
    "ModelSummary",
    "bucket_for",
    "convert",
    "get_bucket",
    "inspect",
    "inspect_program",
    "island_report",
    "measure_token_limit",
]
