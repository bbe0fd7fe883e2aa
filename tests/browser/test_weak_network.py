"""A weak downlink: the page says its video is paused instead of showing a frozen picture."""
from __future__ import annotations

import pytest

from media import messages as m
from tests.browser.conftest import enter, host_pin, wait_js

pytestmark = pytest.mark.browser

PAUSED_DA = "Video er sat på pause på grund af dårlig forbindelse"


def test_page_shows_video_paused_while_the_worker_pauses_its_video(media_server, phone):
    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    host, karen = phone(1280, 800), phone()
    enter(host, url, "Nina", pin)
    enter(karen, url, "Karen Jensen")
    for page in (host, karen):
        wait_js(page, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
                      ".some(v => v.videoWidth > 0)", 20)
    assert karen.locator("#video-paused").is_hidden()
    host_pid = host.evaluate("document.getElementById('meta').dataset.hosts").split()[0]
    karen_pid = host.evaluate("document.querySelector('#tiles .tile[data-pid]:not(.self)').dataset.pid")
    assert karen_pid != host_pid
    hub = media_server.app.extensions["mvc.hub"]
    room = hub._rooms[karen_pid]  # the meeting id the worker knows the room by
    # What the worker sends when it pauses this participant's video (media.layers), through
    # the web process to the page it is addressed to (and to no other page).
    hub.deliver(m.downlink(room, karen_pid, True))
    karen.wait_for_selector("#video-paused", state="visible", timeout=5000)
    assert karen.inner_text("#video-paused").strip() == PAUSED_DA
    assert karen.evaluate("document.querySelector('#tiles').classList.contains('video-paused')")
    assert host.locator("#video-paused").is_hidden()
    hub.deliver(m.downlink(room, karen_pid, False))
    karen.wait_for_selector("#video-paused", state="hidden", timeout=5000)
