"""eSpeak NG's own speech with the phoneme timings its synthesiser reports: a duration ground truth.

A forced aligner is judged by comparing its phoneme boundaries with true ones. Boundaries read off
Kokoro's own duration predictor would only test the aligner against the model it is meant to
check, so this module uses a second, unrelated synthesiser whose timings are known exactly:
eSpeak NG, the same engine that turns text into phonemes for Kokoro.

How eSpeak reports timings: with ``espeakINITIALIZE_PHONEME_EVENTS`` its synthesis callback
receives, next to each buffer of 16-bit samples at 22,050 Hz, a list of ``espeak_EVENT``s.
A phoneme event (type 7) carries the phoneme's name (IPA with
``espeakINITIALIZE_PHONEME_IPA``, at most 8 UTF-8 bytes) and its position in the output:
``audio_position`` in whole milliseconds and ``sample``, the exact sample index, which this
module uses (``audio_position`` is ``sample / 22.05`` rounded down: they never differed by 1 ms
or more over 297 events). The marker is queued in the wave generator's command stream right
before the phoneme's sound, so it falls where that sound starts. Measured with
:func:`pause_offsets`: every pause event lies within 0.2 ms of where the audio goes silent
(one at 0.8 ms) across 31.6 s of read text, with no drift from start to end, so no offset is
applied.

Two conventions of eSpeak's ``Generate()`` (synthesize.c) matter for a ground truth:

* A phoneme's silent "pre-pause" (the closure before a stop such as the ``p`` in "open") is
  queued *before* its marker, so eSpeak counts the closure as part of the previous phoneme.
  :func:`speak` moves the start of a stop or affricate back to the start of the digital
  silence that immediately precedes its event, so the closure belongs to the stop, as in
  phonetic segmentation.
* A vowel after a liquid or nasal gets its marker after the vowel's onset transition, so those
  vowel starts are late by that transition. Where the loudness rises (a rough energy onset),
  they came out about 20–60 ms late on "ma ma ma", "no no no" and "la la la" at 150 words per
  minute, against about 0 ms for vowels after t and d. eSpeak does not report the transition's
  length, so these starts are left as reported; :func:`late_vowel_onsets` marks them and
  ``token_boundaries(..., skip_late_vowels=True)`` leaves them out.
"""

from __future__ import annotations

import _ctypes
import ctypes
import difflib
import functools
import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import SAMPLE_RATE, SAMPLES_PER_FRAME

ESPEAK_RATE = 22_050  # Hz; espeak_Initialize returns it, and speak() checks that it does

# speak_lib.h (eSpeak NG API revision 12), checked against the 1.52 library in espeakng_loader.
AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: RETRIEVAL, but returns when synthesis is done
espeakINITIALIZE_PHONEME_EVENTS = 0x0001
espeakINITIALIZE_PHONEME_IPA = 0x0002
espeakEVENT_LIST_TERMINATED = 0
espeakEVENT_PHONEME = 7
espeakCHARS_UTF8 = 1
POS_CHARACTER = 1
EE_OK = 0
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE, espeakPUNCTUATION = 1, 2, 3, 4, 5
espeakCAPITALS, espeakWORDGAP = 6, 7
espeakRATE_MINIMUM, espeakRATE_MAXIMUM = 80, 450  # words per minute

# The parameters speak() sets on every call, so no earlier call or voice file leaks into the
# next: eSpeak's own defaults (volume 100, pitch 50, range 50), no spoken punctuation or capitals,
# no extra gap between words.
_FIXED_PARAMETERS = {
    espeakVOLUME: 100,
    espeakPITCH: 50,
    espeakRANGE: 50,
    espeakPUNCTUATION: 0,
    espeakCAPITALS: 0,
    espeakWORDGAP: 0,
}
RAND_SEED = 1  # eSpeak's own noise generator (breathiness), reseeded before each synthesis

PAUSE = "_"  # eSpeak gives pause phonemes ("_", "_:") no IPA name; they are reported as "_"
STRESS_MARKS = "ˈˌ"
LENGTH_MARK = "ː"
# Stops and affricates whose silent closure eSpeak queues before their marker.
_STOPS = frozenset("pbtdkgʔcɟqɢ")

# misaki merges some two-letter IPA phonemes into one letter; Kokoro's tokens are those letters.
MISAKI_MERGED = {
    "I": "aɪ",
    "W": "aʊ",
    "A": "eɪ",
    "O": "oʊ",
    "Q": "əʊ",
    "Y": "ɔɪ",
    "ʧ": "tʃ",
    "ʤ": "dʒ",
    "ʦ": "ts",
    "ʣ": "dz",
    "S": "ss",
    "ᵊ": "ə",
}
# Spelling differences between eSpeak's IPA and misaki's output, folded away on both sides
# before matching (misaki's English fallback rewrites these; the tie "^" is never a sound).
_FOLD = {
    "ɚ": "əɹ",
    "ɝ": "ɜɹ",
    "ɐ": "ə",
    "r": "ɹ",
    "ɾ": "t",
    "T": "t",
    "ʔ": "t",
    "x": "k",
    "ç": "k",
    "ɬ": "l",
    "^": "",
    "ʲ": "",
    "\u0303": "",  # combining tilde (nasal vowels)
    "\u0329": "",  # syllabic mark
}
_SKIP = set(STRESS_MARKS + LENGTH_MARK)
# eSpeak's liquids and nasals (phLIQUID, phNASAL) in IPA, and the vowel letters, for
# late_vowel_onsets(); approximate: eSpeak's own classes live in its compiled phoneme tables.
_LIQUIDS_NASALS = frozenset("mnŋɲɳɱlɫʎɭɹrɻʀjw")
_VOWELS = frozenset("aeiouyæɑɒɐɔəɘɚɛɜɝɞɤɨɪʉʊʌʏøœɶɯɵ")


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h (40 bytes on 64-bit Linux)."""

    _fields_ = [
        ("type", ctypes.c_int),  # espeak_EVENT_TYPE
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters from the start of the text
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms within the generated speech
        ("sample", ctypes.c_int),  # sample index within the generated speech
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class EspeakSpeech:
    """eSpeak NG's speech for one text and the phoneme timings its synthesis reported.

    ``phonemes`` are eSpeak's IPA names with stress marks (``"ˈɔːɹ"``), one per phoneme event;
    pauses are ``"_"``. Events of zero length (eSpeak's end-of-clause markers) are dropped, so
    ``starts`` is strictly increasing and ``ends[i] == starts[i + 1]``.
    """

    text: str
    voice: str  # eSpeak voice name, e.g. "en-us", "lb"
    audio: np.ndarray  # [T] float32 at 24 kHz (resampled from eSpeak's 22,050 Hz)
    phonemes: tuple[str, ...]  # [P] IPA of each phoneme event, in order; pauses are "_"
    starts: np.ndarray  # [P] float64 seconds where each phoneme starts in `audio`
    ends: np.ndarray  # [P] float64 seconds (next start, or end of speech for the last)

    @property
    def duration(self) -> float:
        """Length of ``audio`` in seconds."""
        return len(self.audio) / SAMPLE_RATE


_LOCK = threading.Lock()  # one synthesis at a time: eSpeak's state is global
_TEMPDIRS: list[tempfile.TemporaryDirectory] = []


@functools.cache
def _library_copy() -> Path:
    """A private copy of libespeak-ng, made once per process in a temporary directory.

    phonemizer (misaki's eSpeak backend) has the library loaded and initialised with its own
    settings. eSpeak keeps all state in globals and dlopen() returns the already loaded copy for
    the same file, so :func:`speak` loads a copy of the file, as phonemizer does.
    """
    import espeakng_loader

    source = Path(espeakng_loader.get_library_path()).resolve()
    _TEMPDIRS.append(tempfile.TemporaryDirectory(prefix="kokoro-lab-espeak-"))  # removed at exit
    copy = Path(_TEMPDIRS[-1].name) / source.name
    shutil.copy(source, copy)
    return copy


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_Callback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,  # text
        ctypes.c_size_t,  # size
        ctypes.c_uint,  # position
        ctypes.c_int,  # position_type
        ctypes.c_uint,  # end_position
        ctypes.c_uint,  # flags
        ctypes.POINTER(ctypes.c_uint),  # unique_identifier
        ctypes.c_void_p,  # user_data
    ]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]


def _synthesize(text: str, voice: str, rate: int) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """eSpeak's samples ``[N]`` int16 at 22,050 Hz and its phoneme events ``(sample, IPA)``.

    The library is loaded fresh for every call and unloaded after it: its wave generator keeps
    state between utterances (pitch flutter phase, echo buffer) that Terminate/Initialize does
    not reset, so a second call with the same text gave audio a few hundred samples longer or
    shorter and phoneme starts up to 0.4 ms apart. A fresh load makes every call a first call.
    """
    import espeakng_loader

    chunks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []

    def on_synth(wav, n_samples: int, event_list) -> int:
        i = 0
        while event_list[i].type != espeakEVENT_LIST_TERMINATED:
            event = event_list[i]
            if event.type == espeakEVENT_PHONEME:
                # A name filling all 8 bytes has no terminating zero and may end mid-character.
                name = event.id.string.decode("utf-8", errors="ignore")
                events.append((event.sample, name or PAUSE))
            i += 1
        if wav and n_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())  # [n] int16
        return 0  # continue synthesis

    callback = _Callback(on_synth)
    with _LOCK:
        lib = ctypes.CDLL(str(_library_copy()))
        try:
            _declare(lib)
            options = espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA
            data_path = str(espeakng_loader.get_data_path()).encode()
            sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, options)
            if sample_rate != ESPEAK_RATE:
                raise RuntimeError(f"espeak_Initialize returned {sample_rate}, expected {ESPEAK_RATE} Hz.")
            lib.espeak_SetSynthCallback(callback)
            if lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise ValueError(
                    f"eSpeak NG has no voice {voice!r}; see kokoro_lab.finetune.espeak_speech.list_voices() "
                    "for the names (e.g. 'en-us', 'lb')."
                )
            # Set after the voice: loading a voice resets some of them.
            for parameter, value in {espeakRATE: rate, **_FIXED_PARAMETERS}.items():
                lib.espeak_SetParameter(parameter, value, 0)
            lib.espeak_ng_SetRandSeed(RAND_SEED)
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, espeakCHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            if status != EE_OK:
                raise RuntimeError(f"espeak_Synth failed with status {status} for {text[:40]!r}.")
        finally:
            lib.espeak_Terminate()
            _ctypes.dlclose(lib._handle)  # the next load starts from the library's initial state
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)  # [N]
    return samples, events


@functools.cache
def list_voices() -> tuple[str, ...]:
    """Names :func:`speak` accepts: eSpeak NG's language voices (files under ``espeak-ng-data/lang``).

    eSpeak matches names case-insensitively; they are listed in lower case (``"en-us"``).
    """
    import espeakng_loader

    lang = Path(espeakng_loader.get_data_path()) / "lang"
    return tuple(sorted(p.name.lower() for p in lang.rglob("*") if p.is_file()))


def speak(text: str, voice: str = "en-us", rate: int = 150) -> EspeakSpeech:
    """Synthesise ``text`` with eSpeak NG and return the audio with its phoneme timings.

    Args:
        text: the text to speak.
        voice: an eSpeak NG voice name (:func:`list_voices`), e.g. ``"en-us"`` or ``"lb"``.
        rate: speaking rate in words per minute, 80–450 (eSpeak's default is 175; the slower
            150 gives longer phonemes to align).

    Raises:
        ValueError: empty text, unknown voice or a rate out of range.
        RuntimeError: eSpeak produced no audio or no phoneme events.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("Text is empty; give at least one word for eSpeak NG to speak.")
    if not espeakRATE_MINIMUM <= rate <= espeakRATE_MAXIMUM:
        raise ValueError(
            f"rate={rate} is outside eSpeak's {espeakRATE_MINIMUM}–{espeakRATE_MAXIMUM} words per minute."
        )
    text = text.strip()
    samples, events = _synthesize(text, voice, rate)  # [N] int16 at 22,050 Hz
    if samples.size == 0 or all(name == PAUSE for _, name in events):
        raise RuntimeError(
            f"eSpeak NG returned no speech for {text[:40]!r} with voice {voice!r} (no audio or only pauses)."
        )
    starts, names = _clean_events(events, samples.size)  # [P] samples at 22,050 Hz
    starts = _closures_to_stops(starts, names, samples)
    ends = np.append(starts[1:], samples.size)  # [P]
    return EspeakSpeech(
        text=text,
        voice=voice,
        audio=_resample(samples),
        phonemes=tuple(names),
        starts=starts / ESPEAK_RATE,
        ends=ends / ESPEAK_RATE,
    )


def _clean_events(events: list[tuple[int, str]], n_samples: int) -> tuple[np.ndarray, list[str]]:
    """Drop zero-length events (several markers at one sample keep the last) and any at the end."""
    starts: list[int] = []
    names: list[str] = []
    for i, (sample, name) in enumerate(events):
        following = events[i + 1][0] if i + 1 < len(events) else n_samples
        if sample < following and sample < n_samples:
            starts.append(sample)
            names.append(name)
    if not starts:
        raise RuntimeError("eSpeak NG reported no phoneme events with a duration.")
    return np.asarray(starts, dtype=np.float64), names  # [P]


def _closures_to_stops(starts: np.ndarray, names: list[str], samples: np.ndarray) -> np.ndarray:
    """Move each stop's start back over the digital silence (its closure) just before its event.

    eSpeak queues a stop's pre-pause before the phoneme marker; the pause is exact zeros. The
    start never moves before the previous event, and not at all after a pause event.
    """
    starts = starts.copy()  # [P]
    for i in range(1, len(starts)):
        if _base(names[i])[:1] not in _STOPS or names[i - 1] == PAUSE:
            continue
        s = int(starts[i])
        j = s
        while j > starts[i - 1] + 1 and samples[j - 1] == 0:
            j -= 1
        starts[i] = j
    return starts


def _resample(samples: np.ndarray) -> np.ndarray:
    import librosa

    audio = samples.astype(np.float32) / 32768.0  # [N]
    return librosa.resample(audio, orig_sr=ESPEAK_RATE, target_sr=SAMPLE_RATE, res_type="soxr_hq").astype(
        np.float32
    )


def _base(name: str) -> str:
    """An IPA name without stress and length marks, with spelling variants folded."""
    out = "".join(c for c in name if c not in _SKIP)
    for old, new in _FOLD.items():
        out = out.replace(old, new)
    return out


def pause_offsets(speech: EspeakSpeech, threshold: float = 1e-3) -> np.ndarray:
    """For each pause event, seconds from its start to the start of the silent stretch it marks.

    0 means the event falls exactly where the audio goes quiet.
    """
    quiet = np.abs(speech.audio) < threshold  # [T]
    offsets = []
    for p, (name, start, end) in enumerate(zip(speech.phonemes, speech.starts, speech.ends, strict=True)):
        if name != PAUSE or p > 0 and speech.phonemes[p - 1] == PAUSE:
            continue  # a run of pause events marks one silent stretch, timed by its first event
        mid = int((start + end) / 2 * SAMPLE_RATE)
        if mid >= len(quiet) or not quiet[mid]:
            continue
        first = mid
        while first > 0 and quiet[first - 1]:
            first -= 1
        offsets.append(first / SAMPLE_RATE - start)
    return np.asarray(offsets)  # [n_pauses]


def _event_symbols(speech: EspeakSpeech) -> tuple[str, list[int]]:
    """eSpeak's phonemes as one folded string; [n] index of the event each character comes from."""
    chars: list[str] = []
    owner: list[int] = []
    for e, name in enumerate(speech.phonemes):
        if name == PAUSE:
            continue
        base = _base(name)
        chars.extend(base)
        owner.extend([e] * len(base))
    return "".join(chars), owner


def _token_symbols(tokens: list[str]) -> tuple[str, list[int]]:
    """Kokoro's letter tokens expanded and folded; [n] index of the token each character comes from."""
    chars: list[str] = []
    owner: list[int] = []
    for k, token in enumerate(tokens):
        if not _is_letter(token):
            continue
        base = _base(MISAKI_MERGED.get(token, token))
        chars.extend(base)
        owner.extend([k] * len(base))
    return "".join(chars), owner


def late_vowel_onsets(speech: EspeakSpeech) -> np.ndarray:
    """``[P]`` bool: vowel events right after a liquid or nasal, whose start eSpeak reports late.

    eSpeak queues their marker after the vowel's onset transition (see the module docstring).
    """
    late = np.zeros(len(speech.phonemes), dtype=bool)  # [P]
    for p in range(1, len(speech.phonemes)):
        this, prev = _base(speech.phonemes[p]), _base(speech.phonemes[p - 1])
        late[p] = this[:1] in _VOWELS and prev[-1:] in _LIQUIDS_NASALS
    return late


def token_boundaries(speech: EspeakSpeech, phonemes: str, skip_late_vowels: bool = False) -> np.ndarray:
    """Where each of Kokoro's tokens starts in ``speech.audio``, from eSpeak's phoneme events.

    Args:
        speech: eSpeak's speech for a text (:func:`speak`).
        phonemes: the string Kokoro would speak for the same text
            (``kokoro_lab.original.text.phonemize(text, lang)``).
        skip_late_vowels: leave NaN where the event is a vowel after a liquid or nasal
            (:func:`late_vowel_onsets`), whose reported start lags the audio.

    Returns:
        ``[L-1]`` float64, L the number of Kokoro tokens including the two boundary 0s: entry
        ``k-1`` is the start of token ``k`` in Kokoro frames (600 samples at 24 kHz, 25 ms).
        The last entry (the closing 0) is the end of the last spoken phoneme. NaN where no
        eSpeak event starts at that token: stress and length marks, spaces, punctuation, the
        second letter of something eSpeak speaks as one phoneme (``ɔːɹ``), or letters the two
        phoneme strings disagree on.
    """
    from ..original.text import vocab

    v = vocab()
    tokens = [c for c in phonemes if c in v]  # the characters tokenize() keeps, in order
    out = np.full(len(tokens) + 1, np.nan)  # [L-1]: tokens 1..L-2, then the closing 0
    frames = speech.starts * (SAMPLE_RATE / SAMPLES_PER_FRAME)  # [P]
    if skip_late_vowels:
        frames = np.where(late_vowel_onsets(speech), np.nan, frames)
    event_str, event_owner = _event_symbols(speech)
    token_str, token_owner = _token_symbols(tokens)
    event_len, token_len = Counter(event_owner), Counter(token_owner)  # symbols per event / token
    matcher = difflib.SequenceMatcher(None, event_str, token_str, autojunk=False)
    for block in matcher.get_matching_blocks():
        for d in range(block.size):
            i, j = block.a + d, block.b + d
            e, k = event_owner[i], token_owner[j]
            # A shared start: the first symbol of an event against the first symbol of a token,
            # and the match runs on over the whole of the shorter of the two.
            whole = min(event_len[e], token_len[k])
            if _first(event_owner, i) and _first(token_owner, j) and block.size - d >= whole:
                out[k] = frames[e]
    spoken = [e for e, name in enumerate(speech.phonemes) if name != PAUSE]
    if spoken:
        out[-1] = speech.ends[spoken[-1]] * (SAMPLE_RATE / SAMPLES_PER_FRAME)
    return out


def _is_letter(token: str) -> bool:
    """A phoneme letter, not a stress or length mark, space or punctuation."""
    return token not in _SKIP and (token.isalpha() or token in MISAKI_MERGED)


def _first(owner: list[int], i: int) -> bool:
    return i == 0 or owner[i - 1] != owner[i]


def boundary_coverage(boundaries: np.ndarray, phonemes: str) -> float:
    """Fraction of letter (phoneme) tokens in ``phonemes`` that :func:`token_boundaries` timed."""
    from ..original.text import vocab

    v = vocab()
    tokens = [c for c in phonemes if c in v]
    letters = [k for k, c in enumerate(tokens) if _is_letter(c)]
    if not letters:
        return 0.0
    return float(np.mean([not np.isnan(boundaries[k]) for k in letters]))


def write_corpus(
    folder: str | os.PathLike,
    texts: Sequence[str],
    voice: str = "lb",
    rate: int = 150,
    overwrite: bool = False,
) -> Path:
    """eSpeak NG reads ``texts`` into an LJSpeech-style corpus folder: the stand-in for recordings.

    Writes ``folder/metadata.csv`` (lines ``<voice>_0001|text``) and ``folder/wavs/<id>.wav``
    (24 kHz, 16-bit), each file atomically.

    Raises:
        OutputExistsError: a file exists and ``overwrite`` is False.
    """
    from ..atomic import atomic_write_bytes
    from ..audio import write_wav

    folder = Path(folder)
    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, text in enumerate(texts, start=1):
        name = f"{voice}_{i:04d}"
        write_wav(folder / "wavs" / f"{name}.wav", speak(text, voice, rate).audio, overwrite=overwrite)
        lines.append(f"{name}|{text.strip()}")
    atomic_write_bytes(folder / "metadata.csv", ("\n".join(lines) + "\n").encode(), overwrite=overwrite)
    return folder
