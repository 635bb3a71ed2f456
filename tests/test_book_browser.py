"""The published book in headless Chromium: every chapter of _toc.yml renders without errors, shows its
images and audio, and links only to pages and anchors that exist. Screenshots go to _build/screenshots."""

import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from browser import (
    WINDOW,
    LinkChecker,
    Visitor,
    install_chromium,
    serve,
    source_bytes,
    source_file,
    stale_reason,
    start_chromium,
    toc_chapters,
)

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
BUILD_LOG = ROOT / "_build" / "book-build.log"
CHAPTERS = toc_chapters(ROOT / "_toc.yml")
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|\b\w*(Error|Exception)\b")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        os.environ.get("KOKORO_LAB_SKIP_BROWSER") == "1",
        reason="KOKORO_LAB_SKIP_BROWSER=1: the browser checks of the built book are switched off",
    ),
]


@pytest.fixture(scope="session")
def built_book() -> Path:
    """_build/html, rebuilt with jupyter-book first when it is missing or older than a source."""
    reason = stale_reason(ROOT, HTML, CHAPTERS)
    if reason is None:
        return HTML
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    env = {**os.environ, "KOKORO_LAB_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    # With MPLBACKEND set, ipykernel keeps that backend instead of the inline one and no figure
    # reaches the book.
    env.pop("MPLBACKEND", None)
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    with BUILD_LOG.open("w", encoding="utf-8") as log:
        log.write(f"rebuilding the book: {reason}\n")
        log.flush()
        done = subprocess.run(
            [str(jupyter_book), "build", ".", "--warningiserror", "--keep-going"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(BUILD_LOG.read_text(encoding="utf-8", errors="replace").splitlines()[-60:])
        pytest.fail(
            f"jupyter-book build failed (exit {done.returncode}), log {BUILD_LOG}:\n{tail}", pytrace=False
        )
    still = stale_reason(ROOT, HTML, CHAPTERS)
    if still is not None:
        pytest.fail(f"jupyter-book build succeeded but the book is incomplete: {still}", pytrace=False)
    return HTML


@pytest.fixture(scope="module")
def site(built_book):
    with serve(built_book) as base:
        yield base


@pytest.fixture(scope="module")
def driver():
    problem = install_chromium()
    if problem is not None:
        pytest.fail(
            f"headless Chromium is not available: {problem}\n"
            "Install Debian's chromium and chromium-driver, or set KOKORO_LAB_SKIP_BROWSER=1 to skip.",
            pytrace=False,
        )
    with tempfile.TemporaryDirectory(prefix="kokoro-lab-chromium-") as profile:
        browser = start_chromium(Path(profile))
        try:
            yield browser
        finally:
            browser.quit()


@pytest.fixture(scope="module")
def pages(driver, site) -> Visitor:
    return Visitor(driver, site, SCREENSHOTS)


@pytest.fixture(scope="module")
def links(site) -> LinkChecker:
    return LinkChecker(site)


def test_toc_entries_have_sources():
    """Every chapter named in _toc.yml has a source file, so the list of pages checked is complete."""
    assert CHAPTERS, "_toc.yml names no chapter"
    assert not [c for c in CHAPTERS if source_file(ROOT, c) is None]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_renders(pages, site, chapter):
    """The chapter is served with 200 and shows a title and an article, with no error output."""
    page = pages.visit(chapter)
    assert page.status == 200, f"{page.url}: HTTP {page.status}"
    assert page.title, f"{page.url}: no <h1>"
    assert len(page.article_text) > len(page.title), f"{page.url}: the article holds only its title"
    assert not page.error_outputs, f"{page.url}: error output shown: {page.error_outputs}"
    assert "Traceback (most recent call last)" not in page.body_text, f"{page.url}: a traceback is shown"
    bad_stderr = [s[:300] for s in page.stderr if ERROR_TEXT.search(s)]
    assert not bad_stderr, f"{page.url}: stderr output with an error: {bad_stderr}"
    failed = [
        r
        for r in page.resources
        if r["url"].startswith(site) and r["url"] != f"{site}favicon.ico" and r["status"] not in (200, 304)
    ]  # /favicon.ico is the browser's own probe, which the book does not declare
    assert not failed, f"{page.url}: resources that did not load: {failed}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_screenshot_kept(pages, chapter):
    """A PNG screenshot of the whole chapter, at least 1280×2000, is kept in _build/screenshots."""
    page = pages.visit(chapter)
    data = page.screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{page.screenshot} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= WINDOW[0] and height >= WINDOW[1], f"{page.screenshot}: {width}×{height}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_images_load(pages, chapter):
    """Every <img> on the chapter has finished loading and has a non-zero natural width."""
    page = pages.visit(chapter)
    broken = [
        f"{img['src'][:120]} (alt {img['alt']!r})"
        for img in page.images
        if not (img["complete"] and img["naturalWidth"] > 0)
    ]
    assert not broken, f"{page.url}: images that did not load: {broken}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_audio_has_source(pages, chapter):
    """Every <audio> has a non-empty source that the browser reads as sound with a duration."""
    page = pages.visit(chapter)
    problems = []
    for number, audio in enumerate(page.audio, 1):
        src = audio["currentSrc"] or next(iter(audio["sources"]), "")
        if not src:
            problems.append(f"audio #{number}: no source")
            continue
        size = len(source_bytes(src))
        if size <= 44:  # a WAV header alone is 44 bytes
            problems.append(f"audio #{number}: source {src[:80]} is empty or unreachable ({size} bytes)")
        if audio["error"] is not None or audio["readyState"] < 1 or not (audio["duration"] or 0) > 0:
            problems.append(
                f"audio #{number}: the browser cannot read {src[:80]} "
                f"(error {audio['error']}, readyState {audio['readyState']}, duration {audio['duration']})"
            )
    assert not problems, f"{page.url}: {problems}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_internal_links_resolve(pages, links, chapter):
    """Every same-site link on the chapter leads to a page served with 200 that has the linked #anchor."""
    page = pages.visit(chapter)
    broken = links.problems(page.links)
    assert not broken, f"{page.url}: broken links:\n" + "\n".join(broken)


FIGURE_CALL = re.compile(r"\bplot_\w+\(|plt\.subplots\(")


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if source_file(ROOT, c).suffix == ".ipynb"])
def test_figures_reach_the_page(pages, chapter):
    """Every code cell that draws a figure has a rendered figure image on the page."""
    import json

    cells = json.loads(source_file(ROOT, chapter).read_text(encoding="utf-8"))["cells"]
    drawing = sum(1 for c in cells if c["cell_type"] == "code" and FIGURE_CALL.search("".join(c["source"])))
    page = pages.visit(chapter)
    figures = [img for img in page.images if "/_images/" in img["src"] and img["naturalWidth"] > 0]
    assert len(figures) >= drawing, f"{page.url}: {drawing} cells draw figures, {len(figures)} figures shown"
