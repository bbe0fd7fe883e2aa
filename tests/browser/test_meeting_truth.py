"""The meeting page tells the truth: names on remote tiles, who is speaking on every page,
the host's notice beside status lines, and marks on a tile from the moment it appears."""
from __future__ import annotations

import math
import struct
import wave

import pytest

from tests.browser.conftest import chromium, enter, host_pin, wait_js

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Chromium whose fake microphone plays a steady loud tone, so a speaker is found."""
    path = tmp_path_factory.mktemp("audio") / "tone.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(b"".join(struct.pack("<h", int(16000 * math.sin(2 * math.pi * 440 * i / 48000)))
                                 for i in range(48000 * 2)))
    with chromium(f"--use-file-for-fake-audio-capture={path}") as b:
        yield b


def remote_tile(pid: str) -> str:
    return f"#tiles .tile:not(.self)[data-pid='{pid}']"


def test_names_speaker_notice_and_marks(media_server, phone):
    url = f"{media_server.url}/m/demo"
    host, karen = phone(1280, 800), phone()
    enter(host, url, "Nina Sygeplejerske", host_pin(media_server))
    enter(karen, url, "Karen Jensen")
    for page in (host, karen):
        wait_js(page, "Array.from(document.querySelectorAll('#tiles .tile:not(.self) video')).some(v => v.videoWidth > 0)", 20)
    nina = host.evaluate("document.getElementById('meta').dataset.hosts").split()[0]
    karen_pid = karen.evaluate("document.getElementById('tile-self').dataset.pid")

    # Remote tiles carry the participant's name.
    wait_js(host, f"document.querySelector(\"{remote_tile(karen_pid)} figcaption\").textContent === 'Karen Jensen'")
    wait_js(karen, f"document.querySelector(\"{remote_tile(nina)} figcaption\").textContent === 'Nina Sygeplejerske'")

    # Karen goes quiet; Nina's tone makes her the speaker, and Karen's page shows it too.
    karen.click("#ctl-mic")
    karen.wait_for_selector("#ctl-mic[aria-pressed=false]")
    wait_js(karen, f"document.querySelector(\"{remote_tile(nina)}\").classList.contains('speaking')", 20)

    # The host's notice stays while a status line appears for the guest.
    host.fill("#notice-text", "Husk at drikke vand")
    host.press("#notice-text", "Enter")
    karen.wait_for_selector("#notice >> text=Husk at drikke vand")
    host.click("form:has(input[value=guests_unmute]) button")  # keep participants muted
    karen.wait_for_selector("#controls [data-action=mic][aria-disabled=true]")
    karen.focus("#ctl-mic")
    karen.keyboard.press("Enter")  # a dimmed button still says why it does nothing
    wait_js(karen, "document.getElementById('status').textContent.trim().length > 0")
    assert "Husk at drikke vand" in karen.inner_text("#notice")
    assert karen.locator("#notice").bounding_box() and karen.locator("#status").bounding_box()

    # A newcomer's tiles show the host mark and the raised hand as soon as they appear.
    karen.click("#ctl-hand")
    host.wait_for_selector("#hands >> text=Karen Jensen")
    ole = phone()
    enter(ole, url, "Ole Hansen")
    marks = wait_js(ole, f"""(() => {{
        const k = document.querySelector("{remote_tile(karen_pid)}"), n = document.querySelector("{remote_tile(nina)}");
        return k && n && {{hand: k.dataset.hand || null, host: n.classList.contains('host'),
                          name: k.querySelector('figcaption').textContent}};
    }})()""", 20, interval=0.02)
    assert marks == {"hand": "1", "host": True, "name": "Karen"}
    for page in (host, karen, ole):
        assert page.problems == []
