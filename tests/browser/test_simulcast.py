"""Simulcast in Chromium: the camera goes out in two layers, and each subscriber gets one."""
from __future__ import annotations

import os
import time

import pytest

from tests.browser.conftest import chromium, enter, host_pin, wait_js
from tests.browser.test_media_flow import audio_rate
from tests.browser.test_weak_network import INNER, LOCAL_PORT_JS, in_namespace, noise_clip
from tests.media.impaired import in_private_namespace, shape_port

pytestmark = pytest.mark.browser

LAYERS_JS = """async () => {
  const out = {};
  (await window.MVCMedia.pc().getStats()).forEach(r => {
    if (r.type === 'outbound-rtp' && r.kind === 'video' && r.rid)
      out[r.rid] = {bytes: r.bytesSent || 0, width: r.frameWidth || 0};
  });
  return out;
}"""

AMPLITUDE = 12  # a grey picture with this much noise: each layer as big as its bitrate allows

VIDEO_IN_JS = """async () => {
  let bytes = 0;
  (await window.MVCMedia.pc().getStats()).forEach(r => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') bytes += r.bytesReceived || 0; });
  return [bytes, performance.now()];
}"""


def video_in_kbit(page, seconds: float = 2.0) -> float:
    """The page's incoming video bitrate (kbit/s) over `seconds`, from getStats()."""
    b0, t0 = page.evaluate(VIDEO_IN_JS)
    time.sleep(seconds)
    b1, t1 = page.evaluate(VIDEO_IN_JS)
    return 8 * (b1 - b0) / (t1 - t0)


REMOTE_WIDTHS_JS = ("Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
                    ".map(v => v.videoWidth)")


def test_camera_goes_out_in_two_layers_and_a_good_connection_gets_the_top_one(media_server, phone):
    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    host, karen = phone(1280, 800), phone()
    enter(host, url, "Nina", pin)
    enter(karen, url, "Karen Jensen")
    wait_js(host, f"{REMOTE_WIDTHS_JS}.some(w => w > 0)", 20)
    # The worker accepted both layers, in its answer and in the offers that added the other
    # one's tracks: each browser sends both, the low one at half size.
    for page in (host, karen):
        wait_js(page, "(async () => { const s = await (" + LAYERS_JS + ")();"
                      " return s.l && s.h && s.l.bytes > 20000 && s.h.bytes > 20000; })()", 20)
        layers = page.evaluate(LAYERS_JS)
        assert layers["h"]["width"] == 2 * layers["l"]["width"], layers
    # The host's connection is good: it gets Karen's top layer.
    wait_js(host, f"{REMOTE_WIDTHS_JS}.includes({layers['h']['width']})", 10)
    # transport-cc both ways: the browsers number what they send and report on what the
    # worker sends them, and the worker reports on what they send.
    for page in (host, karen):
        sdp = page.evaluate("window.MVCMedia.pc().remoteDescription.sdp")
        assert all("transport-wide-cc" in section for section in sdp.split("\r\nm=")[1:]), sdp
    pool = media_server.app.extensions["mvc.media"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        load = next(iter(pool.health()["workers"].values()))["load"]
        if load.get("transport_feedback", 0) > 20 and load.get("transport_feedback_sent", 0) > 20:
            break
        time.sleep(0.5)
    assert load.get("transport_feedback", 0) > 20 and load.get("transport_feedback_sent", 0) > 20, load
    # From that feedback the browser estimates (and probes) its own uplink: on loopback it
    # soon allows both layers (with the worker's REMB alone it crept from 300 to 600 kbit/s
    # in 11 s, holding the top layer back at first).
    avail_js = ("(async () => { const s = await window.MVCMedia.pc().getStats(); let pair = null;"
                " s.forEach(r => { if (r.type === 'transport' && r.selectedCandidatePairId)"
                " pair = s.get(r.selectedCandidatePairId); });"
                " return pair && pair.availableOutgoingBitrate || 0; })()")
    deadline = time.monotonic() + 10
    while host.evaluate(avail_js) < 900_000 and time.monotonic() < deadline:
        time.sleep(0.5)
    print(f"\nthe host's uplink estimate: {host.evaluate(avail_js) / 1000:.0f} kbit/s")
    assert host.evaluate(avail_js) >= 900_000


@pytest.mark.timeout(300)
def test_weak_subscriber_gets_the_lower_layer_while_the_others_keep_the_top_one():
    """Three Chromium pages sending noise (full-rate layers) in a private network namespace;
    one page's downlink is cut to 700 kbit/s, where both publishers' top layers (700 kbit/s
    each) do not fit and their low ones (150-200 kbit/s) do: that page gets the low layers and
    no pause, while the other two keep getting each other's top layer."""
    in_namespace("test_lower_layer_inside_namespace", __file__)


@pytest.mark.skipif(not os.environ.get(INNER), reason="run in a namespace by in_namespace()")
def test_lower_layer_inside_namespace(media_server, tmp_path):
    assert in_private_namespace()
    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    clip = noise_clip(tmp_path / "noise.y4m", amplitude=AMPLITUDE)
    with chromium(f"--use-file-for-fake-video-capture={clip}") as browser:
        host, karen, ole = pages = [
            browser.new_context(viewport={"width": 1280, "height": 800},
                                permissions=["camera", "microphone"]).new_page() for _ in range(3)]
        enter(host, url, "Nina", pin)
        enter(karen, url, "Karen Jensen")
        enter(ole, url, "Ole Hansen")
        for page in pages:
            wait_js(page, f"{REMOTE_WIDTHS_JS}.filter(w => w >= 640).length >= 2", 40)
        deadline = time.monotonic() + 60  # the browsers ramp their top layers up to 700 kbit/s
        while video_in_kbit(karen) < 1000:
            assert time.monotonic() < deadline, "the top layers never reached full rate"
        shape_port(int(karen.evaluate(LOCAL_PORT_JS)), "dport", rate="1200kbit", burst="32kb", latency="300ms")
        widths = wait_js(karen, f"(w => w.length === 2 && w.every(x => x > 0 && x <= 320) && w)({REMOTE_WIDTHS_JS})",
                         40)
        paused = []
        for _ in range(10):  # five seconds on the low layers, not paused
            paused.append(karen.locator("#video-paused").is_visible())
            time.sleep(0.5)
        print(f"weak: the weak page's videos {widths}, paused {paused}; the others' "
              f"{host.evaluate(REMOTE_WIDTHS_JS)} and {ole.evaluate(REMOTE_WIDTHS_JS)}")
        assert not any(paused)
        assert audio_rate(karen) > 60  # both publishers' Opus still arrive
        # Host and Ole still get each other's top layer (Karen's own uplink shares her
        # shaped link's RTCP, so her browser may send only its low layer now).
        for page, other in ((host, ole), (ole, host)):
            other_pid = other.evaluate("document.getElementById('tile-self').dataset.pid")
            assert page.evaluate(f"document.querySelector('#tiles .tile[data-pid=\"{other_pid}\"] video')"
                                 ".videoWidth") >= 640
