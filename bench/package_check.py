"""Compressed packages against the torch emulation: weights read back, sizes measured.

    .venv/bin/python bench/package_check.py                      # every variant, 2 s bucket
    .venv/bin/python bench/package_check.py --variants grouped4 small

Converts the 2 s bucket to fp16 once per deployment target (iOS17 for the iOS16 variants, iOS18
for the others), compresses it with each variant (:func:`kokoro_lab.coreml.compress.compress_weights`),
saves the package and measures it on disk, reads every weight back decompressed
(:func:`kokoro_lab.coreml.package_weights.read_weights`), and compares it with the weight the
torch emulation (:func:`kokoro_lab.coreml.weight_compression.compressed_weights`) puts in the
same place. It also lists any non-weight constant a compression touched (none should be).
Results: ``bench/results/package_check.json``; packages go to a temporary directory or ``--keep``.
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
    from kokoro_lab.coreml.schemes import VARIANTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--bucket", default="2s")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="keep the packages in this directory")
    parser.add_argument("--results", type=Path, default=None, help="directory for package_check.json")
    args = parser.parse_args(argv)

    import numpy as np

    from kokoro_lab import load_kmodel
    from kokoro_lab.benchmarking import machine_info, pin_threads, print_table, write_results
    from kokoro_lab.coreml import get_bucket
    from kokoro_lab.coreml.compress import compress_weights
    from kokoro_lab.coreml.convert import package_size, save_package, to_mlprogram, trace
    from kokoro_lab.coreml.package_weights import (
        compare_weights,
        compressed_consts,
        load_program,
        match_weights,
        read_weights,
        torch_weights,
        weight_const_names,
    )
    from kokoro_lab.coreml.sizes import weight_megabytes
    from kokoro_lab.coreml.weight_compression import compressed_weights

    pin_threads(args.threads)
    machine = machine_info()
    model, source = load_kmodel(None, True)
    bucket = get_bucket(args.bucket)
    traced = trace(bucket, model)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kokoro-check-") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        programs = {}

        def base(target: str):
            if target not in programs:
                t0 = time.perf_counter()
                mlmodel = to_mlprogram(traced, bucket, "fp16", target, quiet=True)
                path = save_package(mlmodel, out_dir / f"fp16-{target}.mlpackage", overwrite=True)
                prog = load_program(mlmodel)
                programs[target] = (mlmodel, package_size(path) / 1e6, match_weights(prog, model), prog)
                print(
                    f"fp16 {target}: {programs[target][1]:.2f} MB, {time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                )
            return programs[target]

        for name in args.variants:
            variant = VARIANTS[name]
            target = "iOS18" if variant.minimum_target == "iOS18" else "iOS17"
            mlmodel, fp16_mb, matches, prog = base(target)
            t0 = time.perf_counter()
            small = compress_weights(mlmodel, variant, quiet=True, model=model)
            compress_s = time.perf_counter() - t0
            path = save_package(small, out_dir / f"{name}.mlpackage", overwrite=True)
            weights = set(weight_const_names(prog))
            touched = compressed_consts(load_program(small))
            packaged = read_weights(small)
            with compressed_weights(model, variant):
                emulated = torch_weights(model)
            diffs = compare_weights(packaged, emulated, matches)
            worst = max(diffs, key=lambda d: d.max_rel)
            # the package minus its float16 weights is the same in every variant: the other constants
            other_mb = fp16_mb - weight_megabytes(model, None)
            rows.append(
                {
                    "variant": name,
                    "target": target,
                    "weights_compared": len(diffs),
                    "max_rel_diff": worst.max_rel,
                    "max_abs_diff": max(d.max_abs for d in diffs),
                    "worst_weight": worst.torch_name,
                    "equal_fraction": float(
                        np.average([d.equal_fraction for d in diffs], weights=[d.numel for d in diffs])
                    ),
                    "non_weights_compressed": sorted(set(touched) - weights),
                    "package_mb": package_size(path) / 1e6,
                    "predicted_mb": weight_megabytes(model, variant) + other_mb,
                    "fp16_package_mb": fp16_mb,
                    "compress_s": compress_s,
                }
            )
            r = rows[-1]
            print(
                f"{name}: max rel diff {r['max_rel_diff']:.2e} ({r['worst_weight']}), equal {r['equal_fraction']:.4f}, "
                f"{r['package_mb']:.2f} MB (predicted {r['predicted_mb']:.2f}), {compress_s:.0f} s",
                file=sys.stderr,
            )
            if args.keep is None:
                import shutil

                shutil.rmtree(path)
            del small

    columns = {
        "variant": "variant",
        "target": "target",
        "max_rel_diff": "max rel diff",
        "equal_fraction": "equal",
        "package_mb": "MB",
        "predicted_mb": "predicted MB",
        "compress_s": "compress s",
    }
    print_table(rows, columns, digits=4)
    path = write_results(
        "package_check",
        rows,
        {"bucket": args.bucket, "variants": args.variants, "threads": args.threads},
        machine=machine,
        directory=args.results,
        extra={"weights": source.describe()},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
