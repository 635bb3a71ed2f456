"""Helpers for the browser test: the chapters of _toc.yml, a local server for the built book, checks
of a page's visible text, and a headless Chromium (or Chrome) driven by Selenium without any network
access."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag

import yaml

BROWSER_ENV = "KOKORO_LAB_BROWSER"  # names the browser binary (a path or a name on PATH)
SKIP_ENV = "KOKORO_LAB_SKIP_BROWSER"  # "1" skips the browser checks, outside CI only
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MACOS_APPS = ("Google Chrome.app/Contents/MacOS/Google Chrome", "Chromium.app/Contents/MacOS/Chromium")
MACOS_APP_FOLDERS = ("/Applications", "~/Applications")
DRIVER_NAME = "chromedriver"
APT_PACKAGES = ["chromium", "chromium-driver"]
INSTALL_HINT = (
    "install Chromium and chromedriver: `sudo apt-get install chromium chromium-driver` on Debian "
    "(`chromium-browser chromium-chromedriver` on Ubuntu), or Google Chrome on macOS with "
    "`brew install chromedriver` (or SE_OFFLINE=false, so that Selenium Manager downloads the driver); "
    f"set {BROWSER_ENV}=/path/to/browser for another location; or set {SKIP_ENV}=1"
)
SOURCE_SUFFIXES = (".md", ".ipynb", ".rst", ".myst", ".markdown")
WINDOW = (1280, 2000)
MAX_SCREENSHOT_HEIGHT = 16_000  # Chromium's limit for one capture is 16,384 px

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=MediaRouter,OptimizationHints,Translate",
    # Only the local server can be reached: every other host fails at once instead of waiting for a
    # network this machine may not have (the theme loads MathJax from a CDN).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]


# ---------------------------------------------------------------------------------------------- the book


def toc_chapters(toc_path: Path) -> list[str]:
    """The document names of _toc.yml in reading order: the root, then every file entry, nested or not."""
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    root = toc_path.parent
    names: list[str] = [_docname(toc["root"])]

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "file" in node:
                names.append(_docname(node["file"]))
            if "glob" in node:
                names.extend(_glob(root, node["glob"]))
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                walk(node.get(key))

    walk({k: v for k, v in toc.items() if k != "root"})
    return list(dict.fromkeys(names))


def _docname(entry: str) -> str:
    entry = entry.strip().strip("/")
    for suffix in SOURCE_SUFFIXES:
        if entry.endswith(suffix):
            return entry[: -len(suffix)]
    return entry


def _glob(root: Path, pattern: str) -> list[str]:
    found = {
        p.relative_to(root).with_suffix("").as_posix()
        for s in SOURCE_SUFFIXES
        for p in root.glob(pattern + s)
    }
    return sorted(found)


def source_file(root: Path, docname: str) -> Path | None:
    """The source file of a document name (book/intro → book/intro.md), or None when there is none."""
    for suffix in SOURCE_SUFFIXES:
        path = root / f"{docname}{suffix}"
        if path.is_file():
            return path
    return None


def stale_reason(root: Path, html: Path, chapters: list[str]) -> str | None:
    """Why the built book in `html` must be rebuilt, or None when it is newer than all its sources."""
    pages = [html / f"{chapter}.html" for chapter in chapters]
    missing = [page for page in pages if not page.is_file()]
    if missing:
        return f"{missing[0].relative_to(root)} does not exist"
    stamps = [page.stat().st_mtime for page in pages]
    if (html / ".buildinfo").is_file():  # rewritten by every Sphinx build
        stamps.append((html / ".buildinfo").stat().st_mtime)
    built = max(stamps)
    sources = [root / "_config.yml", root / "_toc.yml"]
    sources += [path for chapter in chapters if (path := source_file(root, chapter))]
    newer = [path for path in sources if path.stat().st_mtime > built]
    if newer:
        return f"{newer[0].relative_to(root)} is newer than the built book"
    return None


# -------------------------------------------------------------------------------------- the page text

# What must never reach a published page, as (label, pattern) over the page's visible text.
_PAGE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("a Python traceback", re.compile(r"Traceback \(most recent call last\)")),
    # How Python prints a warning: "file.py:12: UserWarning: message".
    ("a Python warning", re.compile(r"\b[A-Z]\w*Warning: ")),
    (
        "a home, cache or temporary path",
        re.compile(
            r"/root/|/home/[^/\s]+/|/Users/[^/\s]+/|site-packages|/tmp/|/var/folders/"
            # "~/.cache/…" is how the prose documents the cache; any other ".cache/" comes from a machine.
            r"|(?<!~/)\.cache/"
        ),
    ),
    # A plot function's return value shown as text: the cell's trailing ";" did not hide it.
    ("a matplotlib object's repr", re.compile(r"<(?:Axes|Figure size)\b")),
    # A Markdown table printed as text: a line that starts like a table row and has more cells.
    ("an unrendered Markdown table", re.compile(r"^\| [^\n]*\|", re.MULTILINE)),
    # A table's separator row, "|---|" or "| :---: |", in a paragraph (smartquotes turn "---" into an
    # em dash). It must start a line or a word: "\n|---|" inside a string in a code cell is fine.
    (
        "an unrendered Markdown table",
        re.compile(r"(?:^|(?<=\s))\|[ \t]*:?(?:-{3,}|[—–]+):?[ \t]*(?:\||$)", re.MULTILINE),
    ),
]


def _snippet(text: str, start: int, end: int, margin: int = 40) -> str:
    """The match with `margin` characters either side, on one line."""
    left, right = max(0, start - margin), min(len(text), end + margin)
    piece = " ".join(text[left:right].split())
    return ("…" if left else "") + piece + ("…" if right < len(text) else "")


def page_problems(text: str) -> list[str]:
    """What should not be on a published page, found in its visible text (as `innerText` gives it):
    tracebacks, Python warnings, paths of the machine that built it, Markdown tables left as pipes.
    Each problem names its kind and quotes the offending snippet; an empty list means a clean page."""
    problems = []
    for label, pattern in _PAGE_PATTERNS:
        for match in pattern.finditer(text):
            problem = f"{label}: “{_snippet(text, match.start(), match.end())}”"
            if problem not in problems:
                problems.append(problem)
    return problems


# ------------------------------------------------------------------------------------------- the server


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve `directory` on a free port of 127.0.0.1 from a background thread; yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, name="book-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never send localhost to a proxy


def fetch(url: str) -> tuple[int, bytes, str]:
    """GET `url`: (HTTP status, body, content type); a connection failure is status 0."""
    try:
        with _OPENER.open(url, timeout=10) as response:
            return response.status, response.read(), response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        return error.code, b"", ""
    except OSError:
        return 0, b"", ""


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and (name == "id" or (tag == "a" and name == "name")):
                self.ids.add(value)


def anchors(html: bytes) -> set[str]:
    """Every id (and <a name>) in an HTML document."""
    parser = _Anchors()
    parser.feed(html.decode("utf-8", errors="replace"))
    return parser.ids


class LinkChecker:
    """Checks same-site links against the local server, fetching each target document once."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._documents: dict[str, tuple[int, set[str] | None]] = {}

    def internal(self, hrefs: list[str]) -> list[str]:
        return sorted({href for href in hrefs if href.startswith(self.base)})

    def problems(self, links: list[dict]) -> list[str]:
        found = []
        for link in links:
            href = link["href"]
            if not href.startswith(self.base):
                continue
            document, fragment = urldefrag(href)
            status, ids = self._document(document)
            where = f"{href} (link text {link['text'][:60]!r})"
            if status != 200:
                found.append(f"{where}: HTTP {status}")
            elif fragment and ids is not None and unquote(fragment) not in ids:
                found.append(f"{where}: no element with id {unquote(fragment)!r} on {document}")
        return sorted(set(found))

    def _document(self, url: str) -> tuple[int, set[str] | None]:
        if url not in self._documents:
            status, body, content_type = fetch(url)
            ids = anchors(body) if status == 200 and content_type == "text/html" else None
            self._documents[url] = (status, ids)
        return self._documents[url]


def source_bytes(src: str) -> bytes:
    """The bytes behind a media source: a data: URI decoded, or an http URL fetched (b"" on failure)."""
    if src.startswith("data:"):
        header, _, payload = src.partition(",")
        if header.endswith(";base64"):
            try:
                return base64.b64decode(payload, validate=False)
            except ValueError:
                return b""
        return unquote(payload).encode()
    status, body, _ = fetch(src)
    return body if status == 200 else b""


# ------------------------------------------------------------------------------------------ the browser


def in_ci(env: Mapping[str, str] | None = None) -> bool:
    """Whether we run in CI (CI=true or CI=1), where the browser checks must never be skipped."""
    env = os.environ if env is None else env
    return env.get("CI", "").strip().lower() in ("true", "1")


class BrowserUnavailable(RuntimeError):
    """No usable browser or driver; the message says what is missing."""


@dataclass(frozen=True)
class Chromium:
    """A Chromium-family browser and the chromedriver that drives it."""

    browser: Path
    driver: Path


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_browser(
    env: Mapping[str, str] | None = None, platform: str | None = None, home: Path | None = None
) -> Path:
    """The browser binary: $KOKORO_LAB_BROWSER when set; on macOS, Google Chrome or Chromium in
    /Applications or ~/Applications; then chromium, chromium-browser, google-chrome or
    google-chrome-stable on PATH. Raises BrowserUnavailable when there is none."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    search = env.get("PATH", os.defpath)
    named = env.get(BROWSER_ENV, "").strip()
    if named:
        # A path is checked as it is, a bare name looked up on PATH; an explicit choice is never
        # replaced by another browser.
        found = shutil.which(str(Path(named).expanduser()), path=search)
        if found is None:
            raise BrowserUnavailable(
                f"{BROWSER_ENV}={named} is neither an executable file nor a command on PATH"
            )
        return Path(found)
    if platform == "darwin":
        for folder in (home / f[2:] if f.startswith("~/") else Path(f) for f in MACOS_APP_FOLDERS):
            for app in MACOS_APPS:
                if _executable(folder / app):
                    return folder / app
    for name in BROWSER_NAMES:
        found = shutil.which(name, path=search)
        if found is not None:
            return Path(found)
    raise BrowserUnavailable(f"no browser found ({', '.join(BROWSER_NAMES)} on PATH)")


def selenium_manager_driver(browser: Path) -> Path:
    """The chromedriver that Selenium Manager resolves for `browser`. Offline (unless SE_OFFLINE says
    otherwise) it only finds a driver it has cached before; raises BrowserUnavailable when it fails."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.driver_finder import DriverFinder

    # The checks run offline; SE_OFFLINE=false lets Selenium Manager download a matching driver.
    os.environ.setdefault("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(browser)
    try:
        return Path(DriverFinder(Service(), options).get_driver_path())
    except Exception as error:  # Selenium Manager's failures come in several exception types
        cause = error.__cause__ or error
        raise BrowserUnavailable(
            f"no {DRIVER_NAME} on PATH, and Selenium Manager found none for {browser}: "
            + " ".join(str(cause).split())[:300]
        ) from error


def find_driver(
    browser: Path,
    env: Mapping[str, str] | None = None,
    manager: Callable[[Path], Path] = selenium_manager_driver,
) -> Path:
    """chromedriver on PATH (Debian's /usr/bin/chromedriver), else the one `manager` resolves for
    `browser` (Selenium Manager). Raises BrowserUnavailable when there is none."""
    env = os.environ if env is None else env
    found = shutil.which(DRIVER_NAME, path=env.get("PATH", os.defpath))
    return Path(found) if found is not None else manager(browser)


def locate_chromium(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
    manager: Callable[[Path], Path] = selenium_manager_driver,
) -> Chromium:
    """The browser and its driver, found the usual way (see find_browser and find_driver)."""
    browser = find_browser(env, platform, home)
    return Chromium(browser, find_driver(browser, env, manager))


def install_chromium() -> str | None:
    """Install Debian's chromium and chromium-driver with apt-get; return what went wrong, or None.
    Only as root and where apt-get exists; meant for CI, where the checks must not be skipped."""
    apt = shutil.which("apt-get")
    if apt is None:
        return f"there is no apt-get to install {APT_PACKAGES}"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"installing {APT_PACKAGES} with apt-get needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", *APT_PACKAGES]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{' '.join(command)}` did not finish: {error}"
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
            return f"`{' '.join(command)}` failed with exit code {done.returncode}:\n{tail}"
    return None


class SkipBrowserChecks(Exception):
    """The browser checks are skipped (outside CI only); the message says why and what to install."""


def chromium_for_checks(
    env: Mapping[str, str] | None = None,
    locate: Callable[[], Chromium] = locate_chromium,
    install: Callable[[], str | None] = install_chromium,
    note: Callable[[str], None] = print,
) -> Chromium:
    """The browser and driver for the checks of the built book, following the policy:

    - outside CI, KOKORO_LAB_SKIP_BROWSER=1 or a missing browser/driver raises SkipBrowserChecks;
    - under CI=true nothing is skipped: KOKORO_LAB_SKIP_BROWSER is ignored (with a `note`), a missing
      browser is installed with `install` (Debian's packages), and BrowserUnavailable says why when
      that does not give a usable browser either.
    """
    env = os.environ if env is None else env
    ci = in_ci(env)
    if env.get(SKIP_ENV) == "1":
        if not ci:
            raise SkipBrowserChecks(f"{SKIP_ENV}=1: the browser checks of the built book are switched off")
        note(f"CI=true: {SKIP_ENV}=1 is ignored, the browser checks always run in CI")
    try:
        return locate()
    except BrowserUnavailable as missing:
        if not ci:
            raise SkipBrowserChecks(
                f"no headless browser: {missing}. To run these checks, {INSTALL_HINT}"
            ) from missing
        problem = str(missing)
    note(f"CI=true and no usable browser ({problem}): installing {' and '.join(APT_PACKAGES)} with apt-get")
    failed = install()
    if failed is None:
        try:
            return locate()
        except BrowserUnavailable as still:
            failed = f"installed {APT_PACKAGES}, but still: {still}"
    raise BrowserUnavailable(
        f"CI=true, so the browser checks must run, but there is no headless browser: {problem}; {failed}"
    )


def start_chromium(chromium: Chromium, profile: Path):
    """Headless `chromium.browser` through `chromium.driver`, with the fresh profile `profile` and no
    network but 127.0.0.1."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium.browser)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.page_load_strategy = "normal"
    # The explicit driver path makes Selenium skip Selenium Manager.
    driver = webdriver.Chrome(service=Service(str(chromium.driver)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    return driver


SETTLED_JS = """
for (const a of document.querySelectorAll('audio')) {
  if (a.readyState === 0 && a.preload === 'none') { a.preload = 'metadata'; a.load(); }
}
return [...document.images].every(i => i.complete)
  && [...document.querySelectorAll('audio')]
    .every(a => a.readyState >= 1 || a.error !== null || a.networkState === HTMLMediaElement.NETWORK_NO_SOURCE);
"""

SNAPSHOT_JS = """
const text = (e) => (e ? e.innerText || '' : '').trim();
const article = document.querySelector('article.bd-article, article, main, [role=main]');
const navigation = performance.getEntriesByType('navigation')[0];
return {
  title: text(document.querySelector('article h1, main h1, h1')),
  articleText: text(article),
  bodyText: document.body ? document.body.innerText : '',
  errorOutputs: [...document.querySelectorAll(
      '.output.traceback, .output.error, div.system-message, .problematic')]
    .map(e => e.className + ': ' + text(e).slice(0, 300)),
  stderr: [...document.querySelectorAll('.output.stderr')].map(e => text(e)),
  images: [...document.images].map(i => ({
    src: i.currentSrc || i.src, complete: i.complete, naturalWidth: i.naturalWidth, alt: i.alt})),
  audio: [...document.querySelectorAll('audio')].map(a => ({
    currentSrc: a.currentSrc,
    sources: [a.getAttribute('src') ? a.src : null,
              ...[...a.querySelectorAll('source')].map(s => s.getAttribute('src') ? s.src : null)]
             .filter(Boolean),
    readyState: a.readyState, duration: a.duration, error: a.error ? a.error.code : null})),
  links: [...document.querySelectorAll('a[href]')].map(a => ({href: a.href, text: text(a)})),
  navigationStatus: navigation ? navigation.responseStatus : null,
  resources: performance.getEntriesByType('resource').map(r => ({
    url: r.name, status: r.responseStatus, type: r.initiatorType})),
  height: Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0),
};
"""


@dataclass
class Page:
    """What one chapter looked like in the browser."""

    chapter: str
    url: str
    status: int
    title: str
    article_text: str
    body_text: str
    error_outputs: list[str]
    stderr: list[str]
    images: list[dict]
    audio: list[dict]
    links: list[dict]
    resources: list[dict]
    screenshot: Path
    settled: bool


class Visitor:
    """Opens each chapter once in the shared browser, keeps a screenshot, and caches what the page holds."""

    def __init__(self, driver, base: str, screenshots: Path) -> None:
        self.driver = driver
        self.base = base
        self.screenshots = screenshots
        self._pages: dict[str, Page] = {}
        self._frame: tuple[int, int] | None = None

    def visit(self, chapter: str) -> Page:
        if chapter not in self._pages:
            self._pages[chapter] = self._load(chapter)
        return self._pages[chapter]

    def _resize(self, width: int, height: int) -> None:
        """Give the page a viewport of width × height (the window is larger by its own frame)."""
        if self._frame is None:
            self.driver.set_window_size(width, height)
            inner = self.driver.execute_script("return [window.innerWidth, window.innerHeight]")
            self._frame = (width - inner[0], height - inner[1])
        self.driver.set_window_size(width + self._frame[0], height + self._frame[1])

    def _load(self, chapter: str) -> Page:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        url = f"{self.base}{chapter}.html"
        status, _, _ = fetch(url)
        driver = self.driver
        self._resize(*WINDOW)
        driver.get(url)
        height = driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"
        )
        self._resize(WINDOW[0], min(max(WINDOW[1], int(height)), MAX_SCREENSHOT_HEIGHT))
        try:
            WebDriverWait(driver, 15, poll_frequency=0.1).until(lambda d: d.execute_script(SETTLED_JS))
            settled = True
        except TimeoutException:
            settled = False
        screenshot = self.screenshots / f"{chapter}.png"
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        data = driver.execute_script(SNAPSHOT_JS)
        return Page(
            chapter=chapter,
            url=url,
            status=status,
            title=data["title"],
            article_text=data["articleText"],
            body_text=data["bodyText"],
            error_outputs=data["errorOutputs"],
            stderr=data["stderr"],
            images=data["images"],
            audio=data["audio"],
            links=data["links"],
            resources=data["resources"],
            screenshot=screenshot,
            settled=settled,
        )
