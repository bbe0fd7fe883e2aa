"""Strict parsing of web → worker messages."""

import json

import pytest

from media.messages import (MAX_SDP, Answer, Candidate, CloseRoom, Join, MessageError,
                            Offer, Ping, PolicyMsg, encode, parse)

pytestmark = pytest.mark.timeout(10)


def line(**obj) -> bytes:
    return json.dumps(obj).encode()


def test_valid_messages_parse_to_typed_objects():
    assert parse(line(type="join", room="r", pid="p")) == Join(room="r", pid="p")
    assert parse(line(type="offer", room="r", pid="p", sdp="v=0")) == Offer("r", "p", "v=0")
    assert parse(line(type="answer", room="r", pid="p", sdp="v=0")) == Answer("r", "p", "v=0")
    cand = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0"}
    assert parse(line(type="candidate", room="r", pid="p", candidate=cand)).candidate == cand
    assert parse(line(type="candidate", room="r", pid="p", candidate=None)) == Candidate("r", "p", None)
    assert parse(line(type="close_room", room="r")) == CloseRoom("r")
    assert parse(b'{"type":"ping"}') == Ping()


def test_policy_round_trips():
    msg = parse(line(type="policy", room="r", policy={
        "layout": "host_only", "one_way_video": True, "hosts": ["h"],
        "audio_blocked": ["g"], "video_blocked": []}))
    assert msg == PolicyMsg("r", "host_only", True, ["h"], ["g"], [])
    assert parse(encode(msg)) == msg


@pytest.mark.parametrize("raw, fragment", [
    (b"{nope", "JSON"),
    (b"[]", "object"),
    (line(type="dance"), "unknown message type"),
    (line(type="join", room="r"), "pid"),
    (line(type="join", room="r", pid=""), "pid"),
    (line(type="join", room="r", pid="x" * 65), "longer than 64"),
    (line(type="join", room=["r"], pid="p"), "room"),
    (line(type="offer", room="r", pid="p", sdp=5), "sdp"),
    (line(type="offer", room="r", pid="p", sdp="v" * (MAX_SDP + 1)), "larger"),
    (line(type="answer", room="r", pid="p", sdp="nonsense"), "v=0"),
    (line(type="candidate", room="r", pid="p", candidate="x"), "candidate"),
    (line(type="policy", room="r", policy={"layout": "cinema"}), "layout"),
    (line(type="policy", room="r", policy={"one_way_video": "yes"}), "one_way_video"),
    (line(type="policy", room="r", policy={"hosts": "h"}), "hosts"),
    (line(type="policy", room="r", policy={"hosts": [1]}), "hosts"),
    (b"[" * 100000 + b"]" * 100000, ""),
])
def test_invalid_messages_raise_message_error_only(raw, fragment):
    with pytest.raises(MessageError) as err:
        parse(raw)
    assert fragment in str(err.value)


def test_error_names_the_participant_when_known():
    with pytest.raises(MessageError) as err:
        parse(line(type="offer", room="r", pid="p", sdp=""))
    assert err.value.pid == "p"


def test_malformed_header_extension_is_a_value_error_after_hardening():
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

    from media.aiortc_hooks import harden_rtp_parsing

    harden_rtp_parsing()
    ids = HeaderExtensionsMap()
    ids.configure(RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(
        id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level")]))
    # one-byte header profile; id 1 (audio level, one byte) carrying two bytes, as when
    # a browser's id means another extension than the one negotiated
    header = bytes([0x90, 111, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1])
    ext = bytes([0xBE, 0xDE, 0, 1]) + bytes([0x11, 0x30, 0x31, 0x00])
    packet = header + ext + b"payload"
    with pytest.raises(ValueError):
        RtpPacket.parse(packet, ids)
