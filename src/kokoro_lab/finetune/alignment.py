"""Forced alignment without a hub model: Kokoro speaks the text, and DTW maps its timing onto a recording.

A recorded corpus has audio and text but no durations, and fine-tuning needs ``gt_duration``: how
many 25 ms frames each token lasts. Kokoro already knows the durations of its *own* speech. So we
have it say the same tokens, compute features of both signals that are robust to the speaker
(64 log-mel bands, each standardised over the utterance), find the cheapest monotonic path between
the two stretches of speech with dynamic time warping (``librosa.sequence.dtw``), and carry every
token boundary of the synthesis along that path into the recording. The silences before and after
the speech are matched linearly, not warped: Kokoro's reading starts and ends with pauses that a
recording may lack. ``passes=2`` re-reads the text with the first pass's durations and warps
again; ``bench/alignment.py`` measures it and MFCC features against the default.

The durations come out on Kokoro's own clock, which is what a fine-tune needs: in Kokoro's audio
the sound of a token starts about two frames before its duration does, and the aligner keeps
that offset (measured against eSpeak NG's phoneme timings in the new-language chapter).

The result is refined into what :class:`~kokoro_lab.finetune.data.FinetuneItem` needs: integer
frames, at least one per token, summing exactly to the recording's frame count, each at most the
predictor's cap of 50 (longer tokens are cut out of the audio by
:func:`~kokoro_lab.finetune.data.cap_durations`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..config import SAMPLE_RATE, SAMPLES_PER_FRAME

ALIGNER_VERSION = 2  # part of every cached corpus's key: a change here invalidates them
FEATURE_HOP = 120  # samples (5 ms): five DTW steps per Kokoro frame, so boundaries land within a frame
N_MELS = 64
N_MFCC = 20
FEATURES = ("logmel", "mfcc")
MAX_TEMPO_RATIO = 2.5  # speech 2.5× faster or slower than Kokoro's reading is not that text
SILENCE_DB = 40  # below the peak: where speech starts and ends, for the tempo check
# The RMS feature distance per path step (over the speech) above which a recording is taken for
# something other than speech. bench/alignment.py, log-mel: Kokoro voices 0.69–0.95, eSpeak NG's
# speech 0.84–1.18, white noise 1.23–1.26. The margin is thin, and another sentence of similar
# length costs 0.88–1.16, so the cost catches non-speech, not a wrong transcript. MFCC costs do
# not separate eSpeak's speech (up to 1.39) from noise (from 1.23), so they are not checked.
MAX_PATH_COST = {"logmel": 1.21, "mfcc": float("inf")}
COST_NOTE = "speech of its text measured at most 1.18, white noise at least 1.23"


class AlignmentError(ValueError):
    """An alignment failed a sanity check; the message names the problem and what to check."""


@dataclass
class Alignment:
    """Token durations for one recording and the evidence behind them (L tokens, F frames)."""

    durations: torch.Tensor  # [L] long frames, sum == F, each ≥ 1
    boundaries: np.ndarray  # [L-1] real-valued frame where tokens 1..L-1 start, before rounding
    path: np.ndarray  # [N, 2] DTW path over the speech: (synthesis step, recording step), 120 samples each
    cost: float  # RMS feature distance per path step (see warp)
    synthesis: np.ndarray  # [600 F'] the last reference Kokoro spoke
    synthesis_durations: torch.Tensor  # [L] its durations
    n_frames: int  # F = len(recording) // 600

    @property
    def tempo_ratio(self) -> float:
        """Recording frames per synthesis frame (> 1: the speaker is slower than Kokoro)."""
        return self.n_frames / max(1, int(self.synthesis_durations.sum()))


def features(audio: np.ndarray, kind: str = "logmel", hop: int = FEATURE_HOP) -> np.ndarray:
    """Per-utterance normalised features [D, N] of 24 kHz ``audio`` [T], one column per ``hop`` samples.

    ``"logmel"``: 64 log-mel bands, each standardised over the utterance (mean and variance
    normalisation removes much of the speaker's and the channel's colour). ``"mfcc"``: MFCCs 1–19
    (c0, the loudness, dropped), standardised the same way.
    """
    import librosa

    if kind not in FEATURES:
        raise ValueError(f"Unknown feature kind {kind!r}; use one of {FEATURES}.")
    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    if kind == "mfcc":
        X = librosa.feature.mfcc(
            y=y, sr=SAMPLE_RATE, n_mfcc=N_MFCC, n_fft=1024, hop_length=hop, n_mels=N_MELS
        )[1:]  # [19, N]
    else:
        mel = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=1024, hop_length=hop, n_mels=N_MELS)
        X = np.log(mel + 1e-6)  # [64, N]
    X = (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + 1e-6)
    return X.astype(np.float64)


def warp(reference: np.ndarray, recording: np.ndarray, kind: str = "logmel") -> tuple[np.ndarray, float]:
    """DTW between two utterances: the path [N, 2] (reference step, recording step) and its cost.

    The cost is the mean Euclidean distance per path step divided by √D, an RMS difference per
    feature in standard deviations, so it reads the same for either kind of feature.
    """
    import librosa

    X, Y = features(reference, kind), features(recording, kind)  # [D, N], [D, M]
    D, wp = librosa.sequence.dtw(X=X, Y=Y, metric="euclidean")
    path = wp[::-1].copy()  # librosa returns it end → start
    return path, float(D[-1, -1] / len(path) / np.sqrt(X.shape[0]))


def carry_boundaries(
    path: np.ndarray,
    reference_durations: torch.Tensor,
    spans: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None,
) -> np.ndarray:
    """Map the reference's token boundaries through ``path``: [L-1] frames in the recording.

    Each reference step is paired with the mean of the recording steps the path gives it. With
    ``spans`` = ((start, end, length) of the reference, the same for the recording) in samples,
    the path covers only the speech between start and end, and the silence before and after is
    mapped linearly onto the recording's own silence.
    """
    ref_steps, rec_steps = path[:, 0], path[:, 1]
    n_ref = int(ref_steps.max()) + 1
    mean_rec = np.bincount(ref_steps, weights=rec_steps, minlength=n_ref) / np.maximum(
        np.bincount(ref_steps, minlength=n_ref), 1
    )  # [n_ref]
    x = np.arange(n_ref) * FEATURE_HOP  # reference samples
    y = mean_rec * FEATURE_HOP  # recording samples
    if spans is not None:
        (rs, re, rn), (ys, ye, yn) = spans
        x = np.concatenate([[0], rs + x, [max(re, rs + x[-1] + 1), rn + 1]])
        y = np.concatenate([[0], ys + y, [ye, yn]])
    cum = torch.cumsum(reference_durations.long(), 0)[:-1].numpy() * SAMPLES_PER_FRAME  # [L-1] samples
    return np.interp(cum, x, y) / SAMPLES_PER_FRAME  # [L-1] recording frames


def integer_durations(boundaries: np.ndarray, n_frames: int) -> torch.Tensor:
    """Round boundaries to whole frames: [L] durations, each ≥ 1, summing to ``n_frames``.

    Rounding keeps every boundary within half a frame; the clamps then push boundaries apart only
    where two tokens would otherwise share a frame (Kokoro never predicts a 0-frame token).
    """
    L = len(boundaries) + 1
    if n_frames < L:
        raise AlignmentError(f"{n_frames} frames cannot hold {L} tokens (each needs at least one).")
    b = np.rint(np.asarray(boundaries, dtype=np.float64)).astype(np.int64)  # [L-1]
    # boundary k must leave k frames before it and L-1-k after it
    k = np.arange(1, L)
    b = np.clip(b, k, n_frames - (L - k))
    for i in range(1, len(b)):  # strictly increasing, forwards ...
        b[i] = max(b[i], b[i - 1] + 1)
    for i in range(len(b) - 2, -1, -1):  # ... and backwards, so the last ones fit too
        b[i] = min(b[i], b[i + 1] - 1)
    edges = np.concatenate([[0], b, [n_frames]])
    return torch.from_numpy(np.diff(edges)).long()  # [L]


def speech_span(audio: np.ndarray) -> tuple[int, int]:
    """(start, end) samples of the speech in [T] audio: within ``SILENCE_DB`` of the peak, on the DTW grid."""
    import librosa

    y = np.asarray(audio, dtype=np.float32).reshape(-1)
    _, (start, end) = librosa.effects.trim(y, top_db=SILENCE_DB, frame_length=1024, hop_length=FEATURE_HOP)
    start = int(start) // FEATURE_HOP * FEATURE_HOP
    return start, max(start + FEATURE_HOP, min(y.size, int(end)))


def speak_tokens(
    model, input_ids: torch.Tensor, ref_s: torch.Tensor, durations: torch.Tensor | None = None, seed: int = 0
) -> tuple[torch.Tensor, np.ndarray]:
    """Kokoro reads ``input_ids`` [L] with ``ref_s`` (noise source off): (durations [L], audio [600 F])."""
    from ..original.stages import run_stages
    from ..rewrite.sine_source import no_source_noise

    with torch.random.fork_rng(devices=[]), no_source_noise():
        torch.manual_seed(seed)
        stages = run_stages(model, input_ids.reshape(1, -1), ref_s.reshape(1, -1), durations=durations)
    return stages.pred_dur.long().clone(), stages.audio.reshape(-1).float().numpy()


def align(
    model,
    recording: np.ndarray | torch.Tensor,
    input_ids: torch.Tensor,
    ref_s: torch.Tensor,
    kind: str = "logmel",
    passes: int = 1,
    seed: int = 0,
    check_cost: bool = True,
) -> Alignment:
    """Durations of ``input_ids``'s tokens in ``recording``, by DTW against Kokoro's own reading.

    Args:
        model: a ``kokoro.KModel`` (eval mode; only run forwards).
        recording: [T] float samples at 24 kHz; the last ``T mod 600`` samples are ignored.
        input_ids: [L] token ids with the 0 boundaries at both ends.
        ref_s: [1, 256] or [256] the voice Kokoro reads with (any voice; the features are normalised).
        kind: DTW features, ``"logmel"`` (default, the more accurate in ``bench/alignment.py``)
            or ``"mfcc"``.
        passes: 1 = warp against Kokoro's own timing; each further pass re-speaks with the
            previous durations and warps again.
        seed: Kokoro's noise source is switched off; the seed fixes everything else.
        check_cost: refuse a path costlier than ``MAX_PATH_COST[kind]`` (log-mel only; off to measure).

    Returns:
        An :class:`Alignment`; ``durations`` sum to ``len(recording) // 600``.

    Raises:
        AlignmentError: the recording is too short for the tokens, its speech lasts more than
            2.5× longer or shorter than Kokoro's reading, or the DTW path is too costly (probably
            the wrong text).
    """
    if passes < 1:
        raise ValueError(f"passes must be ≥ 1, got {passes}.")
    y = np.asarray(recording.detach().cpu() if isinstance(recording, torch.Tensor) else recording, np.float32)
    y = y.reshape(-1)
    ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(-1)  # [L]
    L, F = ids.numel(), y.size // SAMPLES_PER_FRAME
    if F < L:
        raise AlignmentError(
            f"The recording has {F} frames ({y.size / SAMPLE_RATE:.2f} s) for {L} tokens; it is too short "
            "for its text. Check that the audio and the text belong together."
        )
    y = y[: F * SAMPLES_PER_FRAME]
    durations = None
    for _ in range(passes):
        ref_dur, reference = speak_tokens(model, ids, ref_s, durations, seed)
        # Speech against speech: Kokoro's reading starts and ends with pauses that a recording may
        # lack or double. DTW warps only the speech; the silences map onto each other linearly.
        (rs, re), (ys, ye) = speech_span(reference), speech_span(y)
        ratio = (ye - ys) / (re - rs)  # speech against speech
        if not 1 / MAX_TEMPO_RATIO <= ratio <= MAX_TEMPO_RATIO:
            raise AlignmentError(
                f"The speech in the recording lasts {ratio:.2f}× as long as in Kokoro's reading of the text "
                f"(allowed: {1 / MAX_TEMPO_RATIO:.1f}–{MAX_TEMPO_RATIO}×); check that the audio and the text "
                "belong together and that long silences are cut out."
            )
        path, cost = warp(reference[rs:re], y[ys:ye], kind)  # the speech only
        boundaries = carry_boundaries(path, ref_dur, ((rs, re, reference.size), (ys, ye, y.size)))
        path = path + np.array([rs, ys]) // FEATURE_HOP  # steps from the start of each signal
        durations = integer_durations(boundaries, F)
    if check_cost and cost > MAX_PATH_COST[kind]:
        raise AlignmentError(
            f"The DTW path costs {cost:.2f} per step (limit {MAX_PATH_COST[kind]}: {COST_NOTE}); the audio does "
            "not sound like the text. Check the transcript and the language."
        )
    return Alignment(durations, boundaries, path, cost, reference, ref_dur, F)


def boundary_errors(estimated: torch.Tensor, true: torch.Tensor) -> np.ndarray:
    """|estimated − true| token start, in frames, at each of the L-1 inner boundaries: [L-1]."""
    a = torch.cumsum(estimated.long(), 0)[:-1].numpy()
    b = torch.cumsum(true.long(), 0)[:-1].numpy()
    return np.abs(a - b).astype(np.float64)
