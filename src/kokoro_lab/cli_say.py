"""``kokoro-lab say``: text or a text file to WAV, subtitles and timestamps, or a stream to stdout."""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

DESCRIPTION = "Speak text into a WAV file (or stream it to standard output)."
EPILOG = """\
long text (--file):
  The file is split into sentences and packed into chunks of at most --max-phonemes tokens
  (default: the 15 s CoreML bucket's), spoken one by one and joined at natural pauses. A
  progress bar shows the chunks done, out of how many, and the time left.

resuming an interrupted run:
  Each finished chunk is kept in OUTPUT.parts/ (e.g. book.wav.parts/) under a hash of its
  text, the voice, speed, seed, language and checkpoint. Run the same command again and the
  chunks already there are reused instead of spoken again; change any of those and they are
  not. After the WAV is written the parts are deleted (--keep-parts keeps them).

streaming (--stream -o -):
  Each chunk is written to standard output as soon as it is spoken: a WAV stream (header with
  unknown length) or, with --raw, bare 16-bit little-endian mono PCM at 24 kHz, e.g.
    kokoro-lab say --file book.txt --stream -o - | ffplay -nodisp -autoexit -
    kokoro-lab say "Hello there." --stream --raw -o - | aplay -f S16_LE -r 24000 -c 1

voices:
  --voice takes a name, a .pt file, or a mix such as jf_alpha:0.7,jm_kumo:0.3 (weights are
  divided by their sum; a bare name weighs 1).
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``say`` subcommand to ``sub``."""
    say = sub.add_parser(
        "say",
        help="speak text into a WAV file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    say.add_argument(
        "text", nargs="?", help="what to say, in one model call per 510 tokens (long text: --file)"
    )
    say.add_argument("--file", help="read the text from this UTF-8 file (long text; resumable)")
    say.add_argument(
        "-o",
        "--output",
        required=True,
        help="WAV file to write (never clobbered without --overwrite); '-' with --stream: stdout",
    )
    say.add_argument("--voice", default="jf_alpha", help="a voice, a .pt file, or a mix a:0.7,b:0.3")
    say.add_argument("--speed", type=float, default=1.0)
    say.add_argument("--lang", default="a", help="Kokoro language code (a, b, e, f, h, i, p)")
    say.add_argument("--seed", type=int, default=0)
    say.add_argument("--checkpoint", default=None, help="explicit kokoro-v1_0.pth")
    say.add_argument("--no-split", action="store_true", help="fail instead of splitting text over 510 tokens")
    say.add_argument("--subtitles", metavar="VTT", help="also write WebVTT subtitles with word timings")
    say.add_argument("--srt", metavar="SRT", help="also write SRT subtitles")
    say.add_argument("--timestamps", metavar="JSON", help="also write every word's start and end as JSON")
    say.add_argument("--stream", action="store_true", help="write audio to stdout chunk by chunk (-o -)")
    say.add_argument("--raw", action="store_true", help="with --stream: bare 16-bit PCM, no WAV header")
    say.add_argument(
        "--max-phonemes",
        type=int,
        default=None,
        help="long text: tokens per chunk (default 158, the 15s bucket)",
    )
    say.add_argument("--keep-parts", action="store_true", help="--file: keep OUTPUT.parts/ after writing")
    say.add_argument("--overwrite", action="store_true", help="replace existing output files")
    say.add_argument("-q", "--quiet", action="store_true")
    say.set_defaults(func=run)
    return say


def _log(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"kokoro-lab: {message}", file=sys.stderr)


def _text(args: argparse.Namespace) -> str:
    if (args.text is None) == (args.file is None):
        raise ValueError("Give the text to say, or --file with a text file (not both).")
    if args.file is None:
        return args.text
    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(f"--file {path} does not exist; give a UTF-8 text file.")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"--file {path} is not UTF-8 text ({err.reason}); convert it first.") from None


def _check_outputs(args: argparse.Namespace) -> None:
    """Refuse bad combinations and unwritable or existing outputs before the slow part."""
    from .atomic import check_writable

    to_stdout = args.output == "-"
    if args.stream != to_stdout:
        raise ValueError("--stream writes to standard output: use it with -o - (and -o - needs --stream).")
    if args.raw and not args.stream:
        raise ValueError("--raw is a --stream format; add --stream -o -.")
    if args.stream and args.no_split:
        raise ValueError("--stream always splits the text into chunks; drop --no-split.")
    extra = [p for p in (args.subtitles, args.srt, args.timestamps) if p]
    paths = ([] if to_stdout else [args.output]) + extra
    if len({Path(p).resolve() for p in paths}) != len(paths):
        raise ValueError("Two outputs name the same file; give each its own path.")
    for p in paths:
        check_writable(p, args.overwrite)


def _write_word_files(args: argparse.Namespace, words: list, meta: dict) -> None:
    from .original.subtitles import write_json, write_srt, write_vtt

    if args.subtitles:
        write_vtt(args.subtitles, words, overwrite=args.overwrite)
    if args.srt:
        write_srt(args.srt, words, overwrite=args.overwrite)
    if args.timestamps:
        write_json(args.timestamps, words, overwrite=args.overwrite, **meta)


def _chunk_options(args: argparse.Namespace) -> dict:
    from .original.chunking import DEFAULT_MAX_PHONEMES

    return {
        "voice": args.voice,
        "speed": args.speed,
        "lang": args.lang,
        "seed": args.seed,
        "checkpoint": args.checkpoint,
        "max_phonemes": args.max_phonemes or DEFAULT_MAX_PHONEMES,
    }


def _say_text(args: argparse.Namespace, text: str) -> int:
    """One call of :func:`synthesize` (the text as given, split over 510 tokens)."""
    from tqdm import tqdm

    from .original.synthesis import synthesize

    bars: list = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(
                tqdm(total=total, desc="synthesizing", unit="chunk", file=sys.stderr, disable=args.quiet)
            )
        bars[0].update(1)

    _log(args, "loading the model…")
    result = synthesize(
        text,
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
    _write_outputs(args, result)
    _log(args, f"weights: {result.source.describe()}")
    _log(args, f"wrote {result.seconds:.2f} s of audio to {args.output}")
    return 0


def _write_outputs(args: argparse.Namespace, result) -> None:
    """The WAV, then the word files asked for (each written atomically)."""
    from .audio import write_wav

    write_wav(args.output, result.audio, result.sample_rate, overwrite=args.overwrite)
    meta = {
        "voice": args.voice,
        "speed": args.speed,
        "seconds": result.seconds,
        "alignment": result.alignment,
    }
    _write_word_files(args, result.words, meta)


def _say_file(args: argparse.Namespace, text: str) -> int:
    """The long-text path, resumable through ``OUTPUT.parts/``."""
    from tqdm import tqdm

    from .original.checkpoint import resolve_checkpoint
    from .original.chunking import plan_chunks
    from .original.long_text import synthesize_long
    from .original.mixing import resolve_voice
    from .original.resume import ChunkParts, parts_dir

    options = _chunk_options(args)
    chunks = list(plan_chunks(text, args.lang, options["max_phonemes"]))
    folder = parts_dir(args.output)
    parts = ChunkParts.for_run(
        folder,
        resolve_voice(args.voice),
        args.speed,
        args.seed,
        args.lang,
        resolve_checkpoint(args.checkpoint),
    )
    reused = sum(parts.path(c).is_file() for c in chunks)
    _log(args, f"{len(chunks)} chunks" + (f", {reused} already done in {folder}" if reused else ""))
    _log(args, "loading the model…")
    bar = tqdm(total=len(chunks), desc="speaking", unit="chunk", file=sys.stderr, disable=args.quiet)
    try:
        result = synthesize_long(chunks, parts=parts, progress=lambda _: bar.update(1), **options)
    except KeyboardInterrupt:
        bar.close()
        print(
            f"kokoro-lab: interrupted; {len(parts.used)} finished chunks are kept in {folder}. "
            "Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130
    bar.close()
    _write_outputs(args, result)
    if not args.keep_parts:
        parts.remove()
    _log(args, f"weights: {result.source.describe()}")
    _log(args, f"wrote {result.seconds:.2f} s of audio ({len(chunks)} chunks) to {args.output}")
    return 0


def _say_stream(args: argparse.Namespace, text: str) -> int:
    """Chunks to stdout as they are spoken: a WAV stream, or raw PCM with ``--raw``."""
    from .audio import pcm16, wav_header
    from .original.streaming import stream

    out = sys.stdout.buffer
    words, seconds, methods = [], 0.0, []
    _log(args, "loading the model…")
    pieces = stream(text, **_chunk_options(args))
    first = next(pieces)  # a bad text or voice fails here, before anything is written
    try:
        if not args.raw:
            out.write(wav_header())
        for piece in itertools.chain([first], pieces):
            out.write(pcm16(piece.audio))
            out.flush()
            words += piece.words
            seconds = piece.end / piece.sample_rate
            methods.append(piece.chunk.alignment.method)
    except BrokenPipeError:  # the player closed the pipe: stop quietly, with no flush error at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    meta = {"voice": args.voice, "speed": args.speed, "seconds": seconds, "alignment": methods}
    _write_word_files(args, words, meta)
    _log(args, f"streamed {seconds:.2f} s of audio")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run ``kokoro-lab say`` with parsed ``args``. → exit status."""
    _check_outputs(args)
    text = _text(args)
    if args.max_phonemes is not None and not (args.file or args.stream):
        raise ValueError("--max-phonemes applies to --file and --stream.")
    if args.stream:
        return _say_stream(args, text)
    if args.file is not None:
        if args.no_split:
            raise ValueError("--file always splits the text into chunks; drop --no-split.")
        return _say_file(args, text)
    return _say_text(args, text)
