"""The published book in headless Chromium: every chapter of _toc.yml renders without errors, shows its
images and audio, links only to pages and anchors that exist, and shows no traceback, warning, local
path or unrendered Markdown table. Screenshots go to _build/screenshots.

The browser tests skip when no browser or driver can be found (or KOKORO_LAB_SKIP_BROWSER=1), except
under CI=true, where Debian's chromium is installed when missing and nothing is skipped. The tests of
the page checks and of the browser discovery need no browser."""

import contextlib
import os
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from browser import (
    BROWSER_ENV,
    INSTALL_HINT,
    WINDOW,
    BrowserUnavailable,
    Chromium,
    LinkChecker,
    SkipBrowserChecks,
    Visitor,
    chromium_for_checks,
    find_browser,
    find_driver,
    in_ci,
    locate_chromium,
    page_problems,
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


def _note(config: pytest.Config, message: str) -> None:
    """Print `message` in pytest's output: fixtures' own output is captured and shown only on failure."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    disabled = getattr(capture, "global_and_fixture_disabled", contextlib.nullcontext)
    with disabled():
        if reporter is not None:
            reporter.write_line(message, yellow=True)
        else:
            sys.stderr.write(message + "\n")


@pytest.fixture(scope="session")
def chromium(request) -> Chromium:
    """The browser and driver for the checks. Outside CI, a missing one skips them (before the book is
    built); under CI=true they never skip: Debian's packages are installed, or the tests fail."""
    try:
        return chromium_for_checks(note=lambda message: _note(request.config, message))
    except SkipBrowserChecks as reason:
        pytest.skip(str(reason))
    except BrowserUnavailable as problem:
        pytest.fail(str(problem), pytrace=False)


@pytest.fixture(scope="session")
def built_book(chromium) -> Path:
    """_build/html, rebuilt with jupyter-book first when it is missing or older than a source. Asks for
    the browser first, so that a run without one skips before spending minutes on the build."""
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
def driver(chromium):
    from selenium.common.exceptions import WebDriverException

    with tempfile.TemporaryDirectory(prefix="kokoro-lab-chromium-") as profile:
        try:
            browser = start_chromium(chromium, Path(profile))
        except WebDriverException as error:
            # Found but not started, most often a driver whose version does not match the browser.
            pytest.fail(
                f"{chromium.driver} could not start {chromium.browser}: {' '.join(str(error).split())[:500]}",
                pytrace=False,
            )
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


@pytest.mark.browser
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


@pytest.mark.browser
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_page_text_is_clean(pages, chapter):
    """The visible text shows no traceback, no Python warning, no path of the machine that built the
    book and no Markdown table left as pipes."""
    page = pages.visit(chapter)
    problems = page_problems(page.body_text)
    assert not problems, f"{chapter} ({page.url}):\n" + "\n".join(problems)


@pytest.mark.browser
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_screenshot_kept(pages, chapter):
    """A PNG screenshot of the whole chapter, at least 1280×2000, is kept in _build/screenshots."""
    page = pages.visit(chapter)
    data = page.screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{page.screenshot} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= WINDOW[0] and height >= WINDOW[1], f"{page.screenshot}: {width}×{height}"


@pytest.mark.browser
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


@pytest.mark.browser
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


@pytest.mark.browser
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_internal_links_resolve(pages, links, chapter):
    """Every same-site link on the chapter leads to a page served with 200 that has the linked #anchor."""
    page = pages.visit(chapter)
    broken = links.problems(page.links)
    assert not broken, f"{page.url}: broken links:\n" + "\n".join(broken)


FIGURE_CALL = re.compile(r"\bplot_\w+\(|plt\.subplots\(")


@pytest.mark.browser
@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if source_file(ROOT, c).suffix == ".ipynb"])
def test_figures_reach_the_page(pages, chapter):
    """Every code cell that draws a figure has a rendered figure image on the page."""
    import json

    cells = json.loads(source_file(ROOT, chapter).read_text(encoding="utf-8"))["cells"]
    drawing = sum(1 for c in cells if c["cell_type"] == "code" and FIGURE_CALL.search("".join(c["source"])))
    page = pages.visit(chapter)
    figures = [img for img in page.images if "/_images/" in img["src"] and img["naturalWidth"] > 0]
    assert len(figures) >= drawing, f"{page.url}: {drawing} cells draw figures, {len(figures)} figures shown"


# ------------------------------------------------------------------ the page checks, without a browser

# What Chromium's innerText gives for a clean chapter: a rendered table is tab-separated cells.
CLEAN_PAGE = """Anatomy of Kokoro-82M
The cache lives in ~/.cache/kokoro_lab (KOKORO_LAB_CACHE moves it).
module\tparameters\tshare
bert\t6,292,480\t0.0770
decoder\t53,282,788\t0.6515
print("finite:", ok, "| max error vs float32:", err)
finite: True | max error vs float32: 0.001
Warning
Converting takes a minute; the either|or of the two paths is explained below.
"""


def test_clean_page_passes():
    assert page_problems(CLEAN_PAGE) == []


def test_table_source_in_code_is_not_flagged():
    """A code cell that builds a table from a string shows "\\n|---|" inside that string."""
    code = 'from IPython.display import Markdown\nMarkdown("| a | b |\\n|---|---|\\n| 1 | 2 |")'
    assert page_problems(code) == []


def test_rendered_table_is_not_flagged():
    """A real <table>'s visible text has no pipes, whatever its cells hold."""
    table = "voice\tseconds\tRTF\njf_alpha\t1.23\t0.1500\njm_kumo\t2.05\t0.2100"
    assert page_problems(f"Results\n{table}\nThe end.") == []


def test_traceback_is_caught():
    text = (
        "Out:\n---------------------------------------------------------------------------\n"
        "ValueError                                Traceback (most recent call last)\n"
        "Cell In[3], line 1\n----> 1 raise ValueError('bad')"
    )
    problems = page_problems(text)
    assert any(
        p.startswith("a Python traceback:") and "Traceback (most recent call last)" in p for p in problems
    )


@pytest.mark.parametrize("kind", ["UserWarning", "RuntimeWarning", "FutureWarning", "DeprecationWarning"])
def test_python_warning_is_caught(kind):
    text = f"Loading\nlibrary/module.py:57: {kind}: dropout option adds dropout\n  warnings.warn(\nDone."
    problems = page_problems(text)
    assert len(problems) == 1 and problems[0].startswith("a Python warning:")
    assert f"{kind}: dropout" in problems[0]


@pytest.mark.parametrize(
    "path",
    [
        "/root/.cache/kokoro_lab/kokoro-v1_0-rebuilt.pth",
        "/home/alice/kokoro-lab/notebooks",
        "/Users/bob/kokoro-lab/notebooks",
        "/opt/conda/lib/python3.11/site-packages/torch/nn/modules/module.py",
        "/github/home/.cache/kokoro_lab/voices",
        "/tmp/tmpq1w2e3/out.wav",
    ],
)
def test_machine_path_is_caught(path):
    problems = page_problems(f"weights: fp32 rebuild of the int8 ONNX export: {path} (cached)")
    assert problems and all(p.startswith("a home, cache or temporary path:") for p in problems)
    assert path[:20] in problems[0]


@pytest.mark.parametrize(
    "text",
    [
        "| a | b |\n|---|---|\n| 1 | 2 |",  # the Markdown source as it was printed
        "| a | b | |—|—| | 1 | 2 |",  # a CommonMark paragraph: lines joined, "---" made an em dash
        "voice | seconds |---|---| jf_alpha | 1.2",  # a separator row inside a paragraph
        "Results:\n| path | RTF |\n| :---: | ---: |",
    ],
)
def test_unrendered_table_is_caught(text):
    problems = page_problems(f"Before.\n{text}\nAfter.")
    assert problems and all(p.startswith("an unrendered Markdown table:") for p in problems)


@pytest.mark.parametrize(
    "text", ["<Axes: title={'center': 'F0'}, xlabel='s'>", "<Figure size 700x360 with 1 Axes>"]
)
def test_plot_return_value_shown_as_text_is_caught(text):
    (problem,) = page_problems(f"A plot.\n{text}\nAfter.")
    assert problem.startswith("a matplotlib object's repr:")


def test_problem_quotes_the_snippet_on_one_line():
    text = "x" * 200 + "\nsrc/file.py:1: UserWarning: careful\n" + "y" * 200
    (problem,) = page_problems(text)
    snippet = problem.partition(": ")[2]
    assert "\n" not in snippet and "UserWarning: careful" in snippet and len(snippet) < 120


# --------------------------------------------------------------- finding the browser, without a browser


def _fake(folder: Path, name: str) -> Path:
    """An executable script named `name` in `folder`."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def _no_manager(browser: Path) -> Path:
    raise BrowserUnavailable(f"no chromedriver on PATH, and Selenium Manager found none for {browser}")


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    "names, expected",
    [
        (["google-chrome", "chromium"], "chromium"),  # Chromium first: Debian's chromedriver matches it
        (["google-chrome-stable", "chromium-browser"], "chromium-browser"),
        (["google-chrome-stable"], "google-chrome-stable"),
    ],
)
def test_browser_found_on_path(bin_dir, tmp_path, names, expected):
    for name in names:
        _fake(bin_dir, name)
    found = find_browser({"PATH": str(bin_dir)}, platform="linux", home=tmp_path)
    assert found == bin_dir / expected


def test_browser_on_path_must_be_executable(bin_dir, tmp_path):
    (bin_dir / "chromium").write_text("not a program")
    with pytest.raises(BrowserUnavailable, match="no browser found"):
        find_browser({"PATH": str(bin_dir)}, platform="linux", home=tmp_path)


def test_no_browser_names_the_candidates(bin_dir, tmp_path):
    with pytest.raises(BrowserUnavailable, match="chromium, chromium-browser, google-chrome"):
        find_browser({"PATH": str(bin_dir)}, platform="linux", home=tmp_path)


def test_env_var_names_the_browser(bin_dir, tmp_path):
    _fake(bin_dir, "chromium")
    chosen = _fake(tmp_path / "elsewhere", "my-chrome")
    env = {"PATH": str(bin_dir), BROWSER_ENV: str(chosen)}
    assert find_browser(env, platform="linux", home=tmp_path) == chosen
    # A bare name is looked up on PATH.
    _fake(bin_dir, "brave-browser")
    env = {"PATH": str(bin_dir), BROWSER_ENV: "brave-browser"}
    assert find_browser(env, platform="linux", home=tmp_path) == bin_dir / "brave-browser"


def test_env_var_naming_nothing_fails_without_fallback(bin_dir, tmp_path):
    _fake(bin_dir, "chromium")
    env = {"PATH": str(bin_dir), BROWSER_ENV: str(tmp_path / "missing-chrome")}
    with pytest.raises(BrowserUnavailable, match=BROWSER_ENV):
        find_browser(env, platform="linux", home=tmp_path)


def test_macos_applications(bin_dir, tmp_path, monkeypatch):
    import browser

    system_apps = tmp_path / "Applications-system"
    monkeypatch.setattr(browser, "MACOS_APP_FOLDERS", (str(system_apps), "~/Applications"))
    _fake(bin_dir, "chromium")
    chromium_app = _fake(tmp_path / "Applications", "Chromium.app/Contents/MacOS/Chromium")
    env = {"PATH": str(bin_dir)}
    # ~/Applications comes before PATH on macOS, and is ignored elsewhere.
    assert find_browser(env, platform="darwin", home=tmp_path) == chromium_app
    assert find_browser(env, platform="linux", home=tmp_path) == bin_dir / "chromium"
    # /Applications before ~/Applications, and Google Chrome before Chromium.
    chrome = _fake(system_apps, "Google Chrome.app/Contents/MacOS/Google Chrome")
    assert find_browser(env, platform="darwin", home=tmp_path) == chrome


def test_driver_on_path_is_preferred(bin_dir, tmp_path):
    browser_path = _fake(bin_dir, "chromium")
    driver = _fake(bin_dir, "chromedriver")
    found = locate_chromium({"PATH": str(bin_dir)}, platform="linux", home=tmp_path, manager=_no_manager)
    assert found == Chromium(browser_path, driver)


def test_driver_from_selenium_manager(bin_dir, tmp_path):
    browser_path = _fake(bin_dir, "google-chrome")
    cached = _fake(tmp_path / "selenium-cache", "chromedriver")
    asked = []

    def manager(browser: Path) -> Path:
        asked.append(browser)
        return cached

    assert find_driver(browser_path, {"PATH": str(bin_dir)}, manager=manager) == cached
    assert asked == [browser_path]


def test_selenium_manager_failure_is_caught(bin_dir, tmp_path, monkeypatch):
    """Offline and with an empty cache, the real Selenium Manager finds no driver: BrowserUnavailable."""
    _fake(bin_dir, "chromium")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("SE_CACHE_PATH", str(tmp_path / "selenium-cache"))
    with pytest.raises(BrowserUnavailable, match="Selenium Manager found none"):
        locate_chromium(platform="linux", home=tmp_path)


@pytest.mark.parametrize(
    "value, expected",
    [("true", True), ("1", True), ("TRUE", True), ("false", False), ("0", False), ("", False)],
)
def test_in_ci(value, expected):
    assert in_ci({"CI": value}) is expected


# --------------------------------------------------------- skip outside CI, never skip under CI=true


class _Calls:
    """Fake locate/install/note that record how often they were used."""

    def __init__(self, found: list[Chromium | None], install_error: str | None = None) -> None:
        self.found = found
        self.install_error = install_error
        self.located = self.installed = 0
        self.notes: list[str] = []

    def locate(self) -> Chromium:
        result = self.found[min(self.located, len(self.found) - 1)]
        self.located += 1
        if result is None:
            raise BrowserUnavailable("no browser found (chromium on PATH)")
        return result

    def install(self) -> str | None:
        self.installed += 1
        return self.install_error

    def run(self, env: dict[str, str]) -> Chromium:
        return chromium_for_checks(env, locate=self.locate, install=self.install, note=self.notes.append)


FOUND = Chromium(Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver"))


def test_outside_ci_a_missing_browser_skips_with_what_to_install():
    calls = _Calls([None])
    with pytest.raises(SkipBrowserChecks) as skipped:
        calls.run({})
    assert INSTALL_HINT in str(skipped.value) and "apt-get install chromium chromium-driver" in INSTALL_HINT
    assert calls.installed == 0


def test_outside_ci_the_opt_out_skips_before_looking():
    calls = _Calls([FOUND])
    with pytest.raises(SkipBrowserChecks, match="KOKORO_LAB_SKIP_BROWSER=1"):
        calls.run({"KOKORO_LAB_SKIP_BROWSER": "1"})
    assert calls.located == 0


def test_outside_ci_a_present_browser_is_used():
    assert _Calls([FOUND]).run({"CI": "false"}) == FOUND


def test_in_ci_the_opt_out_is_ignored_with_a_note():
    calls = _Calls([FOUND])
    assert calls.run({"CI": "true", "KOKORO_LAB_SKIP_BROWSER": "1"}) == FOUND
    assert any("ignored" in note for note in calls.notes)


def test_in_ci_a_missing_browser_is_installed():
    calls = _Calls([None, FOUND])
    assert calls.run({"CI": "1"}) == FOUND
    assert calls.installed == 1


def test_in_ci_a_failed_install_fails_loudly():
    calls = _Calls([None], install_error="installing ['chromium', 'chromium-driver'] with apt-get needs root")
    with pytest.raises(BrowserUnavailable, match="CI=true.*needs root"):
        calls.run({"CI": "true"})


def test_in_ci_an_install_that_gives_no_browser_fails():
    calls = _Calls([None, None])
    with pytest.raises(BrowserUnavailable, match="still"):
        calls.run({"CI": "true"})
    assert calls.installed == 1
