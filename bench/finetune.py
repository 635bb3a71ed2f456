"""Fine-tune Kokoro-82M toward a speaker corpus: longer runs than the book's chapter, on one process or many.

One process (CPU or one GPU):

    python bench/finetune.py --steps 2000 --checkpoint runs/kumo.pt

Several GPUs on one machine, or several machines, through PyTorch's own launcher (DDP):

    torchrun --nproc_per_node=4 bench/finetune.py --steps 2000 --checkpoint runs/kumo.pt
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --nproc_per_node=8 bench/finetune.py ...

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; each process takes its share of
every batch and ``DistributedDataParallel`` averages the gradients. Rank 0 writes checkpoints;
``--resume`` continues a run from its last one. The demonstration corpus (Kokoro's own voice
``jm_kumo`` speaking the chapter's sentences) stands in for a real one.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch
import torch.distributed as dist

from kokoro_lab import load_kmodel
from kokoro_lab.finetune import FinetuneConfig, FinetuneDataset, build_speaker_corpus, finetune, score
from kokoro_lab.finetune.model import trainable_copy


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=4, help="utterances per step over all processes")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--segment-frames", type=int, default=16)
    p.add_argument("--freeze", default="bert,bert_encoder,text_encoder,decoder.generator")
    p.add_argument("--start-voice", default="jf_alpha")
    p.add_argument("--target-voice", default="jm_kumo")
    p.add_argument("--held-out", type=int, default=6)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--checkpoint-every", type=int, default=100)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--seed", type=int, default=0)
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

    base, _ = load_kmodel()
    corpus = build_speaker_corpus(voice=args.target_voice, model=base, progress=rank == 0)
    train_idx, val_idx = corpus.split(args.held_out, seed=0)
    train_set = FinetuneDataset(corpus.items(args.start_voice, train_idx))
    held_out = corpus.items(args.start_voice, val_idx)
    config = FinetuneConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        segment_frames=args.segment_frames,
        freeze=tuple(f for f in args.freeze.split(",") if f),
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
    )
    if rank == 0:
        print("before:", score(base, held_out).line())
    model = trainable_copy(base).to(device)
    start = time.perf_counter()
    history = finetune(
        model,
        train_set,
        config,
        checkpoint_path=args.checkpoint,
        resume=args.resume,
        overwrite=args.overwrite,
        rank=rank,
        world_size=world_size,
        wrap=wrap,
    )
    if rank == 0:
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{len(history['step'])} steps in {elapsed:.0f} s; peak memory {peak:.0f} MB")
        print("after: ", score(model.cpu(), held_out).line())
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
