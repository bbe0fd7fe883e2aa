"""Screen sharing through a real worker: the host shares, the guest gets a large screen tile.

Headless Chromium (Debian's, as in the other browser tests) supports getDisplayMedia when
started with --auto-select-desktop-capture-source: it picks the whole (virtual) screen
without a picker, so this test uses the real getDisplayMedia, not a stub.
"""
from __future__ import annotations

import shutil
import time

import pytest

from tests.browser.conftest import CHROMIUM_ARGS, screenshot, wait_js
from tests.browser.test_media_flow import enter

pytestmark = pytest.mark.browser

SCREEN_TILE = '#tiles .tile.screen[data-pid$="~screen"]'


@pytest.fixture(scope="module")
def share_browser(browser):
    """A second Chromium, with the flag that picks the screen (from the same Playwright)."""
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    args = CHROMIUM_ARGS + ["--auto-select-desktop-capture-source=Entire screen"]
    b = browser.browser_type.launch(executable_path=exe, headless=True, args=args)
    yield b
    b.close()


def page_in(browser, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height},
                              permissions=["camera", "microphone"])
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    return page


def test_host_shares_screen_and_the_guest_sees_it_as_the_large_tile(media_server, share_browser):
    from sqlmodel import select

    from mvc import db
    from mvc.models import Room

    with media_server.app.app_context():
        pin = db.session().exec(select(Room).where(Room.alias == "demo")).one().host_pin
    url = f"{media_server.url}/m/demo"
    host, guest = page_in(share_browser, 1280, 800), page_in(share_browser, 390, 844)
    try:
        enter(host, url, "Nina", pin)
        enter(guest, url, "Karen Jensen")
        wait_js(guest, "document.querySelectorAll('#tiles .tile[data-pid]:not(.self) video').length >= 1", 20)
        host_pid = host.evaluate("document.getElementById('meta').dataset.hosts").split()[0]

        start = time.monotonic()
        host.click("[data-action=share]:visible")
        wait_js(guest, f"(() => {{ const v = document.querySelector('{SCREEN_TILE} video'); "
                       "return v && v.videoWidth > 0; })()", 20)
        took = time.monotonic() - start
        assert took < 10, took
        assert guest.evaluate("s => document.querySelector(s).dataset.pid", SCREEN_TILE) == f"{host_pid}~screen"
        # The large tile: first in the container and as wide as the tile area.
        assert guest.evaluate("document.querySelector('#tiles .tile').classList.contains('screen')")
        assert guest.evaluate("""s => { const t = document.querySelector(s), c = document.getElementById('tiles');
            return t.getBoundingClientRect().width > c.clientWidth * 0.9; }""", SCREEN_TILE)
        wait_js(guest, f"document.querySelector('{SCREEN_TILE} figcaption').textContent === 'Skærm fra Nina'")
        screenshot(guest, "meeting-390x844-guest-screen")
        # The host's camera still arrives as its own tile.
        assert guest.evaluate(f"!!document.querySelector('#tiles .tile[data-pid=\"{host_pid}\"] video')")
        host.wait_for_selector("[data-action=share][aria-pressed=true]", state="attached")

        host.click("[data-action=share]:visible")
        wait_js(guest, f"!document.querySelector('{SCREEN_TILE}')", 10)
        host.wait_for_selector("[data-action=share][aria-pressed=false]", state="attached")
        assert guest.evaluate(f"!!document.querySelector('#tiles .tile[data-pid=\"{host_pid}\"] video')")

        # Stopping from the browser's own "Stop sharing" bar ends the track: the page
        # stops sending and tells the server (the ended event is fired by hand here).
        host.click("[data-action=share]:visible")
        wait_js(guest, f"(() => {{ const v = document.querySelector('{SCREEN_TILE} video'); "
                       "return v && v.videoWidth > 0; })()", 20)
        host.evaluate("""() => MVCMedia.pc().getTransceivers().map(t => t.sender.track)
            .filter(t => t && t.label.startsWith('screen')).forEach(t => t.dispatchEvent(new Event('ended')))""")
        wait_js(guest, f"!document.querySelector('{SCREEN_TILE}')", 10)
        host.wait_for_selector("[data-action=share][aria-pressed=false]", state="attached")
        assert host.evaluate("!MVCMedia.sharing()")
        print(f"screen tile decoded on the guest {took:.2f}s after the click")
    finally:
        host.context.close()
        guest.context.close()


def test_a_second_host_taking_over_the_share_stops_the_first_pages_capture(media_server, share_browser):
    from tests.browser.conftest import host_pin

    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    nina, ole, guest = (page_in(share_browser, 1280, 800), page_in(share_browser, 1280, 800),
                        page_in(share_browser, 390, 844))
    try:
        enter(nina, url, "Nina", pin)
        enter(ole, url, "Ole", pin)
        enter(guest, url, "Karen Jensen")
        wait_js(guest, "document.querySelectorAll('#tiles .tile[data-pid]:not(.self) video').length >= 2", 20)
        ole_pid = ole.evaluate("document.getElementById('tile-self').dataset.pid")

        nina.click("[data-action=share]:visible")
        nina.wait_for_selector("[data-action=share][aria-pressed=true]", state="attached")
        assert nina.evaluate("MVCMedia.sharing()")
        ole.click("[data-action=share]:visible")
        wait_js(guest, f"(() => {{ const v = document.querySelector('{SCREEN_TILE}[data-pid=\"{ole_pid}~screen\"] video');"
                       " return v && v.videoWidth > 0; })()", 20)
        # Nina's page hears that Ole shares now: her button says so and her capture ends.
        nina.wait_for_selector("[data-action=share][aria-pressed=false]", state="attached")
        wait_js(nina, "!MVCMedia.sharing()", 10)
        assert nina.evaluate("""() => MVCMedia.pc().getTransceivers().every(t => !t.sender.track
            || !t.sender.track.label.startsWith('screen'))""")
        wait_js(guest, f"document.querySelectorAll('{SCREEN_TILE}').length === 1", 10)
    finally:
        for page in (nina, ole, guest):
            page.context.close()
