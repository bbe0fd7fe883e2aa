"""Simulcast's SDP, its keyframe boundaries and the layer each subscriber gets."""
from __future__ import annotations

import asyncio
import re

import pytest

from media import aiortc_hooks as hooks
from media.keyframes import starts_keyframe
from media.layers import Adaptation, LAYER_ACTIVE
from media.peer import Peer, rtc_configuration
from media.simulcast import MAX_LAYERS, SimulcastUp, offered_rids, with_simulcast

CHROME_VIDEO = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendrecv\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:1\r\na=sendrecv\r\n"
    "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
    "a=rid:l send\r\na=rid:h send\r\na=simulcast:send l;h\r\n"
)


def test_offered_layers_are_read_lowest_first_and_only_when_well_formed():
    assert offered_rids(CHROME_VIDEO) == {"1": ["l", "h"]}
    # Paused (~) and alternative (,) layers count by their first rid.
    assert offered_rids(CHROME_VIDEO.replace("send l;h", "send ~l;h,x")) == {"1": ["l", "h"]}
    # A rid without its a=rid line, a malformed rid, one layer, or too many: no simulcast.
    assert offered_rids(CHROME_VIDEO.replace("send l;h", "send l;zz")) == {}
    assert offered_rids(CHROME_VIDEO.replace("a=rid:h send", "a=rid:h\x00 send")) == {}
    assert offered_rids(CHROME_VIDEO.replace("send l;h", "send l")) == {}
    many = ";".join(f"r{i}" for i in range(MAX_LAYERS + 1))
    declared = "".join(f"a=rid:r{i} send\r\n" for i in range(MAX_LAYERS + 1))
    assert offered_rids(CHROME_VIDEO.replace("a=simulcast:send l;h\r\n", declared + f"a=simulcast:send {many}\r\n")) == {}
    # Not in an audio section, and not a section that only receives.
    assert offered_rids(CHROME_VIDEO.replace("m=video", "m=audio")) == {}


def test_our_sdp_accepts_the_layers_in_their_section_only():
    ours = ("v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n"
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=sendonly\r\n")
    out = with_simulcast(ours, {"1": ["l", "h"]})
    sections = out.split("m=")
    assert "a=rid:l recv\r\na=rid:h recv\r\na=simulcast:recv l;h\r\n" in sections[2]
    assert "rid" not in sections[1] + sections[3]
    assert with_simulcast(out, {"1": ["l", "h"]}) == out  # never twice
    assert with_simulcast(ours, {}) == ours


def vp8(start: bool, keyframe: bool, extended: bool = True) -> bytes:
    if extended:  # X, I (15-bit picture id), L, T/K
        descriptor = bytes([0x90 if start else 0x80, 0xE0, 0x80 | 0x12, 0x34, 0x05, 0x40])
    else:
        descriptor = bytes([0x10 if start else 0x00])
    return descriptor + bytes([0x00 if keyframe else 0x01, 0x9D, 0x01, 0x2A])


def test_keyframe_starts_are_found_in_vp8_and_h264():
    assert starts_keyframe("video/vp8", vp8(True, True))
    assert starts_keyframe("video/vp8", vp8(True, True, extended=False))
    assert not starts_keyframe("video/vp8", vp8(True, False))  # a delta frame
    assert not starts_keyframe("video/vp8", vp8(False, True))  # not the first packet
    assert not starts_keyframe("video/vp8", b"\x90")  # truncated
    sps, idr, slice_ = b"\x67\x42", b"\x65\x88", b"\x41\x9a"
    assert starts_keyframe("video/h264", sps) and starts_keyframe("video/h264", idr)
    assert not starts_keyframe("video/h264", slice_)
    stap_a = b"\x78" + len(sps).to_bytes(2, "big") + sps + len(idr).to_bytes(2, "big") + idr
    assert starts_keyframe("video/h264", stap_a)
    assert not starts_keyframe("video/h264", b"\x78\x00\x09\x67")  # a size past the end
    assert starts_keyframe("video/h264", b"\x7c\x85\x88")  # FU-A start of an IDR
    assert not starts_keyframe("video/h264", b"\x7c\x05\x88")  # FU-A, not its start
    assert not starts_keyframe("video/h264", b"")
    assert not starts_keyframe("audio/opus", vp8(True, True))


class FakeLayers:
    def __init__(self, n: int) -> None:
        self.layers = [object() for _ in range(n)]


def test_a_subscriber_gets_the_best_layer_being_sent_at_or_below_its_level():
    adaptation = Adaptation.__new__(Adaptation)  # only _layer and its state are used
    adaptation._seen = {}
    up = FakeLayers(3)
    now = 50.0
    # Nothing seen yet: the layer the level asks for.
    assert adaptation._layer(up, 0, 2, now) == 2
    assert adaptation._layer(up, 1, 2, now) == 1
    assert adaptation._layer(up, 5, 2, now) == 0  # never below the lowest
    adaptation._seen = {up.layers[0]: now, up.layers[1]: now - LAYER_ACTIVE - 1}
    # The browser stopped its middle and top layers: the low one, whatever the level.
    assert adaptation._layer(up, 0, 2, now) == 0
    adaptation._seen[up.layers[2]] = now
    assert adaptation._layer(up, 0, 2, now) == 2
    assert adaptation._layer(up, 1, 2, now) == 0  # the middle one is not being sent
    adaptation._seen = {up.layers[2]: now}
    assert adaptation._layer(up, 2, 2, now) == 2  # only the top one is sent: that one


def simulcast_offer() -> str:
    """The saved Chromium 156 offer, its camera section sending two layers (as media.js asks):
    rids instead of SSRC lines."""
    from pathlib import Path

    sdp = (Path(__file__).parent / "data" / "chromium156_offer.sdp").read_text()
    sections = re.split(r"(?=^m=)", sdp, flags=re.MULTILINE)
    at = next(i for i, section in enumerate(sections) if section.startswith("m=video"))
    head, video, rest = "".join(sections[:at]), sections[at], "".join(sections[at + 1:])
    eol = "\r\n" if "\r\n" in video else "\n"
    video = "".join(line + eol for line in video.splitlines() if not line.startswith("a=ssrc"))
    video += f"a=rid:l send{eol}a=rid:h send{eol}a=simulcast:send l;h{eol}"
    return head + video + rest


@pytest.mark.parametrize("fast", [True, False], ids=["c-core", "python-core"])
def test_a_simulcast_offer_gets_one_up_track_per_layer_and_an_answer_that_accepts_them(monkeypatch, fast):
    if fast and not hooks.FAST_PATH:
        pytest.skip("media/_rtpfast is not built (make fastpath)")
    if not fast:  # as on a machine without a compiler
        monkeypatch.setattr(hooks, "new_core", lambda: None)

    async def scenario():
        replies = []
        peer = Peer("room", "pid", rtc_configuration([]), replies.append)
        try:
            ups = await peer.handle_offer(simulcast_offer())
            return ups, replies
        finally:
            await peer.close()

    ups, replies = asyncio.run(scenario())
    camera = [up for up in ups if up.name == "video"]
    assert len(camera) == 1 and isinstance(camera[0], SimulcastUp)
    assert len(camera[0].layers) == 2 and [up.kind for up in ups].count("audio") == 1
    answer = replies[-1].sdp
    video = answer[answer.index("m=video"):]
    assert "a=rid:l recv" in video and "a=rid:h recv" in video and "a=simulcast:recv l;h" in video
    assert "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" in video
