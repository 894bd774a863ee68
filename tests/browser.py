"""Helpers of the end-to-end browser tests: Debian's chromium, headless, driven by Playwright.

Playwright launches the system browser (`executable_path`), so no `playwright install` download is needed;
`bash scripts/setup.sh` installs both (the `chromium` Debian package and the `playwright` wheel of `.[test]`).

    from tests.browser import open_browser, save_screenshot, serve_directory

    with serve_directory(tmp_path) as base_url, open_browser() as page:
        page.goto(f"{base_url}/index.html")
        assert page.text_content("#title") == "Readiness"
        save_screenshot(page, tmp_path / "index.png")

`page` is a `playwright.sync_api.Page` (https://playwright.dev/python/docs/api/class-page).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

# Set to use another Chromium/Chrome binary than the one on PATH (Debian: /usr/bin/chromium).
CHROMIUM_ENV = "CHROMIUM_PATH"
SETUP_HINT = "run `bash scripts/setup.sh` (installs the Debian package `chromium` and the `.[test]` extras)"

# Headless on a container or CI machine: no setuid sandbox as root, and /dev/shm is often tiny there.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu")


def find_chromium() -> str:
    """Path of the Chromium executable; RuntimeError (not a skip) when it is not installed."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise RuntimeError(f"{CHROMIUM_ENV}={explicit} is not an executable file; {SETUP_HINT}")
        return explicit
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError(f"chromium is not installed (not on PATH); {SETUP_HINT}")


@contextmanager
def open_browser(
    *,
    viewport: tuple[int, int] = (1280, 800),
    timeout_s: float = 10.0,
    extra_args: Sequence[str] = (),
) -> Iterator[Page]:
    """A fresh headless Chromium with one page, closed on exit.

    `timeout_s` is the default of every Playwright wait (goto, locators, wait_for_function, ...).
    """
    executable = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise RuntimeError(f"the Python package playwright is not installed; {SETUP_HINT}") from exc

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=[*CHROMIUM_ARGS, *extra_args],
            timeout=30_000,
        )
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(timeout_s * 1000)
            yield context.new_page()
        finally:
            browser.close()


def save_screenshot(page: Page, path: str | os.PathLike[str], *, full_page: bool = True) -> Path:
    """The page as a PNG at `path` (parent folders created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=full_page, type="png")
    return target


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@contextmanager
def serve_directory(root: str | os.PathLike[str]) -> Iterator[str]:
    """Serve `root` over HTTP on 127.0.0.1 (a free port) from a background thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=os.fspath(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-http", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server_process(args: Sequence[str], ready_url: str, log_path: Path, timeout_s: float,
                   **popen: object) -> Iterator[subprocess.Popen]:
    """A web server the test starts (`args`), in its own process group (what it spawns stops with it);
    yields once `ready_url` answers 200, fails the test with the tail of its log if it exits or is late."""
    import pytest

    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(args), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **popen)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{args[0]} exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{args[0]} did not answer within {timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
