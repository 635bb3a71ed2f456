"""Execution time of every chapter notebook, run as the book build runs them.

    .venv/bin/python bench/book_times.py             # ~15 min on 2 cores
    .venv/bin/python bench/book_times.py notebooks/04_prosody.ipynb         # some chapters only

Each notebook is executed in a fresh kernel with ``nbclient`` (as jupyter-book does), offline
(``KOKORO_LAB_OFFLINE=1``, ``HF_HUB_OFFLINE=1``), from the ``notebooks/`` directory, with the
book's timeout. Nothing is written back to the notebooks. Writes ``bench/results/book.json``;
when only some notebooks are given, the other rows of an earlier file are kept.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from kokoro_lab.benchmarking import load_results, machine_info, print_table, write_results

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 900  # seconds per cell, as _config.yml's execute.timeout


def run_notebook(path: Path, timeout: int = TIMEOUT) -> tuple[float, str | None]:
    """Execute ``path`` in a fresh kernel. → (wall seconds, error message or None)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    try:
        client.execute()
        error = None
    except Exception as err:  # a failing chapter is recorded, the others still run
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
    return time.perf_counter() - start, error


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    parser.add_argument("--timeout", type=int, default=TIMEOUT)
    parser.add_argument("--results-dir", type=Path, default=None, help="default: bench/results")
    args = parser.parse_args()
    os.environ["KOKORO_LAB_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("MPLBACKEND", "Agg")
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")

    rows = []
    for path in paths:
        print(f"{path.name} …", end=" ", flush=True)
        seconds, error = run_notebook(path, args.timeout)
        print(f"{seconds:.0f} s" + (f"  FAILED {error}" if error else ""), flush=True)
        rows.append({"notebook": path.name, "seconds": seconds, "ok": error is None, "error": error})
    if args.notebooks:  # keep the earlier rows of the chapters not run now
        earlier = load_results("book", directory=args.results_dir, required=False)
        if earlier is not None:
            done = {r["notebook"] for r in rows}
            rows = sorted(
                [*[r for r in earlier["rows"] if r["notebook"] not in done], *rows],
                key=lambda r: r["notebook"],
            )
    total = sum(r["seconds"] for r in rows)
    print_table(rows, {"notebook": "notebook", "seconds": "seconds", "ok": "ok"}, digits=0)
    print(f"total {total:.0f} s over {len(rows)} notebooks")
    path = write_results(
        "book",
        rows,
        {"timeout_s": args.timeout, "executor": "nbclient, one fresh kernel per notebook", "offline": True},
        machine=machine_info(),
        directory=args.results_dir,
        extra={"total_seconds": total},
    )
    print("wrote", path)


if __name__ == "__main__":
    main()
