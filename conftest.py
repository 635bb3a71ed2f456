"""Run every notebook once: nbval's execution also feeds the book's jupyter-cache.

``pytest --nbval-lax notebooks`` executes each chapter and fails on any broken ``assert``. When
every cell of a chapter has run (cells tagged ``skip-execution`` excepted, which the book does not
run either), its outputs and widget state are stored in ``_build/.jupyter_cache``, the cache that
``jupyter-book build`` (``execute_notebooks: cache``) reads. The browser tests, which build the
book, run after the notebooks and find every chapter there, so no chapter runs twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from queue import Empty

import pytest

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / "_build" / ".jupyter_cache"  # where jupyter-book 1 puts it for _build/html

# Asks the kernel for the state of every widget it holds, as nbclient stores it in the notebook.
_WIDGET_STATE = """
import json as _json
try:
    from ipywidgets import Widget as _W
    _state = _W.get_manager_state(drop_defaults=False)
except Exception:
    _state = None
print(_json.dumps(_state))
"""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: notebooks, the built book and Core ML conversions")
    _run_cells_as_a_notebook_does()


def _run_cells_as_a_notebook_does() -> None:
    """nbval runs cells with ``store_history=False``; IPython then cannot see a cell's trailing
    ``;`` and displays the value it should hide. Run them as Jupyter and nbclient do."""
    try:
        from nbval.kernel import RunningKernel
    except ImportError:  # nbval not installed: no notebooks to run
        return

    def execute_cell_input(self, cell_input, allow_stdin=None):
        return self.kc.execute(cell_input, store_history=True, allow_stdin=allow_stdin, stop_on_error=False)

    RunningKernel.execute_cell_input = execute_cell_input


def pytest_collection_modifyitems(config, items):
    """Notebooks and the built book are ``slow``; browser tests run last, on what was cached."""
    for item in items:
        if _is_nbval_cell(item) or item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


class _Run:
    """The outputs of one notebook's cells, as nbval collected them."""

    def __init__(self):
        self.outputs: dict[int, list] = {}
        self.complete = True
        self.seconds = 0.0


_runs: dict[str, _Run] = {}


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    start = time.perf_counter()
    outcome = yield
    if not _is_nbval_cell(item):
        return
    run = _runs.setdefault(str(item.parent.fspath), _Run())
    run.seconds += time.perf_counter() - start
    if outcome.excinfo is None:  # failures and skips are judged in the report below
        run.outputs[item.cell_num] = item.test_outputs or []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if not _is_nbval_cell(item) or call.when != "call":
        return
    report = outcome.get_result()
    tags = item.cell.metadata.get("tags", [])
    if report.skipped and "skip-execution" not in tags:
        _runs.setdefault(str(item.parent.fspath), _Run()).complete = False  # the book would run it
    if report.failed:
        _runs.setdefault(str(item.parent.fspath), _Run()).complete = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """After a notebook's last cell, while its kernel still runs: cache the executed notebook."""
    if not _is_nbval_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
    path = str(item.parent.fspath)
    run = _runs.pop(path, None)
    if run is None or not run.complete:
        return
    kernel = item.parent.kernel
    if kernel is None or not kernel.is_alive():
        return
    widgets = _kernel_widget_state(kernel)
    _cache_notebook(Path(path), run, widgets)


def _kernel_widget_state(kernel) -> dict | None:
    """The kernel's widget state, or None when it holds no widgets."""
    msg_id = kernel.execute_cell_input(_WIDGET_STATE, allow_stdin=False)
    kernel.await_reply(msg_id, timeout=60)
    text = ""
    while True:
        try:
            msg = kernel.get_message("iopub", timeout=10)
        except Empty:
            break
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    try:
        state = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return state if state and state.get("state") else None


def _cache_notebook(path: Path, run: _Run, widgets: dict | None) -> None:
    """Store ``path`` with nbval's outputs in the book's jupyter-cache."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    nb = nbformat.read(path, as_version=4)
    count = 0
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells):
        if i not in run.outputs:  # skip-execution: the book leaves it unrun too
            cell.outputs, cell.execution_count = [], None
            continue
        count += 1
        cell.execution_count = count
        cell.outputs = [_output(o, count) for o in run.outputs[i]]
    if widgets:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": widgets}
    CACHE.mkdir(parents=True, exist_ok=True)
    bundle = CacheBundleIn(nb, str(path), data={"execution_seconds": run.seconds})
    get_cache(str(CACHE)).cache_notebook_bundle(bundle, check_validity=False, overwrite=True)


def _output(out, count: int):
    """An nbval output as a notebook output node."""
    import nbformat

    kind = out["output_type"]
    if kind == "stream":
        return nbformat.v4.new_output("stream", name=out["name"], text=out["text"])
    if kind == "error":
        return nbformat.v4.new_output(
            "error", ename=out["ename"], evalue=out["evalue"], traceback=out["traceback"]
        )
    if kind == "execute_result":
        return nbformat.v4.new_output(
            "execute_result", data=out["data"], metadata=out.get("metadata", {}), execution_count=count
        )
    return nbformat.v4.new_output("display_data", data=out["data"], metadata=out.get("metadata", {}))
