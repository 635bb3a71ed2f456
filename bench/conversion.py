"""Conversion benchmark: wall time per step and package size, per bucket, precision and compression.

    .venv/bin/python bench/conversion.py                       # 5s, 10s, 15s × fp32, fp16; 5s fp16 compressed
    .venv/bin/python bench/conversion.py --buckets 2s --compress int8

Each bucket is traced once; each precision is converted from that trace; each compression starts
from the fp16 program of the first bucket. Packages are saved to a temporary directory (or
``--keep DIR``), measured on disk, and removed. Results: ``bench/results/conversion.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--buckets", nargs="+", default=["5s", "10s", "15s"])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16"], choices=["fp32", "fp16"])
    parser.add_argument(
        "--compress",
        nargs="*",
        default=["int8", "palettize6", "palettize4"],
        help="on the first bucket's fp16",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep the packages in this directory")
    parser.add_argument("--results", type=Path, default=None, help="directory for conversion.json")
    args = parser.parse_args(argv)

    from kokoro_lab import load_kmodel
    from kokoro_lab.benchmarking import machine_info, pin_threads, print_table, write_results
    from kokoro_lab.coreml import get_bucket
    from kokoro_lab.coreml.compress import compress_weights
    from kokoro_lab.coreml.convert import package_size, save_package, set_metadata, to_mlprogram, trace

    pin_threads(args.threads)
    machine = machine_info()
    model, source = load_kmodel(None, True)
    weights = source.describe()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kokoro-convert-") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)

        def save(mlmodel, bucket, precision, compress, seconds):
            set_metadata(mlmodel, bucket, precision, compress, weights)
            name = f"kokoro-82m-{bucket.name}-{precision}{f'-{compress}' if compress else ''}.mlpackage"
            t0 = time.perf_counter()
            path = save_package(mlmodel, out_dir / name, overwrite=True)
            seconds["save"] = time.perf_counter() - t0
            row = {
                "bucket": bucket.name,
                "max_tokens": bucket.max_tokens,
                "max_frames": bucket.max_frames,
                "precision": precision,
                "compression": compress or "none",
                "size_mb": package_size(path) / 1e6,
                **{f"{k}_s": v for k, v in seconds.items()},
                "total_s": sum(seconds.values()),
            }
            rows.append(row)
            print(
                f"{name}: {row['size_mb']:.1f} MB, "
                + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()),
                file=sys.stderr,
            )
            if args.keep is None:
                import shutil

                shutil.rmtree(path)

        for i, name in enumerate(args.buckets):
            bucket = get_bucket(name)
            t0 = time.perf_counter()
            traced = trace(bucket, model)
            trace_s = time.perf_counter() - t0
            for precision in args.precisions:
                t0 = time.perf_counter()
                mlmodel = to_mlprogram(traced, bucket, precision, quiet=True)
                seconds = {"trace": trace_s, "convert": time.perf_counter() - t0}
                save(mlmodel, bucket, precision, None, seconds)
                if i == 0 and precision == "fp16":
                    for mode in args.compress:
                        t0 = time.perf_counter()
                        small = compress_weights(mlmodel, mode, quiet=True)
                        extra = {**seconds, "compress": time.perf_counter() - t0}
                        save(small, bucket, precision, mode, extra)
                del mlmodel
            del traced

    columns = {
        "bucket": "bucket",
        "precision": "precision",
        "compression": "weights",
        "size_mb": "MB",
        "trace_s": "trace s",
        "convert_s": "convert s",
        "compress_s": "compress s",
        "save_s": "save s",
        "total_s": "total s",
    }
    print_table(rows, columns, digits=1)
    path = write_results(
        "conversion",
        rows,
        {
            "buckets": args.buckets,
            "precisions": args.precisions,
            "compress": args.compress,
            "threads": args.threads,
        },
        machine=machine,
        directory=args.results,
        extra={"weights": weights},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
