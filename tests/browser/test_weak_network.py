"""A weak downlink: the page says its video is paused instead of showing a frozen picture."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from media import messages as m
from tests.browser.conftest import enter, host_pin, wait_js
from tests.browser.test_media_flow import audio_rate
from tests.media.impaired import in_private_namespace, shape_port
from tests.media.test_impairment import _namespace_problem

ROOT = Path(__file__).resolve().parents[2]
INNER = "MVC_WEAKNET_INNER"  # set inside the namespace the outer test makes

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


LOCAL_PORT_JS = """async () => {
  const stats = await window.MVCMedia.pc().getStats();
  let pair = null;
  stats.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId); });
  return pair ? stats.get(pair.localCandidateId).port : null;
}"""


@pytest.mark.timeout(300)
def test_page_on_a_really_weak_downlink_says_video_paused():
    """Three Chromium pages in a private network namespace; one page's downlink is cut to
    300 kbit/s by the kernel: that page (only) says its video is paused."""
    problem = _namespace_problem()
    if problem:
        pytest.skip(problem)
    env = {**os.environ, "MVC_OUTER_NETNS": os.readlink("/proc/self/ns/net"), INNER: "1"}
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {sys.executable} -m pytest "
         f"-x -q -p no:cacheprovider {__file__}::test_inside_namespace"],
        env=env, capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.skipif(not os.environ.get(INNER), reason="run by test_page_on_a_really_weak_downlink_says_video_paused")
def test_inside_namespace(media_server, phone):
    assert in_private_namespace()
    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    pages = host, karen, ole = phone(1280, 800), phone(), phone()
    enter(host, url, "Nina", pin)
    enter(karen, url, "Karen Jensen")
    enter(ole, url, "Ole Hansen")
    for page in pages:
        wait_js(page, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
                      ".filter(v => v.videoWidth > 0).length >= 2", 30)
    port = karen.evaluate(LOCAL_PORT_JS)
    assert port
    shape_port(int(port), "dport")
    karen.wait_for_selector("#video-paused", state="visible", timeout=30000)
    assert karen.inner_text("#video-paused").strip() == PAUSED_DA
    assert audio_rate(karen) > 60  # two publishers' Opus (50 packets/s each) still arrive
    for page in (host, ole):
        assert page.locator("#video-paused").is_hidden()
