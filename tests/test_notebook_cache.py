"""nbval's run of a notebook feeds the book's jupyter-cache, so no chapter is executed twice."""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, cells: list[tuple[str, list[str]]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter")]
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return nb


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two notebooks run through nbval with the project's conftest in a scratch project."""
    root = tmp_path_factory.mktemp("book")
    shutil.copy(ROOT / "conftest.py", root / "conftest.py")
    good = _notebook(
        root / "good.ipynb",
        [
            ("import ipywidgets as w\nslider = w.IntSlider(value=3)\nslider", []),
            ("print('hello')\nfrom IPython.display import Markdown\nMarkdown('| a |\\n|---|\\n| 1 |')", []),
            ("raise RuntimeError('macOS only')", ["skip-execution", "nbval-skip"]),
            ("assert 1 + 1 == 2", []),
            ("x = 41\nx + 1;", []),  # a trailing ; hides the value, as in Jupyter
        ],
    )
    bad = _notebook(root / "bad.ipynb", [("x = 1", []), ("assert x == 2, 'the claim broke'", [])])
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(root),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return root, good, bad, done


def test_a_notebook_that_passes_is_cached_with_its_outputs(run):
    root, good, _, done = run
    assert "1 failed" in done.stdout and "5 passed" in done.stdout and "1 skipped" in done.stdout, done.stdout
    cache = get_cache(str(root / "_build" / ".jupyter_cache"))
    _, merged = cache.merge_match_into_notebook(good)
    code = [c for c in merged.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, None, 3, 4]
    assert code[4].outputs == []
    assert code[0].outputs[0].output_type == "execute_result"
    assert "application/vnd.jupyter.widget-view+json" in code[0].outputs[0].data
    assert [o.output_type for o in code[1].outputs] == ["stream", "execute_result"]
    assert code[1].outputs[0].text == "hello\n" and code[1].outputs[1].data["text/markdown"].startswith(
        "| a |"
    )
    assert code[2].outputs == []  # skip-execution: the book leaves it unrun too
    # the slider's state travels with the notebook, as nbclient would store it
    state = merged.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(s["model_name"] == "IntSliderModel" and s["state"]["value"] == 3 for s in state.values())


def test_a_notebook_whose_check_fails_is_not_cached(run):
    root, _, bad, _ = run
    cache = get_cache(str(root / "_build" / ".jupyter_cache"))
    with pytest.raises(KeyError):
        cache.match_cache_notebook(bad)
