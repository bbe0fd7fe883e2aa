"""Real media through a real worker: Chromium pages see and hear each other."""
from __future__ import annotations

import pytest

from tests.browser.conftest import wait_js

pytestmark = pytest.mark.browser
JOIN = 'button:has-text("Deltag i mødet")'

# Per remote publisher tile: frames decoded and audio packets received, from getStats().
STATS_JS = """async () => {
  const pc = window.MVCMedia && window.MVCMedia.pc && window.MVCMedia.pc();
  if (!pc) return null;
  const out = {video: {}, audio: {}};
  const stats = await pc.getStats();
  stats.forEach(r => {
    if (r.type !== 'inbound-rtp') return;
    const t = r.trackIdentifier;
    if (r.kind === 'video') out.video[t] = r.framesDecoded || 0;
    if (r.kind === 'audio') out.audio[t] = r.packetsReceived || 0;
  });
  out.tiles = Array.from(document.querySelectorAll('#tiles .tile[data-pid]:not(.self)')).map(t => t.dataset.pid);
  return out;
}"""


def enter(page, url, name, pin=None):
    page.goto(url)
    page.fill("#name", name)
    if pin:
        page.click("summary")
        page.fill("#pin", pin)
    page.click(JOIN)
    page.wait_for_selector("#stage[data-view=meeting]")


def test_three_pages_see_each_other_and_host_only_stops_guest_video(media_server, phone):
    from sqlmodel import select

    from mvc import db
    from mvc.models import Room

    with media_server.app.app_context():
        pin = db.session().exec(select(Room).where(Room.alias == "demo")).one().host_pin
    url = f"{media_server.url}/m/demo"
    host, karen, ole = phone(1280, 800), phone(), phone()
    enter(host, url, "Nina", pin)
    enter(karen, url, "Karen Jensen")
    enter(ole, url, "Ole Hansen")
    for page in (host, karen, ole):
        wait_js(page, "document.querySelectorAll('#tiles .tile[data-pid]:not(.self) video').length >= 2", 20)
        wait_js(page, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video')).every(v => v.videoWidth > 0)", 20)

    # "Only the host": guests stop receiving each other's video within 2 s, keep the host's.
    frames_js = """() => Object.fromEntries(Array.from(document.querySelectorAll('#tiles .tile[data-pid]:not(.self)'))
        .map(t => [t.dataset.pid, t.querySelector('video').getVideoPlaybackQuality().totalVideoFrames]))"""
    host_pid = host.evaluate("document.getElementById('meta').dataset.hosts").split()[0]
    host.click("form:has(input[name=action][value=layout]):has(input[value=host_only]) button")
    karen.wait_for_selector("#meta[data-layout=host_only]", state="attached")
    import time

    time.sleep(2)
    before = karen.evaluate(frames_js)
    time.sleep(1.5)
    after = karen.evaluate(frames_js)
    assert after.get(host_pid, 0) > before.get(host_pid, 0), (before, after)
    for pid, count in after.items():
        if pid != host_pid:
            assert count - before.get(pid, 0) <= 1, (before, after)
