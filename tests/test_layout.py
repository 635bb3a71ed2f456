"""The package layout: seed names, the rewrite's config and shape checks, and clean imports."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import kokoro_lab
from kokoro_lab import rewrite
from kokoro_lab.rewrite import RewriteConfig, SineGenDeterministic
from kokoro_lab.rewrite.shapes import check_shape

PACKAGE = Path(kokoro_lab.__file__).parent

SEED_NAMES = [
    "TextEncoderFixed",
    "TextEncoderPredictorFixed",
    "SineGenDeterministic",
    "SourceModuleHnNSFDeterministic",
    "GeneratorDeterministic",
    "KokoroCompleteCoreML",
    "create_alignment_matrix",
]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seed_names_are_importable_from_the_top_and_from_the_rewrite(name):
    assert getattr(kokoro_lab, name) is getattr(rewrite, name)
    assert name in kokoro_lab.__all__ and name in rewrite.__all__
    assert getattr(rewrite, name).__module__.startswith("kokoro_lab.rewrite.")
    assert tuple(SEED_NAMES) == rewrite.SEED_NAMES


def test_sine_gen_docstring_says_which_variant_it_is():
    doc = SineGenDeterministic.__doc__
    assert "v21" in doc and "faithful" in doc and "deterministic too" in doc


def test_rewrite_config_defaults_and_refusals():
    assert RewriteConfig() == RewriteConfig("exact", "faithful", "corrected")
    assert RewriteConfig().exact and not RewriteConfig(mode="v21").exact
    for field, bad in (("mode", "fast"), ("source", "noisy"), ("istft", "scipy")):
        with pytest.raises(ValueError, match=f"Unknown {field} '{bad}'; use "):
            RewriteConfig(**{field: bad})


def test_config_and_keywords_build_the_same_module():
    from kokoro_lab import load_kmodel

    model, _ = load_kmodel(disable_complex=True)
    by_config = kokoro_lab.KokoroCompleteCoreML(
        model, 16, 40, config=RewriteConfig(mode="v21", istft="kokoro")
    )
    by_keywords = kokoro_lab.KokoroCompleteCoreML(model, 16, 40, mode="v21", istft="kokoro")
    assert by_config.config == by_keywords.config == RewriteConfig("v21", "faithful", "kokoro")
    assert by_config.mode == "v21" and by_config.generator.istft == "kokoro"
    assert by_config.generator.m_source.variant == "faithful"
    # a keyword overrides the same field of the config
    mixed = kokoro_lab.KokoroCompleteCoreML(model, 16, 40, source="v21", config=RewriteConfig(mode="v21"))
    assert mixed.config == RewriteConfig("v21", "v21", "corrected")
    with pytest.raises(ValueError, match="Unknown mode 'fast'"):
        kokoro_lab.KokoroCompleteCoreML(model, 16, 40, mode="fast")


def test_shape_checks_fail_in_eager_mode_and_leave_no_trace_in_the_graph():
    with pytest.raises(AssertionError, match=r"x should have shape \[2, \*\], got \[3, 4\]"):
        check_shape(torch.zeros(3, 4), (2, None), "x")
    assert check_shape(torch.zeros(2, 4), (2, None), "x").shape == (2, 4)

    def f(x):
        return check_shape(x * 2, (5, 5), "y")

    traced = torch.jit.trace(f, torch.ones(5, 5))
    # the graph holds no check: another shape passes through it
    assert torch.equal(traced(torch.ones(3, 4)), torch.full((3, 4), 2.0))
    kinds = {node.kind() for node in traced.graph.nodes()}
    assert kinds == {"aten::mul", "prim::Constant"}


# Which part of the story may import which: nothing imports upward.
ALLOWED = {
    "original": {"original"},
    "rewrite": {"rewrite"},
    "quality": {"quality"},
    "coreml": {"coreml", "rewrite", "original", "quality"},
    "finetune": {"finetune", "rewrite", "original", "quality"},
    "transformer_tts": {"transformer_tts", "original"},
    "book": {"book", "original", "rewrite", "coreml", "quality"},
}
TOP_LEVEL = {"config", "atomic", "torch_files", "audio", "seeded_training"}


def _internal_imports(path: Path) -> set[str]:
    """The kokoro_lab subpackages or top-level modules that ``path`` imports."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    package = list(parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            target = [*base, *(node.module.split(".") if node.module else [])]
            if target:
                found.add(target[0])
            else:  # from .. import name
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kokoro_lab."):
            found.add(node.module.split(".")[1])
    return found


@pytest.mark.parametrize("subpackage", sorted(ALLOWED))
def test_subpackages_import_only_what_comes_before_them(subpackage):
    allowed = ALLOWED[subpackage] | TOP_LEVEL | {"__version__"}
    for path in (PACKAGE / subpackage).rglob("*.py"):
        bad = _internal_imports(path) - allowed
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_shared_ground_imports_no_subpackage():
    for name in TOP_LEVEL:
        assert _internal_imports(PACKAGE / f"{name}.py") <= TOP_LEVEL, name


def test_coremltools_imports_without_its_linux_notices():
    code = (
        "import logging\n"
        "from kokoro_lab.coreml.coremltools_import import load_coremltools\n"
        "ct = load_coremltools()\n"
        "logging.getLogger('coremltools').warning('other messages still show')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Failed to load" not in done.stderr and "has not been tested" not in done.stderr
    assert "other messages still show" in done.stderr
