"""Finished chunks kept on disk, so an interrupted long synthesis resumes where it stopped.

``kokoro-lab say --file book.txt -o book.wav`` keeps each chunk it has spoken in
``book.wav.parts/<key>.npz`` (the audio and the durations). The key is a SHA-256 of everything
the chunk's audio depends on: its text and phonemes, the voice pack's bytes (so a mix or an
edited ``.pt`` file is a different voice), the speed, the seed, the language and the checkpoint
(path, size and modification time). Every chunk is synthesized from the same seed, so its audio
depends on nothing else, and a part found under its key is reused as is. Parts are written
atomically (a partly written part never exists under its key); after the WAV is written the
parts this run used are deleted, and the folder with them if nothing else is in it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from .checkpoint import CheckpointSource
from .chunking import Chunk


def parts_dir(output: str | os.PathLike) -> Path:
    """Where the parts of ``output`` are kept: ``<output>.parts/`` next to it."""
    output = Path(output)
    return output.with_name(output.name + ".parts")


@dataclass
class ChunkParts:
    """A folder of finished chunks for one voice, speed, seed, language and checkpoint."""

    directory: Path
    settings: str  # JSON of what every chunk shares; part of each key
    used: set[Path]

    @classmethod
    def for_run(
        cls,
        directory: str | os.PathLike,
        pack: torch.Tensor,
        speed: float,
        seed: int,
        lang: str,
        source: CheckpointSource,
    ) -> ChunkParts:
        """Parts in ``directory`` (created when missing) for these synthesis settings."""
        path = Path(source.path).resolve()
        stat = path.stat()
        settings = {
            "voice_sha256": hashlib.sha256(
                pack.detach().cpu().float().contiguous().numpy().tobytes()
            ).hexdigest(),
            "speed": float(speed),
            "seed": int(seed),
            "lang": lang,
            "checkpoint": [str(path), stat.st_size, stat.st_mtime_ns],
        }
        directory = Path(directory)
        directory.mkdir(exist_ok=True)
        return cls(directory, json.dumps(settings, sort_keys=True), set())

    def path(self, chunk: Chunk) -> Path:
        """The part file of ``chunk``."""
        key = json.dumps([self.settings, chunk.text, chunk.phonemes])
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"

    def load(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray] | None:
        """(audio [T] float32, durations [L] int64) of a finished chunk, or None."""
        path = self.path(chunk)
        if not path.is_file():
            return None
        try:
            with np.load(path) as part:
                audio, durations = part["audio"], part["durations"]
        except (OSError, ValueError, KeyError):  # unreadable: synthesize it again
            return None
        self.used.add(path)
        return audio.astype(np.float32), durations.astype(np.int64)

    def save(self, chunk: Chunk, audio: np.ndarray, durations: np.ndarray) -> None:
        """Keep a finished chunk (atomically)."""
        path = self.path(chunk)
        with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as f:
            np.savez(f, audio=np.asarray(audio, np.float32), durations=np.asarray(durations, np.int64))
        self.used.add(path)

    def remove(self) -> None:
        """Delete the parts this run used, and the folder if that leaves it empty."""
        for path in self.used:
            path.unlink(missing_ok=True)
        self.used.clear()
        try:
            self.directory.rmdir()
        except OSError:  # something else is in it: leave it
            pass
