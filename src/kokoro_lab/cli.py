"""The ``kokoro-lab`` command line."""

from __future__ import annotations

import argparse
import sys

from .cli_say import add_parser as add_say_parser


def _convert(args: argparse.Namespace) -> int:
    from .coreml import convert

    if args.pipeline:
        from .coreml.pipeline_convert import convert_pipeline

        if args.output is None:
            raise ValueError("convert --pipeline writes a directory; name it with -o DIR.")
        done = convert_pipeline(
            args.output,
            text_buckets=args.text_buckets,
            frame_buckets=args.frame_buckets,
            precision=args.precision,
            compress=args.compress,
            overwrite=args.overwrite,
            progress=not args.quiet,
            deployment_target=args.target,
        )
        print(done.directory)
        return 0
    if args.text_buckets or args.frame_buckets:
        raise ValueError("--text-buckets and --frame-buckets need --pipeline; a single graph takes --bucket.")
    result = convert(
        bucket=args.bucket,
        precision=args.precision,
        compress=args.compress,
        output=args.output,
        overwrite=args.overwrite,
        progress=not args.quiet,
        deployment_target=args.target,
    )
    print(result.path)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .coreml import inspect, island_report
    from .coreml.inspection import inspect_pipeline, is_pipeline_directory

    pipeline = is_pipeline_directory(args.package)
    summary = inspect_pipeline(args.package) if pipeline else inspect(args.package)
    print(summary)
    paths = [Path(args.package) / p for p in summary.packages] if pipeline else [Path(args.package)]
    ok = True
    for path in paths if args.islands else []:
        report = island_report(path)
        prefix = f"  {path.name}:" if pipeline else " "
        for name, counts in report.counts().items():
            print(f"{prefix} {name} island: " + ", ".join(f"{d} {n}" for d, n in counts.most_common()))
        for line in report.violations:
            print(f"{prefix} violation: {line}")
        ok = ok and report.ok
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kokoro-lab", description="Kokoro-82M, explained and taken to CoreML."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_say_parser(sub)

    from .coreml.buckets import BUCKETS
    from .coreml.convert import COMPRESSIONS, DEPLOYMENT_TARGETS, PRECISIONS
    from .coreml.ladder import FRAME_BUCKETS, TEXT_BUCKETS
    from .coreml.schemes import RECOMMENDED, RECOMMENDED_FP32_WER, RECOMMENDED_SIZE_MB, RECOMMENDED_WER

    conv = sub.add_parser(
        "convert",
        help="convert the model to a CoreML .mlpackage for one bucket, or the two-stage pipeline",
    )
    conv.add_argument(
        "--bucket", default="5s", choices=list(BUCKETS), help="audio length (default 5s; single graph only)"
    )
    conv.add_argument("--precision", default="fp32", choices=PRECISIONS)
    conv.add_argument(
        "--compress",
        default=None,
        choices=[c for c in COMPRESSIONS if c],
        help=(
            f"weight compression; 'small' is the recommended one: {RECOMMENDED.summary}; "
            f"{RECOMMENDED_SIZE_MB:.1f} MB for the 5 s bucket, Whisper WER {100 * RECOMMENDED_WER:.1f} %% "
            f"(float32: {100 * RECOMMENDED_FP32_WER:.1f} %%); needs --target iOS18"
        ),
    )
    conv.add_argument(
        "--target", default="iOS17", choices=DEPLOYMENT_TARGETS, help="minimum deployment target"
    )
    conv.add_argument(
        "-o",
        "--output",
        default=None,
        help="the .mlpackage to write (default: in this directory); with --pipeline, the directory",
    )
    conv.add_argument("--overwrite", action="store_true")
    conv.add_argument("-q", "--quiet", action="store_true")
    conv.add_argument(
        "--pipeline", action="store_true", help="write the two-stage pipeline to the directory -o DIR"
    )
    conv.add_argument(
        "--text-buckets",
        nargs="+",
        type=int,
        help=f"with --pipeline: token buckets, from {' '.join(map(str, TEXT_BUCKETS))} (default all)",
    )
    conv.add_argument(
        "--frame-buckets",
        nargs="+",
        type=int,
        help=f"with --pipeline: frame buckets, from {' '.join(map(str, FRAME_BUCKETS))} (default all)",
    )
    conv.set_defaults(func=_convert)

    insp = sub.add_parser(
        "inspect", help="summarise a converted .mlpackage or pipeline directory (works without macOS)"
    )
    insp.add_argument("package")
    insp.add_argument("--islands", action="store_true", help="also check the fp16 model's float32 islands")
    insp.set_defaults(func=_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError, RuntimeError) as err:  # user-facing errors: one clear line
        print(f"kokoro-lab: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
