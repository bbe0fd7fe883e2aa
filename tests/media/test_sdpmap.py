"""Worker offers keep the numbers a real Chromium chose (one BUNDLE, no reassignment)."""

import asyncio
import re
from pathlib import Path

import pytest

from aiortc import RTCPeerConnection, RTCSessionDescription

from media.forward import SilentTrack
from media.peer import rtc_configuration
from media.aiortc_hooks import offer_tables as numbering
from media.sdpmap import tables_from

pytestmark = pytest.mark.timeout(30)
OFFER = (Path(__file__).parent / "data" / "chromium156_offer.sdp").read_text()


def meanings(sdp: str, pattern: str) -> dict[str, set[str]]:
    """number → every meaning it is given anywhere in the SDP."""
    out: dict[str, set[str]] = {}
    for number, meaning in re.findall(pattern, sdp):
        out.setdefault(number, set()).add(meaning)
    return out


def test_renegotiation_offer_reuses_the_browsers_ids_and_payload_types():
    async def scenario():
        pc = RTCPeerConnection(rtc_configuration([]))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=OFFER, type="offer"))
            tables = tables_from(pc)
            await pc.setLocalDescription(await pc.createAnswer())
            for kind in ("audio", "video"):
                pc.addTransceiver(SilentTrack(kind), direction="sendonly")
            with numbering(*tables):
                offer = await pc.createOffer()
            return offer.sdp
        finally:
            await pc.close()

    sdp = asyncio.run(scenario())
    browser_ext = meanings(OFFER, r"a=extmap:(\d+) (\S+)")
    worker_ext = meanings(sdp, r"a=extmap:(\d+) (\S+)")
    for number, uris in worker_ext.items():
        assert len(uris) == 1, f"extension id {number} means {uris}"
        assert browser_ext.get(number, uris) == uris
    browser_pt = meanings(OFFER, r"a=rtpmap:(\d+) (\S+)")
    worker_pt = meanings(sdp, r"a=rtpmap:(\d+) (\S+)")
    for number, codecs in worker_pt.items():
        assert len(codecs) == 1, f"payload type {number} means {codecs}"
        assert browser_pt.get(number, codecs) == codecs
    assert "a=rtpmap:96 VP8/90000" in sdp and "a=rtpmap:111 opus/48000/2" in sdp
    assert sdp.count("m=") == 4
