"""Streaming against whole-text synthesis: time to first audio and real-time factor by text length.

    .venv/bin/python bench/streaming.py --full-up-to 110   # the stored results: ~2 min on 2 idle cores
    .venv/bin/python bench/streaming.py                     # full runs up to 1,000 words too: ~10 min

Texts of one sentence, then about 100, 300 and 1,000 words, built from the same sentences in
the same order (the Gettysburg Address, public domain, interleaved with the 20 sample
sentences of ``kokoro_lab.coreml.buckets``), so every text starts with the same sentence.
Two modes per text:

* ``stream``: :func:`kokoro_lab.original.streaming.stream`; time to first audio (TTFA) is the
  time to the first yielded chunk (the generator is then closed), measured ``--repeats`` times
  round-robin over the lengths, so that a noisy neighbour slows them all alike; then one full
  run for the total time and the real-time factor (RTF, seconds of compute per second of audio);
* ``whole``: :func:`kokoro_lab.original.long_text.synthesize_long`, which returns only at the
  end: its TTFA is its total time.

Full runs are made up to ``--full-up-to`` words; longer texts get TTFA only. The goal: TTFA for
1,000 words at most 1.5× that for one sentence. Prints a table and writes
``bench/results/streaming.json``.
"""

from __future__ import annotations

import functools
from itertools import cycle

import numpy as np

from kokoro_lab.benchmarking import pin_threads, print_table, time_interleaved, timing_parser, write_results
from kokoro_lab.coreml.buckets import SAMPLE_TEXTS

# Abraham Lincoln, the Gettysburg Address (1863; the Bliss copy), public domain.
GETTYSBURG = (
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, "
    "conceived in Liberty, and dedicated to the proposition that all men are created equal.",
    "Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived "
    "and so dedicated, can long endure.",
    "We are met on a great battle-field of that war.",
    "We have come to dedicate a portion of that field, as a final resting place for those who here gave "
    "their lives that that nation might live.",
    "It is altogether fitting and proper that we should do this.",
    "But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- this ground.",
    "The brave men, living and dead, who struggled here, have consecrated it, far above our poor power "
    "to add or detract.",
    "The world will little note, nor long remember what we say here, but it can never forget what they "
    "did here.",
    "It is for us the living, rather, to be dedicated here to the unfinished work which they who fought "
    "here have thus far so nobly advanced.",
    "It is rather for us to be here dedicated to the great task remaining before us -- that from these "
    "honored dead we take increased devotion to that cause for which they gave the last full measure of "
    "devotion -- that we here highly resolve that these dead shall not have died in vain -- that this "
    "nation, under God, shall have a new birth of freedom -- and that government of the people, by the "
    "people, for the people, shall not perish from the earth.",
)
FIRST = SAMPLE_TEXTS[0]  # "The quick brown fox …": the one-sentence text, and every text's start
POOL = (
    FIRST,
    *(s for pair in zip(GETTYSBURG, SAMPLE_TEXTS[1:], strict=False) for s in pair),
    *SAMPLE_TEXTS[11:],
)
LENGTHS = (1, 100, 300, 1000)  # words; 1 stands for "one sentence"
GOAL_RATIO = 1.5  # TTFA of the longest text (1,000 words) over that of one sentence, at most


def build_text(words: int) -> str:
    """Whole sentences from ``POOL``, in order and repeated, until there are at least ``words`` words."""
    out, n = [], 0
    for sentence in cycle(POOL):
        out.append(sentence)
        n += len(sentence.split())
        if n >= words:
            return " ".join(out)
    raise AssertionError("unreachable")


def first_audio(text: str, voice: str):
    """The first chunk :func:`stream` yields (the generator is then closed): what TTFA waits for."""
    from kokoro_lab.original.streaming import stream

    chunks = stream(text, voice=voice)
    first = next(chunks)
    chunks.close()
    return first


def main() -> None:
    parser = timing_parser(__doc__, repeats=3)
    parser.add_argument("--lengths", nargs="+", type=int, default=list(LENGTHS), help="words per text")
    parser.add_argument(
        "--full-up-to", type=int, default=max(LENGTHS), help="full runs (RTF, whole mode) up to these words"
    )
    args = parser.parse_args()
    if 1 not in args.lengths:
        parser.error(
            "the one-sentence text (length 1) is the reference for the ratios; keep it in --lengths."
        )
    pin_threads(args.threads)

    from kokoro_lab.original.chunking import DEFAULT_MAX_PHONEMES, plan_chunks
    from kokoro_lab.original.long_text import synthesize_long
    from kokoro_lab.original.streaming import stream

    for _ in range(args.warmup):  # model load, eSpeak and allocator warm-up
        synthesize_long(FIRST, voice=args.voice)
    texts = {words: build_text(words) for words in sorted(args.lengths)}
    infos = {}
    for words, text in texts.items():
        chunks = list(plan_chunks(text))
        infos[words] = {
            "words": len(text.split()),
            "chunks": len(chunks),
            "tokens": sum(c.n_tokens for c in chunks),
        }
        print(f"{infos[words]['words']} words: {len(chunks)} chunks, {infos[words]['tokens']} tokens")

    # TTFA round-robin over the lengths, so that a noisy neighbour slows them all alike.
    fns = {words: functools.partial(first_audio, text, args.voice) for words, text in texts.items()}
    ttfa, _ = time_interleaved(fns, repeats=args.repeats, warmup=0)
    rows = []
    for words, text in texts.items():
        row = {
            "mode": "stream",
            **infos[words],
            "ttfa_s": ttfa[words].median,
            "ttfa_times_s": list(ttfa[words].times),
        }
        row |= {"total_s": None, "audio_s": None, "rtf": None}
        rows.append(row)
        if words > args.full_up_to:
            continue
        print(f"\nfull runs, {infos[words]['words']} words", flush=True)
        runs, out = time_interleaved(
            {
                "stream": lambda text=text: np.concatenate([p.audio for p in stream(text, voice=args.voice)]),
                "whole": lambda text=text: synthesize_long(text, voice=args.voice),
            },
            repeats=1,
            warmup=0,
        )
        audio_s = len(out["stream"]) / out["whole"].sample_rate
        row |= {"total_s": runs["stream"].median, "audio_s": audio_s, "rtf": runs["stream"].median / audio_s}
        total = runs["whole"].median
        whole = {"mode": "whole", **infos[words], "ttfa_s": total, "ttfa_times_s": [total], "total_s": total}
        whole |= {"audio_s": out["whole"].seconds, "rtf": total / out["whole"].seconds}
        whole["same_audio_as_stream"] = bool(np.array_equal(out["whole"].audio, out["stream"]))
        rows.append(whole)
        print_table(
            [r for r in rows if r["words"] == infos[words]["words"]],
            {"mode": "mode", "ttfa_s": "TTFA s", "total_s": "total s", "audio_s": "audio s", "rtf": "RTF"},
        )
    reference = {r["mode"]: r["ttfa_s"] for r in rows if r["words"] == rows[0]["words"]}
    stream_ttfa = {r["words"]: r["ttfa_s"] for r in rows if r["mode"] == "stream"}
    for r in rows:
        r["ttfa_vs_sentence"] = r["ttfa_s"] / reference[r["mode"]] if r["mode"] in reference else None
        r["ttfa_vs_stream"] = r["ttfa_s"] / stream_ttfa[r["words"]]
    print("\nall texts")
    print_table(
        rows,
        {
            "words": "words",
            "chunks": "chunks",
            "mode": "mode",
            "ttfa_s": "TTFA s",
            "ttfa_vs_sentence": "× one sentence",
            "ttfa_vs_stream": "× stream TTFA",
            "rtf": "RTF",
        },
    )
    longest = max((r for r in rows if r["mode"] == "stream"), key=lambda r: r["words"])
    goal = {
        "words": longest["words"],
        "ttfa_vs_sentence": longest["ttfa_vs_sentence"],
        "limit": GOAL_RATIO,
        "met": longest["ttfa_vs_sentence"] <= GOAL_RATIO,
    }
    print(
        f"\ngoal: TTFA for {goal['words']} words is {goal['ttfa_vs_sentence']:.2f}× one sentence's (≤ {GOAL_RATIO})"
    )
    path = write_results(
        "streaming",
        rows,
        {
            "threads": args.threads,
            "repeats": args.repeats,
            "warmup": args.warmup,
            "voice": args.voice,
            "lengths": sorted(args.lengths),
            "full_up_to": args.full_up_to,
            "max_phonemes": DEFAULT_MAX_PHONEMES,
            "first_sentence": FIRST,
        },
        extra={"goal": goal},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
