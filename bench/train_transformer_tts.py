"""Train the educational Transformer TTS for longer than the book's chapter does.

    .venv/bin/python bench/train_transformer_tts.py --sentences 306 --steps 3000 \
        --checkpoint runs/tts.pt            # add --resume to continue a run

The corpus that Kokoro speaks is cached under ~/.cache/kokoro_lab/transformer_tts, so a second
run starts training at once. Prints the held-out scores and writes them as JSON next to the
checkpoint (atomically).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kokoro_lab.atomic import atomic_path
from kokoro_lab.config import cache_dir
from kokoro_lab.transformer_tts import (
    SENTENCES,
    TransformerTTS,
    TransformerTTSConfig,
    TTSDataset,
    build_corpus,
    evaluate,
    pick_device,
    train,
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=len(SENTENCES), help=f"1..{len(SENTENCES)}")
    parser.add_argument("--held-out", type=int, default=16)
    parser.add_argument("--voice", default="jf_alpha")
    parser.add_argument("--preset", choices=["small", "default"], default="small")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", type=Path, required=True, help="training checkpoint (.pt)")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--overwrite", action="store_true", help="start afresh over an existing checkpoint")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if not 1 <= args.sentences <= len(SENTENCES):
        parser.error(f"--sentences must be in 1..{len(SENTENCES)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    cache = cache_dir() / "transformer_tts" / f"corpus_{args.voice}_{args.sentences}.pt"
    cache.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    corpus = build_corpus(SENTENCES[: args.sentences], voice=args.voice, cache_path=cache)
    corpus_seconds = time.perf_counter() - start
    train_idx, val_idx = corpus.split(n_val=args.held_out, seed=args.seed)
    train_set = TTSDataset(corpus, train_idx)
    val_set = TTSDataset(corpus, val_idx, stats=(train_set.mean, train_set.std))

    config = getattr(TransformerTTSConfig, args.preset)()
    torch.manual_seed(args.seed)
    model = TransformerTTS(config).to(pick_device())
    start = time.perf_counter()
    history = train(
        model,
        train_set,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        checkpoint_path=args.checkpoint,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        overwrite=args.overwrite,
    )
    train_seconds = time.perf_counter() - start
    scores = evaluate(model, val_set)
    summary = {
        "sentences": len(corpus),
        "corpus_seconds": round(corpus_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "steps": history["step"][-1],
        "final_loss": history["loss"][-1],
        "parameters": model.get_model_info()["total"],
        **scores,
    }
    print(json.dumps(summary, indent=2))
    out = args.checkpoint.with_suffix(".scores.json")
    with atomic_path(out, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
