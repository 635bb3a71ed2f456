"""Forced-alignment accuracy against durations no Kokoro reading in the same voice produced.

Two ground truths:

* **Kokoro, another voice.** Kokoro speaks each sentence as ``--record-voices``; its durations are
  known. The aligner reads the text as ``--reference`` (another voice) and warps.
* **eSpeak NG's own speech** (American English and Luxembourgish). eSpeak's synthesis callback
  reports where each phoneme starts; those starts are compared with the aligner's token starts
  wherever a token and an eSpeak phoneme start together.

Every configuration (DTW features, passes) runs on the same recordings in one process, and the
path costs of matching and of mismatched (recording, text) pairs are kept to choose the sanity
limit. ``--results alignment`` writes ``bench/results/alignment.json``, which the new-language
chapter shows. About 6 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np
import torch

from kokoro_lab import load_kmodel
from kokoro_lab.benchmarking import machine_info, pin_threads, write_results
from kokoro_lab.finetune import SENTENCES
from kokoro_lab.finetune.alignment import AlignmentError, align, speak_tokens, speech_span, warp
from kokoro_lab.finetune.espeak_speech import speak, token_boundaries
from kokoro_lab.finetune.new_language import sentences as lb_sentences
from kokoro_lab.finetune.new_language import to_kokoro
from kokoro_lab.original.text import phonemize, tokenize
from kokoro_lab.original.voices import load_voice, style_for

CONFIGS = (("logmel", 1), ("logmel", 2), ("mfcc", 1))


def _row(
    source: str, recorder: str, kind: str, passes: int, signed: list[np.ndarray], seconds: float
) -> dict:
    s = np.concatenate(signed)  # estimated − true start, frames
    e, bias = np.abs(s), float(np.median(s))
    centred = np.abs(s - bias)  # the error left once a constant offset is taken out
    return {
        "source": source,
        "recorder": recorder,
        "kind": kind,
        "passes": passes,
        "utterances": len(signed),
        "boundaries": int(e.size),
        "median_frames": float(np.median(e)),
        "p90_frames": float(np.percentile(e, 90)),
        "mean_frames": float(e.mean()),
        "within_1_frame": float((e <= 1).mean()),
        "bias_frames": bias,
        "centred_median_frames": float(np.median(centred)),
        "centred_p90_frames": float(np.percentile(centred, 90)),
        "seconds_per_utterance": seconds / len(signed),
        "errors_frames": [round(float(x), 2) for x in s],
    }


def kokoro_rows(model, texts, recorders, reference, costs) -> list[dict]:
    rows = []
    for recorder in recorders:
        recordings = []
        for i, text in enumerate(texts):
            ids = torch.tensor([0, *tokenize(phonemize(text)), 0])
            true, audio = speak_tokens(
                model, ids, style_for(load_voice(recorder), ids.numel() - 2), None, i + 1
            )
            recordings.append((ids, true, audio))
        for kind, passes in CONFIGS:
            errors, t0 = [], time.perf_counter()
            for ids, true, audio in recordings:
                a = align_unchecked(model, audio, ids, reference, kind, passes)
                errors.append((torch.cumsum(a.durations, 0) - torch.cumsum(true, 0))[:-1].double().numpy())
                if passes == 1:
                    costs[f"kokoro {kind}"].append(a.cost)
            rows.append(_row("kokoro", recorder, kind, passes, errors, time.perf_counter() - t0))
        for j, (_, _, audio) in enumerate(recordings):  # each recording against the next text
            other = recordings[(j + 1) % len(recordings)][0]
            _, reading = speak_tokens(
                model, other, style_for(load_voice(reference), other.numel() - 2), None, 0
            )
            for kind in ("logmel", "mfcc"):
                costs[f"other text {kind}"].append(speech_cost(reading, audio, kind))
    return rows


def align_unchecked(model, audio: np.ndarray, ids: torch.Tensor, reference: str, kind: str, passes: int):
    """``align`` with Kokoro reading as ``reference``, its path cost kept but not checked."""
    return align(
        model, audio, ids, style_for(load_voice(reference), ids.numel() - 2), kind, passes, check_cost=False
    )


def speech_cost(reading: np.ndarray, recording: np.ndarray, kind: str) -> float:
    """The path cost ``align`` would check: DTW between the two stretches of speech."""
    (rs, re), (ys, ye) = speech_span(reading), speech_span(recording)
    return warp(reading[rs:re], recording[ys:ye], kind)[1]


def kokoro_onsets(model, texts, voice) -> list[float]:
    """Where Kokoro's own speech starts (first 5 ms step within 35 dB of the peak), in frames after
    the start of its first token: its durations' clock against the sound."""
    import librosa

    out = []
    for text in texts:
        ids = torch.tensor([0, *tokenize(phonemize(text)), 0])
        durations, audio = speak_tokens(model, ids, style_for(load_voice(voice), ids.numel() - 2))
        rms = librosa.feature.rms(y=audio, frame_length=240, hop_length=120)[0]
        db = 20 * np.log10(rms + 1e-9) - 20 * np.log10(rms.max() + 1e-9)
        out.append(round(float(np.argmax(db > -35) / 5 - int(durations[0])), 2))
    return out


def espeak_rows(model, texts, voice, lang, symbol_map, reference, costs) -> tuple[list[dict], float]:
    rows, coverage = [], []
    prepared = []
    for text in texts:
        speech = speak(text, voice)
        phonemes = phonemize(text, lang)
        phonemes = symbol_map(phonemes) if symbol_map else phonemes
        truth = token_boundaries(speech, phonemes)  # [L-1] frames, NaN where unknown
        ids = torch.tensor([0, *tokenize(phonemes), 0])
        assert truth.size == ids.numel() - 1, (text, truth.size, ids.numel())
        coverage.append(float(np.isfinite(truth).mean()))
        prepared.append((ids, speech.audio, truth))
    for kind, passes in CONFIGS:
        errors, t0 = [], time.perf_counter()
        for ids, audio, truth in prepared:
            try:
                a = align_unchecked(model, audio, ids, reference, kind, passes)
            except AlignmentError as e:
                print(f"  {voice}: {e}")
                continue
            est = torch.cumsum(a.durations, 0)[:-1].numpy()
            known = np.isfinite(truth)
            errors.append(est[known] - truth[known])
            if passes == 1:
                costs[f"espeak-{voice} {kind}"].append(a.cost)
        rows.append(
            _row(f"espeak-{voice}", f"eSpeak NG {voice}", kind, passes, errors, time.perf_counter() - t0)
        )
    return rows, float(np.mean(coverage))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sentences", type=int, default=20, help="English sentences (and as many Luxembourgish)")
    p.add_argument("--record-voices", default="jm_kumo,jf_nezumi")
    p.add_argument("--reference", default="jf_alpha")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--results", default=None, help="write bench/results/<name>.json")
    args = p.parse_args()
    pin_threads(args.threads)
    model, _ = load_kmodel()
    english = list(SENTENCES[: args.sentences])
    luxembourgish = list(lb_sentences()[: args.sentences])
    costs = defaultdict(list)  # "<pairs> <features>" → path costs
    t0 = time.perf_counter()
    rows = kokoro_rows(model, english, args.record_voices.split(","), args.reference, costs)
    en_rows, en_cov = espeak_rows(model, english, "en-us", "a", None, args.reference, costs)
    lb_rows, lb_cov = espeak_rows(model, luxembourgish, "lb", "lb", to_kokoro, args.reference, costs)
    rows += en_rows + lb_rows
    onsets = kokoro_onsets(model, english, args.reference)
    print(f"Kokoro's own speech starts {np.median(onsets):.2f} frames after its first token starts (median)")
    rng = np.random.default_rng(0)
    for text in english[:10]:  # white noise of the text's length: what a wrong file looks like
        ids = torch.tensor([0, *tokenize(phonemize(text)), 0])
        _, reading = speak_tokens(model, ids, style_for(load_voice(args.reference), ids.numel() - 2), None, 0)
        noise = rng.normal(0, 0.1, reading.size).astype(np.float32)
        for kind in ("logmel", "mfcc"):
            costs[f"noise {kind}"].append(speech_cost(reading, noise, kind))
    for r in rows:
        print(
            f"{r['source']:14s} {r['recorder']:16s} {r['kind']:6s} passes {r['passes']}: median "
            f"{r['median_frames']:.2f}, p90 {r['p90_frames']:.2f}, bias {r['bias_frames']:+.2f}, centred median "
            f"{r['centred_median_frames']:.2f} p90 {r['centred_p90_frames']:.2f} frames over "
            f"{r['boundaries']} boundaries; {r['seconds_per_utterance']:.2f} s per utterance"
        )
    summary = {
        k: {"min": min(v), "median": statistics.median(v), "max": max(v), "n": len(v)}
        for k, v in costs.items()
    }
    for k, s in summary.items():
        print(
            f"path cost {k:13s} min {s['min']:.3f} median {s['median']:.3f} max {s['max']:.3f} (n={s['n']})"
        )
    kokoro = [r for r in rows if r["source"] == "kokoro" and (r["kind"], r["passes"]) == CONFIGS[0]]
    pooled = np.abs(np.concatenate([r["errors_frames"] for r in kokoro]))
    goal = {"median_frames": float(np.median(pooled)), "limit_frames": 1.0}
    goal["met"] = goal["median_frames"] <= goal["limit_frames"]
    print(f"goal: median {goal['median_frames']:.2f} ≤ 1 frame on Kokoro voices: {goal['met']}")
    print(
        f"eSpeak boundary coverage: en-us {en_cov:.2f}, lb {lb_cov:.2f}; total {time.perf_counter() - t0:.0f} s"
    )
    if args.results:
        settings = {
            "sentences": args.sentences,
            "record_voices": args.record_voices.split(","),
            "reference": args.reference,
            "threads": args.threads,
            "configs": [list(c) for c in CONFIGS],
        }
        extra = {"costs": summary, "goal": goal, "espeak_coverage": {"en-us": en_cov, "lb": lb_cov}}
        extra["kokoro_onset_frames"] = {"median": float(np.median(onsets)), "values": onsets}
        print(write_results(args.results, rows, settings, machine_info(), extra=extra))


if __name__ == "__main__":
    main()
