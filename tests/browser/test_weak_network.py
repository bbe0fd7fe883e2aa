"""A weak downlink: the page says its video is paused instead of showing a frozen picture."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from media import messages as m
from tests.browser.conftest import chromium, enter, host_pin, wait_js
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


def in_namespace(test: str, module: str = __file__) -> None:
    """Run `test` of `module` (default: this one) in a fresh private network namespace
    (pytest inside it)."""
    problem = _namespace_problem()
    if problem:
        pytest.skip(problem)
    env = {**os.environ, "MVC_OUTER_NETNS": os.readlink("/proc/self/ns/net"), INNER: "1"}
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {sys.executable} -m pytest "
         f"-x -q -s -n 0 -p no:cacheprovider {module}::{test}"],
        env=env, capture_output=True, text=True, timeout=280, cwd=ROOT)
    print("\n".join(line for line in done.stdout.splitlines() if line.startswith("weak:")))
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.timeout(300)
def test_page_on_a_really_weak_downlink_says_video_paused():
    """Three Chromium pages in a private network namespace; one page's downlink is cut to
    300 kbit/s by the kernel: that page (only) says its video is paused."""
    in_namespace("test_inside_namespace")


@pytest.mark.timeout(300)
def test_one_to_one_publisher_sends_less_when_the_other_page_has_a_weak_downlink():
    """Two Chromium pages in a private network namespace; the guest's downlink is cut to
    300 kbit/s: the host's browser brings its video bitrate down (its top layer)."""
    in_namespace("test_one_to_one_inside_namespace")


@pytest.mark.skipif(not os.environ.get(INNER), reason="run in a namespace by in_namespace()")
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


VIDEO_OUT_JS = """async (rid) => {
  let bytes = 0;
  (await window.MVCMedia.pc().getStats()).forEach(r => {
    if (r.type === 'outbound-rtp' && r.kind === 'video' && (!rid || r.rid === rid)) bytes += r.bytesSent || 0; });
  return [bytes, performance.now()];
}"""


def video_out_kbit(page, seconds: float = 2.0, rid: str | None = None) -> float:
    """The page's outgoing video bitrate (kbit/s) over `seconds`, from getStats() (of the
    simulcast layer `rid` only, if given)."""
    import time

    (b0, t0) = page.evaluate(VIDEO_OUT_JS, rid)
    time.sleep(seconds)
    (b1, t1) = page.evaluate(VIDEO_OUT_JS, rid)
    return 8 * (b1 - b0) / (t1 - t0)


def noise_clip(path: Path, width: int = 640, height: int = 360, frames: int = 15, amplitude: int = 128) -> Path:
    """A Y4M file of random noise: a fake camera whose video cannot be compressed much. With
    a small `amplitude`, grey with that much noise: an encoder meets any bitrate it is given
    (more noise kept at a higher one), as with a real camera's picture."""
    low = max(0, 128 - amplitude)
    table = bytes(min(255, low + b % (2 * amplitude + 1)) for b in range(256))
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F15:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + os.urandom(width * height * 3 // 2).translate(table))
    return path


@pytest.mark.skipif(not os.environ.get(INNER), reason="run in a namespace by in_namespace()")
def test_one_to_one_inside_namespace(media_server, tmp_path):
    assert in_private_namespace()
    pin = host_pin(media_server)
    url = f"{media_server.url}/m/demo"
    clip = noise_clip(tmp_path / "noise.y4m", amplitude=12)  # the encoder meets any bitrate
    with chromium(f"--use-file-for-fake-video-capture={clip}") as browser:
        host, karen = [browser.new_context(viewport={"width": 1280, "height": 800},
                                           permissions=["camera", "microphone"]).new_page()
                       for _ in range(2)]
        enter(host, url, "Nina", pin)
        enter(karen, url, "Karen Jensen")
        for page in (host, karen):
            wait_js(page, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video'))"
                          ".some(v => v.videoWidth > 0)", 30)
        # The host's top simulcast layer: the one the guest gets while it fits (the low one
        # goes to the worker whatever the guest's link).
        before = [video_out_kbit(host, rid="h")]
        while max(before) < 500 and len(before) < 30:  # Chrome ramps up (up to a minute)
            before.append(video_out_kbit(host, rid="h"))
        shape_port(int(karen.evaluate(LOCAL_PORT_JS)), "dport")
        low = max(before) / 2
        rates: list[float] = []
        while len(rates) < 8 and not (len(rates) >= 2 and max(rates[-2:]) < low):  # up to 16 s
            rates.append(video_out_kbit(host, rid="h"))
    print(f"weak: host video (top layer) {', '.join(f'{r:.0f}' for r in before)} kbit/s; after the "
          f"guest's link dropped to 300 kbit/s: {', '.join(f'{r:.0f}' for r in rates)}")
    # Two samples in a row (4 s) under half what it sent before (or none: the browser
    # dropped its top layer and the guest gets the low one): Chrome's own CPU adaptation
    # makes single samples jump on a busy machine.
    assert max(before) > 500 and max(rates[-2:]) < low, (before, rates)
