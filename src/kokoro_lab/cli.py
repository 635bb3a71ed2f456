"""The ``kokoro-lab`` command line."""

from __future__ import annotations

import argparse
import sys


def _say(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .atomic import check_writable
    from .audio import write_wav
    from .original.synthesis import synthesize

    check_writable(args.output, args.overwrite)  # fail before the slow part
    bars: list = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(total=total, desc="synthesizing", unit="chunk", file=sys.stderr, disable=args.quiet)
            )
        bars[0].update(1)

    if not args.quiet:
        print("kokoro-lab: loading the model…", file=sys.stderr)
    result = synthesize(
        args.text,
        voice=args.voice,
        speed=args.speed,
        lang=args.lang,
        split=not args.no_split,
        seed=args.seed,
        checkpoint=args.checkpoint,
        progress=progress,
    )
    for bar in bars:
        bar.close()
    write_wav(args.output, result.audio, result.sample_rate, overwrite=args.overwrite)
    if not args.quiet:
        print(f"kokoro-lab: weights: {result.source.describe()}", file=sys.stderr)
        print(f"kokoro-lab: wrote {result.seconds:.2f} s of audio to {args.output}", file=sys.stderr)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .coreml import convert

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
    from .coreml import inspect, island_report

    print(inspect(args.package))
    if args.islands:
        report = island_report(args.package)
        for name, counts in report.counts().items():
            print(f"  {name} island: " + ", ".join(f"{d} {n}" for d, n in counts.most_common()))
        for line in report.violations:
            print(f"  violation: {line}")
        return 0 if report.ok else 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kokoro-lab", description="Kokoro-82M, explained and taken to CoreML."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    say = sub.add_parser("say", help="speak text into a WAV file")
    say.add_argument("text")
    say.add_argument(
        "-o", "--output", required=True, help="WAV file to write (never clobbered without --overwrite)"
    )
    say.add_argument("--voice", default="jf_alpha")
    say.add_argument("--speed", type=float, default=1.0)
    say.add_argument("--lang", default="a", help="Kokoro language code (a, b, e, f, h, i, p)")
    say.add_argument("--seed", type=int, default=0)
    say.add_argument("--checkpoint", default=None, help="explicit kokoro-v1_0.pth")
    say.add_argument("--no-split", action="store_true", help="fail instead of splitting text over 510 tokens")
    say.add_argument("--overwrite", action="store_true")
    say.add_argument("-q", "--quiet", action="store_true")
    say.set_defaults(func=_say)

    from .coreml.buckets import BUCKETS
    from .coreml.convert import COMPRESSIONS, DEPLOYMENT_TARGETS, PRECISIONS

    conv = sub.add_parser("convert", help="convert the model to a CoreML .mlpackage for one bucket")
    conv.add_argument("--bucket", default="5s", choices=list(BUCKETS), help="audio length (default 5s)")
    conv.add_argument("--precision", default="fp32", choices=PRECISIONS)
    conv.add_argument("--compress", default=None, choices=[c for c in COMPRESSIONS if c])
    conv.add_argument(
        "--target", default="iOS17", choices=DEPLOYMENT_TARGETS, help="minimum deployment target"
    )
    conv.add_argument(
        "-o", "--output", default=None, help="the .mlpackage to write (default: in this directory)"
    )
    conv.add_argument("--overwrite", action="store_true")
    conv.add_argument("-q", "--quiet", action="store_true")
    conv.set_defaults(func=_convert)

    insp = sub.add_parser("inspect", help="summarise a converted .mlpackage (works without macOS)")
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
