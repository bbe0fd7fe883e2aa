"""Playwright driving Debian's Chromium with a fake camera and microphone."""
from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@contextmanager
def chromium(*extra_args: str):
    """Debian's Chromium under Playwright, with the fake devices and any extra switches."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS + list(extra_args))
        yield b
        b.close()


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module: Playwright's event loop must not outlive the browser
    tests, or asyncio.run() in the media tests that follow would fail."""
    with chromium() as b:
        yield b


# Console errors that are no fault of the pages: Chromium logs every 4xx answer, and a page
# or form answered 404/422 on purpose is what a test asks for (a missing script, style sheet
# or image is still caught, by status, below). An invalid websocket frame is a failure: the
# test server no longer writes an HTTP response after a websocket's close (mvc/sockets.py).
EXPECTED_CONSOLE = re.compile(r"^Failed to load resource: the server responded with a status of 4\d\d"
                              r"|^\[object Event\]$")
SUBRESOURCES = {"script", "stylesheet", "image", "font", "media", "manifest"}


@pytest.fixture
def phone(browser, request):
    """A new page (390×844 unless told), Danish by default; page.problems collects console
    errors, uncaught exceptions and CSP violations, and the test fails on any (a test that
    provokes them on purpose says so with @pytest.mark.console_errors("why"))."""
    contexts, pages = [], []

    def make(width: int = 390, height: int = 844, **options):
        ctx = browser.new_context(viewport={"width": width, "height": height}, permissions=["camera", "microphone"], **options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        page.problems = []
        page.on("console", lambda m: page.problems.append(f"console {m.type}: {m.text}")
                if m.type == "error" and not EXPECTED_CONSOLE.search(m.text) else None)
        page.on("pageerror", lambda e: page.problems.append(f"uncaught: {e}"))
        page.on("response", lambda r: page.problems.append(f"{r.status} for {r.request.resource_type} {r.url}")
                if r.status >= 500 or (r.status >= 400 and r.request.resource_type in SUBRESOURCES) else None)
        pages.append(page)
        return page

    yield make
    problems = [problem for page in pages for problem in page.problems]
    for ctx in contexts:
        ctx.close()
    if problems and request.node.get_closest_marker("console_errors") is None:
        pytest.fail("the pages reported problems:\n" + "\n".join(problems[:20]), pytrace=False)


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def screenshot(page, name: str) -> Path:
    """Save a screenshot for reviewers under test-artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def wait_js(page, expression: str, timeout: float = 10.0, interval: float = 0.1):
    """Poll a JS expression until truthy (wait_for_function would need CSP's unsafe-eval)."""
    import time

    deadline = time.time() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"still false after {timeout}s: {expression}")
        time.sleep(interval)


JOIN_BUTTON = 'form.stack button[type=submit]'


def enter(page, url: str, name: str, pin: str | None = None) -> None:
    """Fill in the join form (with the host PIN if given) and wait for the meeting page."""
    page.goto(url)
    page.fill("#name", name)
    if pin:
        # The camera preview above may start and push the form down just as the click lands
        # (it then misses, as a person's tap would): try again until the PIN field shows.
        for _ in range(3):
            if page.is_visible("#pin"):
                break
            page.click("summary")
            page.wait_for_timeout(200)
        page.fill("#pin", pin)
    page.click(JOIN_BUTTON)
    page.wait_for_url("**/live")


def host_pin(server) -> str:
    """The demo room's host PIN in the server's database."""
    from sqlmodel import select

    from mvc import db
    from mvc.models import Room

    with server.app.app_context():
        return db.session().exec(select(Room).where(Room.alias == "demo")).one().host_pin
