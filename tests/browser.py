"""Helpers for the browser test: the chapters of _toc.yml, a local server for the built book, and
Debian's headless Chromium driven by Selenium without any network access."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag

import yaml

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ["chromium", "chromium-driver"]
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


def install_chromium() -> str | None:
    """Install Debian's chromium and chromium-driver when missing; return what went wrong, or None."""
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return f"{CHROMIUM} or {CHROMEDRIVER} is missing and there is no apt-get to install {APT_PACKAGES}"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", *APT_PACKAGES]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{' '.join(command)}` did not finish: {error}"
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
            return f"`{' '.join(command)}` failed with exit code {done.returncode}:\n{tail}"
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        return f"apt-get installed {APT_PACKAGES} but {CHROMIUM} or {CHROMEDRIVER} is still missing"
    return None


def start_chromium(profile: Path):
    """Headless Chromium through /usr/bin/chromedriver, with a fresh profile and no network but 127.0.0.1."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # The explicit driver path makes Selenium skip Selenium Manager; offline mode is a second guard.
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.page_load_strategy = "normal"
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
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
