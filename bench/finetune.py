"""Fine-tune Kokoro-82M toward a speaker corpus: longer runs than the book's chapter, on one process or many.

One process (CPU or one GPU):

    python bench/finetune.py --steps 2000 --checkpoint runs/kumo.pt

Several GPUs on one machine, or several machines, through PyTorch's own launcher (DDP):

    torchrun --nproc_per_node=4 bench/finetune.py --steps 2000 --checkpoint runs/kumo.pt
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --nproc_per_node=8 bench/finetune.py ...

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; each process takes its share of
every batch and ``DistributedDataParallel`` averages the gradients. Rank 0 writes checkpoints;
``--resume`` continues a run from its last one. The demonstration corpus (Kokoro's own voice
``jm_kumo`` speaking the chapter's sentences) stands in for a real one; ``--corpus DIR`` trains on
recordings instead, an LJSpeech-style folder (``metadata.csv`` with ``id|text``, and ``wavs/``)
aligned and cached by ``kokoro_lab.finetune.recordings.load_recorded_corpus``:

    python bench/finetune.py --corpus data/lb_corpus --lang lb --symbol-map lb --steps 2000

On one process, the held-out sentences are scored before training and every ``--eval-every``
steps, and ``--results finetune`` writes ``bench/results/finetune.json`` (the scores, the loss
history, seconds per step and peak memory), which the fine-tuning chapter shows. The defaults
are the chapter's own settings, run for 300 steps instead of 20 (about 15 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

from kokoro_lab import load_kmodel
from kokoro_lab.benchmarking import machine_info, pin_threads, write_results
from kokoro_lab.finetune import (
    SENTENCES,
    FinetuneConfig,
    FinetuneDataset,
    build_speaker_corpus,
    finetune,
    score,
)
from kokoro_lab.finetune.model import trainable_copy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=4, help="utterances per step over all processes")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--segment-frames", type=int, default=12)
    p.add_argument("--freeze", default="bert,bert_encoder,text_encoder,decoder.generator")
    p.add_argument("--start-voice", default="jf_alpha")
    p.add_argument("--target-voice", default="jm_kumo")
    p.add_argument("--sentences", type=int, default=30, help=f"how many of the {len(SENTENCES)} sentences")
    p.add_argument("--held-out", type=int, default=6)
    p.add_argument("--eval-every", type=int, default=100, help="score the held-out sentences (one process)")
    p.add_argument("--results", default=None, help="write bench/results/<name>.json (one process)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (one process)")
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--corpus", default=None, help="an LJSpeech-style folder of recordings (metadata.csv, wavs/)"
    )
    p.add_argument("--lang", default="a", help="the corpus's language code for phonemize (e.g. lb)")
    p.add_argument("--symbol-map", choices=("none", "lb"), default="none", help="map phonemes onto Kokoro's")
    args = p.parse_args()

    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
    rank, world_size, wrap = 0, 1, None
    device = torch.device("cpu")
    if distributed:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
        rank, world_size = dist.get_rank(), dist.get_world_size()
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None

        def wrap(module):
            return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    if not distributed and device.type == "cpu":
        pin_threads(args.threads)
    if distributed and args.results:
        p.error("--results needs one process: score a checkpoint of a torchrun run with one process.")
    base, _ = load_kmodel()
    if args.corpus:
        train_set, held_out, names = recorded(args, base, rank)
        corpus = None
    else:
        if not 0 < args.held_out < args.sentences <= len(SENTENCES):
            p.error(f"need 0 < --held-out < --sentences ≤ {len(SENTENCES)}.")
        corpus = build_speaker_corpus(
            SENTENCES[: args.sentences], voice=args.target_voice, model=base, progress=rank == 0
        )
        train_idx, val_idx = corpus.split(args.held_out, seed=0)
        train_set = FinetuneDataset(corpus.items(args.start_voice, train_idx))
        held_out = corpus.items(args.start_voice, val_idx)
        names = [corpus.sentences[i] for i in val_idx]
    config = FinetuneConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        segment_frames=args.segment_frames,
        freeze=tuple(f for f in args.freeze.split(",") if f),
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
    )
    model = trainable_copy(base).to(device)
    run = dict(
        train_set=train_set, config=config, resume=args.resume, overwrite=args.overwrite, rank=rank,
        world_size=world_size, wrap=wrap,
    )  # fmt: skip
    if distributed or args.eval_every <= 0:
        history, elapsed = train_to(model, args.checkpoint, args.steps, **run)
        rows = []
    else:
        history, rows, elapsed = train_with_evaluation(model, base, held_out, args, run)
    if rank == 0:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        per_step = history["seconds"]
        print(
            f"{len(history['step'])} steps in {elapsed:.0f} s ({statistics.median(per_step):.2f} s per step, "
            f"median); peak memory {peak:.0f} MB"
        )
        if args.results and not distributed:
            settings = {
                k: v for k, v in vars(args).items() if k not in ("results", "checkpoint", "overwrite")
            }
            true_voice = (
                None if corpus is None else vars(score(base, corpus.items(args.target_voice, val_idx)))
            )
            extra = {
                "history": history,
                "true_voice": true_voice,
                "seconds_per_step": {
                    "median": statistics.median(per_step), "min": min(per_step), "max": max(per_step)
                },
                "peak_rss_mb": peak,
                "train_seconds": elapsed,
                "held_out_sentences": names,
            }  # fmt: skip
            print("wrote", write_results(args.results, rows, settings, machine_info(), extra=extra))
    if distributed:
        dist.destroy_process_group()


def recorded(args, base, rank) -> tuple[FinetuneDataset, list, list[str]]:
    """Items from ``--corpus``, split into (training set, held-out items, held-out ids)."""
    from kokoro_lab.finetune.new_language import to_kokoro
    from kokoro_lab.finetune.recordings import load_recorded_corpus

    symbol_map = to_kokoro if args.symbol_map == "lb" else None
    corpus = load_recorded_corpus(
        args.corpus,
        lang=args.lang,
        voice=args.start_voice,
        symbol_map=symbol_map,
        model=base,
        progress=rank == 0,
    )
    if not 0 < args.held_out < len(corpus):
        raise SystemExit(f"need 0 < --held-out < {len(corpus)} (the corpus's usable recordings).")
    order = torch.randperm(len(corpus), generator=torch.Generator().manual_seed(0)).tolist()
    train = [corpus.items[i] for i in sorted(order[args.held_out :])]
    held_out = [corpus.items[i] for i in sorted(order[: args.held_out])]
    return FinetuneDataset(train), held_out, [it.name for it in held_out]


def train_to(model, checkpoint, steps, train_set, config, **kwargs) -> tuple[dict, float]:
    """Run ``finetune`` until ``steps`` steps in total → (history, seconds)."""
    config = dataclasses.replace(config, steps=steps)
    start = time.perf_counter()
    history = finetune(model, train_set, config, checkpoint_path=checkpoint, **kwargs)
    return history, time.perf_counter() - start


def train_with_evaluation(model, base, held_out, args, run) -> tuple[dict, list[dict], float]:
    """Train in chunks of ``--eval-every`` steps, scoring the held-out sentences after each → (history, rows, s)."""
    before = score(base, held_out)
    rows = [{"step": 0, **vars(before)}]
    print(f"step {0:4d}:", before.line())
    elapsed = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or str(Path(tmp) / "run.pt")
        resume, overwrite = run.pop("resume"), run.pop("overwrite")
        for target in [*range(args.eval_every, args.steps, args.eval_every), args.steps]:
            history, seconds = train_to(model, checkpoint, target, resume=resume, overwrite=overwrite, **run)
            resume, overwrite, elapsed = True, True, elapsed + seconds
            step = history["step"][-1] if history["step"] else 0  # a resumed run may already be past target
            if step <= rows[-1]["step"]:
                continue
            scores = score(model, held_out)
            rows.append({"step": step, **vars(scores)})
            print(f"step {step:4d}:", scores.line())
    return history, rows, elapsed


if __name__ == "__main__":
    main()
