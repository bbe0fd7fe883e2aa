"""Real media through a real worker: Chromium pages see and hear each other."""
from __future__ import annotations

import pytest

from tests.browser.conftest import enter, host_pin, wait_js

pytestmark = pytest.mark.browser

def test_three_pages_see_each_other_and_host_only_stops_guest_video(media_server, phone):
    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    host, karen, ole = phone(1280, 800), phone(), phone()
    enter(host, url, "Nina", pin)
    enter(karen, url, "Karen Jensen")
    enter(ole, url, "Ole Hansen")
    for page in (host, karen, ole):
        wait_js(page, "document.querySelectorAll('#tiles .tile[data-pid]:not(.self) video').length >= 2", 20)
        wait_js(page, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video')).every(v => v.videoWidth > 0)", 20)
    for page in (host, karen, ole):
        # Two remote publishers' Opus (50 packets/s each) arrive at every page.
        assert audio_rate(page) > 60

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


AUDIO_IN_JS = """async () => {
  const pc = window.MVCMedia.pc();
  let total = 0;
  if (!pc) return 0;
  (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp' && r.kind === 'audio') total += r.packetsReceived || 0; });
  return total;
}"""


def audio_rate(page, seconds: float = 1.5) -> float:
    """Audio packets per second arriving at this page, measured from getStats()."""
    import time

    first = page.evaluate(AUDIO_IN_JS)
    time.sleep(seconds)
    return (page.evaluate(AUDIO_IN_JS) - first) / seconds


def test_floor_control_lets_a_muted_guest_be_heard_and_mute_all_stops_it(media_server, phone):
    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    host, karen = phone(1280, 800), phone()
    enter(host, url, "Nina", pin)
    enter(karen, url, "Karen Jensen")
    wait_js(host, "document.querySelectorAll('#tiles .tile:not(.self) video').length >= 1", 20)
    host.click("form:has(input[value=guests_unmute]) button")  # keep participants muted
    host.click("form:has(input[value=mute_all]) button")
    karen.wait_for_selector("#controls [data-action=mic][aria-pressed=false]")
    import time

    time.sleep(1)
    assert audio_rate(host) < 5  # Karen's audio is not forwarded at all
    karen.click("#controls form:has(input[value=hand]) button")
    host.click("#hands form:has(input[value=give_floor]) button")
    karen.wait_for_selector("#controls [data-action=mic][aria-pressed=true]")
    time.sleep(1)
    assert audio_rate(host) > 20  # Opus at 50 packets/s reaches the host now
    host.click("form:has(input[value=mute_all]) button")
    karen.wait_for_selector("#controls [data-action=mic][aria-pressed=false]")
    time.sleep(1)
    assert audio_rate(host) < 5


def test_killed_worker_is_replaced_and_media_flows_again(media_server, phone):
    import os
    import signal
    import time

    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    host, karen = phone(1280, 800), phone()
    enter(host, url, "Nina", pin)
    enter(karen, url, "Karen Jensen")
    wait_js(karen, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
                   ".some(v => v.getVideoPlaybackQuality().totalVideoFrames > 10)", 20)
    pool = media_server.app.extensions["mvc.media"]
    worker_pid = next(w["pid"] for w in pool.health()["workers"].values())
    killed_at = time.monotonic()
    os.kill(worker_pid, signal.SIGKILL)
    # The page reconnects to the replacement worker on a new connection: new tiles, new frames.
    karen.evaluate("window.__old = new Set(document.querySelectorAll('#tiles video'))")
    fresh = ("Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
             ".some(v => !window.__old.has(v) && v.getVideoPlaybackQuality().totalVideoFrames > 5)")
    wait_js(karen, fresh, 30, interval=0.05)
    recovered = time.monotonic() - killed_at
    print(f"\nmedia flowing again {recovered:.2f} s after the worker was killed")
    new_pid = next(w["pid"] for w in pool.health()["workers"].values())
    assert new_pid != worker_pid
    # The move is on the meeting's support timeline.
    from sqlmodel import Session, select

    from mvc.db import engine
    from mvc.models.stats import SupportEvent
    with media_server.app.app_context(), Session(engine()) as s:
        assert s.exec(select(SupportEvent).where(SupportEvent.kind == "worker_moved")).first() is not None


IN_BYTES_JS = """async () => {
  const pc = window.MVCMedia.pc();
  let total = 0;
  (await pc.getStats()).forEach(r => { if (r.type === 'inbound-rtp') total += r.bytesReceived || 0; });
  return total;
}"""


def test_a_knocking_guest_is_connected_but_gets_and_gives_nothing_until_let_in(media_server, phone):
    import time

    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    host = phone(1280, 800)
    enter(host, url, "Nina", pin)
    host.click("form:has(input[name=action][value=lock]) button")
    host.wait_for_selector("form:has(input[name=action][value=lock]):has(input[name=on][value='0'])")
    guest = phone()
    enter(guest, url, "Karen Jensen")
    guest.wait_for_selector("#stage[data-view=knocking]")
    # Connected while knocking, with neither camera nor microphone on yet ...
    wait_js(guest, "window.MVCMedia.pc() && window.MVCMedia.pc().connectionState === 'connected'", 20)
    assert guest.evaluate("window.MVCMedia.pc().getSenders().every(s => !s.track)")
    guest.evaluate("window.__waitingPc = window.MVCMedia.pc()")
    # ... and nothing of the meeting reaches the waiting page, though the host talks on camera.
    time.sleep(2)
    assert guest.evaluate(IN_BYTES_JS) == 0
    assert host.evaluate("document.querySelectorAll('#tiles .tile:not(.self)').length") == 0

    let_in = time.monotonic()
    host.click("form:has(input[name=action][value=admit]) button")
    guest.wait_for_selector("#stage[data-view=meeting]")
    wait_js(guest, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
                   ".some(v => v.videoWidth > 0)", 20, interval=0.02)
    print(f"\nlet in → first remote frame: {time.monotonic() - let_in:.2f} s")
    # The same connection was let in: no new one, the camera now on it, self view in place.
    assert guest.evaluate("window.MVCMedia.pc() === window.__waitingPc")
    wait_js(guest, "document.getElementById('self-video').videoWidth > 0")
    wait_js(host, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
                  ".some(v => v.videoWidth > 0)", 20)
    assert audio_rate(host) > 20 and audio_rate(guest) > 20
