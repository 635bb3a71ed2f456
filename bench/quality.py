"""Is it still Kokoro? Size, intelligibility, distance and speaker similarity of every path and variant.

    .venv/bin/python bench/quality.py                        # every part, 20 Harvard sentences
    .venv/bin/python bench/quality.py --parts variants --sentences 10
    .venv/bin/python bench/quality.py --parts finetune --finetune-steps 100

Parts (each can be re-run alone; the rows of the other parts in the file are kept):

* ``paths``: the reference ``KModel`` (``kokoro_lab.synthesize``), ``KokoroCompleteCoreML``'s eager
  fast path (the float32 reference of every other row), and its padded computation in the
  smallest bucket that holds each sentence;
* ``pipeline``: the two-stage pipeline's padded computation (``kokoro_lab.coreml.pipeline``), each
  stage at the smallest bucket that fits;
* ``variants``: fp16 with float32 islands (emulated), and every compression variant of
  ``kokoro_lab.coreml.schemes.VARIANTS`` (emulated on the torch weights, float32 arithmetic);
  ``--fp16-variants`` also run under fp16 emulation, as a compressed fp16 package computes.
  Sizes are estimated from the scheme (``kokoro_lab.coreml.sizes.package_megabytes``) for the
  5 s bucket, whose fp16 package size comes from ``bench/results/conversion.json``;
  ``bench/results/package_check.json`` holds the check against written packages;
* ``transformer``: the educational Transformer TTS with Griffin-Lim, trained with the chapter's
  small setting (jf_alpha corpus of 64 sentences, 150 steps); it is compared with Kokoro's jf_alpha;
* ``finetune``: the fine-tuning chapter's run (jf_alpha → jm_kumo, ``--finetune-steps``) and its
  fitted style vector, on the chapter's six held-out sentences with durations forced to the
  target's; speaker similarity and log-mel distance are to the target voice's audio.

WER and CER are Whisper tiny.en's against the text (``kokoro_lab.quality.intelligibility``);
log-mel is the DTW-aligned distance in dB and speaker similarity resemblyzer's cosine, both to the
row's reference and averaged over the sentences. Results: ``bench/results/quality.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KOKORO_LAB_OFFLINE", "1")

PARTS = ("paths", "pipeline", "variants", "transformer", "finetune")
REFERENCE = "eager fp32"


def _row(part: str, name: str, kind: str, description: str, score, reference: str, **extra) -> dict:
    return {
        "part": part,
        "name": name,
        "kind": kind,
        "description": description,
        "sentences": score.sentences,
        "wer": score.wer,
        "cer": score.cer,
        "log_mel_db": score.log_mel_db,
        "speaker_similarity": score.speaker_similarity,
        "reference": reference,
        "size_mb": None,
        "minimum_target": None,
        "note": None,
        **extra,
    }


def _say(row: dict) -> None:
    def f(x, spec):
        return "—" if x is None else format(x, spec)

    print(
        f"{row['part']:11s} {row['name']:22s} MB {f(row['size_mb'], '6.1f')} WER {100 * row['wer']:5.1f} "
        f"CER {100 * row['cer']:5.1f} log-mel {f(row['log_mel_db'], '.2f')} speaker {f(row['speaker_similarity'], '.3f')}",
        file=sys.stderr,
        flush=True,
    )


def run_paths(ctx) -> list[dict]:
    """The reference KModel, the eager fast path, the padded bucket computation."""
    import numpy as np

    from kokoro_lab import synthesize
    from kokoro_lab.coreml.listening import Rendering, Speaker, score

    t0 = time.perf_counter()
    audio = tuple(
        np.asarray(synthesize(t, voice=ctx.voice, seed=0).audio, dtype=np.float32) for t in ctx.texts
    )
    kmodel = Rendering("KModel", ctx.texts, audio, time.perf_counter() - t0)
    padded = Speaker(ctx.model, ctx.voice, padded=True).render(ctx.texts, "padded")
    fp32 = ctx.conversion.get("fp32")
    rows = [
        _row(
            "paths",
            "KModel",
            "path",
            "hexgrad's KModel as shipped (kokoro_lab.synthesize, seed 0)",
            score(kmodel, ctx.reference, ctx.asr),
            REFERENCE,
            render_s=kmodel.seconds,
        ),
        _row(
            "paths",
            "eager fp32",
            "path",
            "KokoroCompleteCoreML, eager fast path (trim=True), float32",
            ctx.reference_score,
            REFERENCE,
            render_s=ctx.reference.seconds,
        ),
        _row(
            "paths",
            "padded fp32",
            "path",
            "KokoroCompleteCoreML padded in its bucket: the fp32 package's computation",
            score(padded, ctx.reference, ctx.asr),
            REFERENCE,
            render_s=padded.seconds,
            size_mb=fp32,
            minimum_target="iOS17",
        ),
    ]
    return rows


def run_pipeline(ctx) -> list[dict]:
    """The two-stage pipeline, padded, at the buckets it picks for each sentence."""
    from kokoro_lab.coreml.listening import Speaker, score

    r = Speaker(ctx.model, ctx.voice, pipeline=True).render(ctx.texts, "pipeline")
    return [
        _row(
            "pipeline",
            "pipeline fp32",
            "path",
            "the two-stage pipeline padded in its text and frame buckets: the packages' computation",
            score(r, ctx.reference, ctx.asr),
            REFERENCE,
            render_s=r.seconds,
            minimum_target="iOS17",
        )
    ]


def run_variants(ctx, names, fp16_names) -> list[dict]:
    """fp16 islands and every compression variant (torch emulation)."""
    from kokoro_lab.coreml.fp16_emulation import emulate_fp16
    from kokoro_lab.coreml.listening import score
    from kokoro_lab.coreml.schemes import get_variant
    from kokoro_lab.coreml.sizes import package_megabytes
    from kokoro_lab.coreml.weight_compression import compressed_weights

    fp16_mb = ctx.conversion.get("fp16")
    rows = []
    r = ctx.speaker.render(ctx.texts, "fp16", lambda: emulate_fp16("mixed"))
    rows.append(
        _row(
            "variants",
            "fp16",
            "variant",
            "fp16 with float32 islands (emulated), float16 weights",
            score(r, ctx.reference, ctx.asr),
            REFERENCE,
            render_s=r.seconds,
            size_mb=fp16_mb,
            minimum_target="iOS17",
            arithmetic="fp16",
        )
    )
    _say(rows[-1])
    for name in names:
        variant = get_variant(name)
        for arithmetic in ("fp32", "fp16") if name in fp16_names else ("fp32",):
            t0 = time.perf_counter()
            with compressed_weights(ctx.model, variant, cache=ctx.cache):
                compress_s = time.perf_counter() - t0
                context = (lambda: emulate_fp16("mixed")) if arithmetic == "fp16" else None
                r = ctx.speaker.render(ctx.texts, name, context)
            label = name if arithmetic == "fp32" else f"{name} + fp16"
            rows.append(
                _row(
                    "variants",
                    label,
                    "variant",
                    variant.summary or variant.label,
                    score(r, ctx.reference, ctx.asr),
                    REFERENCE,
                    render_s=r.seconds,
                    compress_s=compress_s,
                    size_mb=package_megabytes(ctx.model, variant, fp16_mb) if fp16_mb else None,
                    minimum_target=variant.minimum_target,
                    arithmetic=arithmetic,
                    scheme=variant.label,
                )
            )
            _say(rows[-1])
    return rows


def run_transformer(ctx, steps: int) -> list[dict]:
    """The chapter's small Transformer TTS, trained here, spoken through Griffin-Lim."""
    import numpy as np
    import torch

    from kokoro_lab.config import cache_dir
    from kokoro_lab.coreml.listening import Rendering, Speaker, score
    from kokoro_lab.transformer_tts import (
        SENTENCES,
        TransformerTTS,
        TransformerTTSConfig,
        TTSDataset,
        build_corpus,
        train,
    )
    from kokoro_lab.transformer_tts.vocoder import griffin_lim

    voice, n = "jf_alpha", 64  # the chapter's corpus (cached after the chapter has run once)
    cache = cache_dir() / "transformer_tts" / f"corpus_{voice}_{n}.pt"
    cache.parent.mkdir(parents=True, exist_ok=True)
    corpus = build_corpus(
        SENTENCES[:n], voice=voice, cache_path=cache, model=ctx.model_complex, progress=False
    )
    train_idx, _ = corpus.split(n_val=16, seed=0)
    train_set = TTSDataset(corpus, train_idx)
    torch.manual_seed(0)
    student = TransformerTTS(TransformerTTSConfig.small())
    t0 = time.perf_counter()
    train(student, train_set, steps=steps, lr=1e-3, batch_size=16, seed=0)
    train_s = time.perf_counter() - t0
    student.eval()
    speaker = Speaker(ctx.model, voice)
    teacher = speaker.render(ctx.texts, f"Kokoro {voice}")
    audio, stopped = [], 0
    t0 = time.perf_counter()
    for text in ctx.texts:
        tokens = torch.tensor([[0, *speaker.tokens(text), 0]])
        with torch.inference_mode():
            out = student.inference(tokens, max_frames=1000)
        stopped += bool(out.stopped[0])
        mel = train_set.denormalize(out.mel[0, : out.mel_lengths[0]])
        audio.append(np.asarray(griffin_lim(mel), dtype=np.float32))
    r = Rendering("transformer", ctx.texts, tuple(audio), time.perf_counter() - t0)
    params = sum(p.numel() for p in student.parameters())
    note = f"small preset, {steps} steps in {train_s:.0f} s on the 48 training sentences; stopped by itself on {stopped}/{len(ctx.texts)}"
    return [
        _row(
            "transformer",
            f"Kokoro {voice}",
            "path",
            f"Kokoro's {voice}, the student's teacher (eager fp32)",
            score(teacher, asr=ctx.asr),
            "—",
            render_s=teacher.seconds,
        ),
        _row(
            "transformer",
            "Transformer TTS",
            "path",
            "educational Transformer TTS + Griffin-Lim (small preset)",
            score(r, teacher, ctx.asr),
            f"Kokoro {voice}",
            render_s=r.seconds,
            size_mb=params * 4 / 1e6,
            note=note,
        ),
    ]


def run_finetune(ctx, steps: int) -> list[dict]:
    """The fine-tuning chapter's run and fitted style vector; similarity to the target voice."""
    import numpy as np

    import kokoro_lab as kl
    from kokoro_lab.coreml.listening import QualityScore
    from kokoro_lab.finetune import (
        FinetuneConfig,
        FinetuneDataset,
        build_speaker_corpus,
        finetune,
        fit_style,
        predict,
        score,
        trainable_copy,
    )
    from kokoro_lab.quality import intelligibility, speaker_similarity

    model = ctx.model_complex[0]
    start, target = "jf_alpha", "jm_kumo"
    corpus = build_speaker_corpus(kl.finetune.SENTENCES[:30], voice=target, model=model)
    train_idx, val_idx = corpus.split(6, seed=0)
    train_set = FinetuneDataset(corpus.items(start, train_idx))
    held_out = corpus.items(start, val_idx)
    texts = [corpus.sentences[i] for i in val_idx]
    config = FinetuneConfig(
        steps=steps,
        batch_size=4,
        lr=3e-4,
        segment_frames=12,
        freeze=("bert", "bert_encoder", "text_encoder", "decoder.generator"),
    )
    student = trainable_copy(model)
    t0 = time.perf_counter()
    finetune(student, train_set, config)
    train_s = time.perf_counter() - t0
    n_ph = [int(corpus.input_ids[i].numel()) - 2 for i in range(len(corpus))]
    init = kl.original.voices.style_for(kl.load_voice(start), int(np.median(n_ph)))
    fit = fit_style(
        model, train_set, init, FinetuneConfig(steps=40, batch_size=2, lr=0.01, segment_frames=12)
    )
    targets = [it.gt_audio.numpy() for it in held_out]

    def measure(name, description, m, items, ref_s=None, note=None):
        audio = [predict(m, it, ref_s).audio for it in items]
        heard = intelligibility(audio, texts, model=ctx.asr)
        sim = float(np.mean([speaker_similarity(a, t).cosine for a, t in zip(audio, targets, strict=True)]))
        mel = score(m, items, ref_s=ref_s).log_mel_db
        s = QualityScore(name, len(texts), heard.wer, heard.cer, mel, sim)
        return _row("finetune", name, "path", description, s, f"target {target}", note=note)

    return [
        measure(f"start {start}", f"KModel with {start}'s style (before fine-tuning)", model, held_out),
        measure(
            "fine-tuned",
            f"predictor and decoder fine-tuned toward {target}",
            student,
            held_out,
            note=f"{steps} steps in {train_s:.0f} s (the chapter's setting is 20)",
        ),
        measure(
            "fitted ref_s",
            f"KModel with a style vector fitted to {target} (40 steps)",
            model,
            held_out,
            fit.ref_s,
        ),
        measure(
            f"true {target}",
            f"KModel with {target}'s own style (control)",
            model,
            corpus.items(target, val_idx),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    from kokoro_lab.coreml.schemes import VARIANTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument(
        "--sentences", type=int, default=20, help="Harvard sentences from list 1 on (default 20)"
    )
    parser.add_argument("--voice", default="jm_kumo")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--fp16-variants", nargs="*", default=["grouped4", "small"], help="also under fp16 emulation"
    )
    parser.add_argument("--transformer-steps", type=int, default=150)
    parser.add_argument("--finetune-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", default=None, help="directory for quality.json")
    args = parser.parse_args(argv)

    from types import SimpleNamespace

    from kokoro_lab import load_kmodel
    from kokoro_lab.bench_results import load_checked
    from kokoro_lab.benchmarking import RESULTS_DIR, machine_info, pin_threads, print_table, write_results
    from kokoro_lab.coreml.listening import Speaker, score
    from kokoro_lab.quality import HARVARD_SENTENCES, load_asr_model

    pin_threads(args.threads)
    machine = machine_info()
    model, source = load_kmodel(None, True)
    ctx = SimpleNamespace(
        model=model,
        voice=args.voice,
        texts=tuple(HARVARD_SENTENCES[: args.sentences]),
        asr=load_asr_model(),
        cache={},
    )
    ctx.model_complex = load_kmodel() if {"transformer", "finetune"} & set(args.parts) else None
    conversion = load_checked("conversion", required=False)
    ctx.conversion = {
        r["precision"]: r["size_mb"]
        for r in (conversion or {}).get("rows", [])
        if r["bucket"] == "5s" and r["compression"] == "none"
    }
    ctx.speaker = Speaker(model, args.voice)
    ctx.reference = ctx.speaker.render(ctx.texts, REFERENCE)
    ctx.reference_score = score(ctx.reference, asr=ctx.asr)  # the reference: no distance to itself

    rows = []
    for part in args.parts:
        if part == "paths":
            new = run_paths(ctx)
        elif part == "pipeline":
            new = run_pipeline(ctx)
        elif part == "variants":
            new = run_variants(ctx, args.variants, set(args.fp16_variants or ()))
        elif part == "transformer":
            new = run_transformer(ctx, args.transformer_steps)
        else:
            new = run_finetune(ctx, args.finetune_steps)
        for r in new:
            _say(r)
        rows += new

    directory = RESULTS_DIR if args.results is None else args.results
    settings = {
        "sentences": args.sentences,
        "texts": list(ctx.texts),
        "voice": args.voice,
        "asr": f"whisper {ctx.asr.info.name} ({ctx.asr.info.source})",
        "fp32_wer": ctx.reference_score.wer,
        "fp32_cer": ctx.reference_score.cer,
        "bucket_for_sizes": "5s",
        "transformer_steps": args.transformer_steps,
        "finetune_steps": args.finetune_steps,
        "threads": args.threads,
        "parts": sorted(set(args.parts)),
    }
    old = load_checked("quality", directory, required=False) if set(args.parts) != set(PARTS) else None
    if old is not None:  # keep the other parts' rows, measured on the same sentences
        if old["settings"]["texts"] != settings["texts"] or old["settings"]["voice"] != args.voice:
            parser.error("quality.json was measured on other sentences or another voice; run every part")
        rows = [r for r in old["rows"] if r["part"] not in args.parts] + rows
        settings["parts"] = sorted(set(old["settings"]["parts"]) | set(args.parts))
        for key in ("transformer_steps", "finetune_steps"):
            part = key.split("_")[0]
            if part not in args.parts:
                settings[key] = old["settings"][key]
    rows.sort(key=lambda r: PARTS.index(r["part"]))
    check = load_checked("package_check", directory, required=False)
    size_check = [
        {k: r[k] for k in ("variant", "target", "package_mb", "predicted_mb", "max_rel_diff")}
        for r in (check or {}).get("rows", [])
    ]
    columns = {
        "part": "part",
        "name": "name",
        "size_mb": "MB",
        "wer": "WER",
        "cer": "CER",
        "log_mel_db": "log-mel dB",
        "speaker_similarity": "speaker",
    }
    print_table(rows, columns, digits=3)
    path = write_results(
        "quality",
        rows,
        settings,
        machine=machine,
        directory=directory,
        extra={"weights": source.describe(), "size_check": size_check},
    )
    print(f"wrote {path}")
    json.loads(path.read_text())  # written whole
    return 0


if __name__ == "__main__":
    sys.exit(main())
