"""Per-layer sensitivity: one layer group at a time compressed, the rest float16; WER and log-mel.

    .venv/bin/python bench/sensitivity.py                          # 3 schemes × 12 groups, 5 sentences
    .venv/bin/python bench/sensitivity.py --schemes grouped3 --sentences 3

Each scheme is a variant name of ``kokoro_lab.coreml.schemes.VARIANTS`` without per-layer
overrides; its scheme is applied to one group of ``kokoro_lab.coreml.layer_groups`` at a time.
The sentences come from Harvard list 3, so that the mixed variants chosen from this measurement
are judged on other sentences (lists 1–2, ``bench/quality.py``). jm_kumo speaks them on the eager
fast path; the float32 rendering is the reference. Results: ``bench/results/sensitivity.json``.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")

LIST3 = slice(20, 30)  # Harvard list 3 in HARVARD_SENTENCES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemes", nargs="+", default=["palettize4", "grouped4", "grouped3"])
    parser.add_argument("--sentences", type=int, default=5, help="from Harvard list 3 (default 5)")
    parser.add_argument("--voice", default="jm_kumo")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default=None, help="directory for sensitivity.json")
    args = parser.parse_args(argv)

    from kokoro_lab import load_kmodel
    from kokoro_lab.benchmarking import machine_info, pin_threads, print_table, write_results
    from kokoro_lab.coreml.layer_groups import GROUP_NAMES
    from kokoro_lab.coreml.listening import Speaker, score
    from kokoro_lab.coreml.schemes import get_variant
    from kokoro_lab.coreml.sensitivity import measure_sensitivity
    from kokoro_lab.quality import HARVARD_SENTENCES, load_asr_model

    pin_threads(args.threads)
    machine = machine_info()
    texts = HARVARD_SENTENCES[LIST3][: args.sentences]
    model, source = load_kmodel(None, True)
    speaker = Speaker(model, args.voice)
    asr = load_asr_model()
    reference = speaker.render(texts, "fp32")
    base = score(reference, asr=asr)
    print(f"fp32: WER {100 * base.wer:.1f} % CER {100 * base.cer:.1f} %", file=sys.stderr)
    rows = []
    for name in args.schemes:
        scheme = get_variant(name).default
        if scheme is None or get_variant(name).overrides:
            parser.error(f"{name} is not a single-scheme variant")

        def progress(r, name=name):
            print(
                f"{name:12s} {r.group:24s} WER {100 * r.wer:5.1f} log-mel {r.log_mel_db:.2f} "
                f"speaker {r.speaker_similarity:.3f}",
                file=sys.stderr,
            )

        for r in measure_sensitivity(model, speaker, reference, scheme, GROUP_NAMES, asr, progress):
            rows.append({"variant": name, **r.as_row()})

    columns = {
        "variant": "variant",
        "group": "group",
        "params": "weights",
        "saved_mb": "MB saved",
        "wer": "WER",
        "log_mel_db": "log-mel dB",
        "speaker_similarity": "speaker",
    }
    print_table(rows, columns, digits=3)
    path = write_results(
        "sensitivity",
        rows,
        {
            "schemes": args.schemes,
            "voice": args.voice,
            "texts": list(texts),
            "threads": args.threads,
            "fp32_wer": base.wer,
            "fp32_cer": base.cer,
        },
        machine=machine,
        directory=args.results,
        extra={"weights": source.describe()},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
