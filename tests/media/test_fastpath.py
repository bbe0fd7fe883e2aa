"""The compiled egress step (media/_rtpfast.c) writes, protects and sends exactly what the
Python steps would, and refuses what it cannot send."""
from __future__ import annotations

import socket
import time

import pylibsrtp
import pytest

from media import aiortc_hooks as hooks

KEY = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16-byte key + 14-byte salt
SSRC = 0x11223344


def sessions() -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    def session(kind: int) -> pylibsrtp.Session:
        return pylibsrtp.Session(policy=pylibsrtp.Policy(key=KEY, ssrc_type=kind))
    return session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND), session(pylibsrtp.Policy.SSRC_ANY_INBOUND)


def header() -> bytes:
    # RTP with a one-byte extension block: audio level (id 1) at 17, abs-send-time (id 3) at 19,
    # transport-wide sequence number (id 5) at 23.
    return (bytes([0x90, 0, 0, 0, 0, 0, 0, 0]) + SSRC.to_bytes(4, "big")
            + b"\xbe\xde\x00\x03" + b"\x10\x7f" + b"\x32\x00\x00\x00" + b"\x51\x00\x00" + b"\x00\x00\x00")


def test_the_worker_runs_the_compiled_step():
    assert hooks.FAST_PATH, "media/_rtpfast.c is not built: run `make` (python -m media.build_fastpath)"


def test_compiled_and_python_steps_send_the_same_packet():
    tx, rx = sessions()
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(2)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.setblocking(False)
    try:
        args = (header(), b"payload" * 100, 0x80 | 96, 0xBEEF, 0xDEADBEEF, 17, 0x85, 19, 0xABCDEF, 23)
        numbers = hooks._PyTwcc()
        numbers.next = 0xFFFF  # the next transport-wide number wraps to 0 after this one
        sent = hooks._python_rtp_writer(lambda data: out.sendto(tx.protect(data), listener.getsockname()),
                                        lambda: numbers)(*args)
        assert rx.unprotect(listener.recv(2048)) == sent
        assert sent[1] == 0x80 | 96 and sent[2:4] == b"\xbe\xef" and sent[4:8] == b"\xde\xad\xbe\xef"
        assert sent[17] == 0x85 and sent[19:22] == b"\xab\xcd\xef" and sent.endswith(b"payload")
        assert sent[23:25] == b"\xff\xff" and numbers.sent(0xFFFF)[1] == len(sent)
        args = args[:3] + (0xBEF0,) + args[4:]  # the next packet (SRTP refuses a replayed one)
        compiled = hooks._rtpfast.Twcc()
        plain = hooks._rtpfast.send_rtp(out.fileno(), hooks._rtpfast.sockaddr(*listener.getsockname()),
                                         hooks._srtp_context_address(tx), hooks._srtp_protect_address(), *args,
                                         compiled)
        assert plain == hooks._python_rtp_writer(lambda data: len(data), hooks._PyTwcc)(*args)
        assert rx.unprotect(listener.recv(2048)) == plain
        assert plain[23:25] == b"\0\0" and compiled.next == 1
        send_us, size = compiled.sent(0)
        assert size == len(plain) and abs(send_us - time.monotonic() * 1e6) < 1e6
        assert compiled.sent(1) is None and compiled.sent(-1) is None
    finally:
        listener.close()
        out.close()


def test_compiled_step_refuses_bad_input_without_sending():
    tx, _ = sessions()
    fast = hooks._rtpfast
    context, protect = hooks._srtp_context_address(tx), hooks._srtp_protect_address()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        address = fast.sockaddr("127.0.0.1", 9)
        with pytest.raises(ValueError):  # longer than one datagram may be
            fast.send_rtp(out.fileno(), address, context, protect, header(), b"x" * 1500, 96, 1, 1, 0, 0, 0, 0, 0, None)
        with pytest.raises(ValueError):  # an offset outside the header
            fast.send_rtp(out.fileno(), address, context, protect, header(), b"x", 96, 1, 1, 99, 0, 0, 0, 0, None)
        with pytest.raises(ValueError):
            fast.send_rtp(out.fileno(), address, 0, protect, header(), b"x", 96, 1, 1, 0, 0, 0, 0, 0, None)
        with pytest.raises(ValueError):  # a transport-wide number outside the header
            fast.send_rtp(out.fileno(), address, context, protect, header(), b"x", 96, 1, 1, 0, 0, 0, 0, 27,
                          fast.Twcc())
        with pytest.raises(ValueError):
            fast.sockaddr("not-an-address", 9)
        with pytest.raises(OSError):
            fast.send_rtp(-1, address, context, protect, header(), b"x", 96, 1, 1, 0, 0, 0, 0, 0, None)


def test_compiled_unprotect_gives_the_packet_back_and_drops_forgeries():
    tx, rx = sessions()
    fast, context = hooks._rtpfast, hooks._srtp_context_address(rx)
    unprotect = hooks._srtp_function_address("srtp_unprotect")
    plain = hooks._python_rtp_writer(lambda data: len(data), hooks._PyTwcc)(header(), b"voice", 111, 7, 1000, 17, 0x7F, 19, 0, 0)
    wire = tx.protect(plain)
    assert fast.unprotect(context, unprotect, wire) == plain
    assert fast.unprotect(context, unprotect, wire) is None  # a replay
    forged = tx.protect(hooks._python_rtp_writer(lambda data: len(data), hooks._PyTwcc)(header(), b"voice", 111, 8, 1000, 17, 0, 19, 0, 0))
    assert fast.unprotect(context, unprotect, forged[:-1] + bytes([forged[-1] ^ 1])) is None
    assert fast.unprotect(context, unprotect, b"\x80" * 70_000) is None  # longer than any RTP packet


def _fields(packet) -> tuple:
    e = packet.extensions
    return (packet.version, packet.marker, packet.payload_type, packet.sequence_number, packet.timestamp,
            packet.ssrc, packet.csrc, packet.payload, packet.padding_size, e.mid, e.repaired_rtp_stream_id,
            e.rtp_stream_id, e.abs_send_time, e.transmission_offset, e.audio_level, e.transport_sequence_number)


def test_compiled_parse_reads_packets_as_aiortc_does_and_refuses_the_same_garbage():
    import random

    from aiortc import rtp
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

    hooks.harden_rtp_parsing()
    uris = ["urn:ietf:params:rtp-hdrext:sdes:mid", "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
            "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time", "urn:ietf:params:rtp-hdrext:toffset",
            "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"]
    extensions_map = rtp.HeaderExtensionsMap()
    extensions_map.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=i + 1, uri=uri) for i, uri in enumerate(uris)]))
    ids = hooks.extension_id_tuple(extensions_map)
    assert ids == (1, 2, 3, 4, 5, 6, 7)
    sample = rtp.RtpPacket(payload_type=96, marker=1, sequence_number=65535, timestamp=4294967295,
                           ssrc=0xCAFEBABE, payload=b"frame" * 50)
    sample.csrc = [1, 0xFFFFFFFF]
    sample.extensions = rtp.HeaderExtensions(mid="0", rtp_stream_id="h", repaired_rtp_stream_id="h",
                                             abs_send_time=0xABCDEF, transmission_offset=-5,
                                             audio_level=(True, 42), transport_sequence_number=777)
    good = sample.serialize(extensions_map)
    rng = random.Random(12)
    datas = [good, good[:12] + b"", bytes([0xA0]) + good[1:] + b"\x00\x00\x03", b"\x80" * 11]
    for _ in range(3000):  # mutations of a real packet: flipped bytes, cut short, padding bits
        data = bytearray(good[:rng.randrange(1, len(good) + 1)])
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        datas.append(bytes(data))
    agreed = 0
    for data in datas:
        try:
            expected = _fields(rtp.RtpPacket.parse(data, extensions_map))
        except ValueError:
            expected = ValueError
        try:
            got = _fields(hooks._rtpfast.parse_rtp(data, rtp.RtpPacket, rtp.HeaderExtensions, ids))
        except ValueError:
            got = ValueError
        assert got == expected, data.hex()
        agreed += expected is not ValueError
    assert agreed > 100  # enough of them parse at all


def test_drain_notes_each_packets_transport_wide_number_and_arrival_for_the_feedback():
    tx, rx = sessions()
    fast = hooks._rtpfast
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.setblocking(False)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    plain: list[bytes] = []
    ingress = fast.Ingress()
    ingress.cores, ingress.raw, ingress.rtcp = {}, lambda *a: None, lambda *a: None
    ingress.plain = lambda data, arrival: plain.append(data)
    ingress.session, ingress.ctx = rx, hooks._srtp_context_address(rx)
    ingress.unprotect = hooks._srtp_function_address("srtp_unprotect")
    ingress.twcc_id = 5
    write = hooks._python_rtp_writer(lambda data: out.sendto(tx.protect(data), listener.getsockname()),
                                     lambda: None)
    try:
        def send(seq: int, number: int | None) -> None:
            head = bytearray(header())
            if number is None:
                head[22] = 0x61  # another extension (id 6) where the number was
            else:
                head[23:25] = number.to_bytes(2, "big")
            write(bytes(head), b"x" * 100, 96, seq, 0, 0, 0, 0, 0, 0)

        before = time.time() * 1e6
        for seq, number in enumerate([65534, 65535, 0, None, 1]):
            send(seq, number)
        time.sleep(0.05)
        assert fast.drain(listener.fileno(), ingress, 100) == 5 and len(plain) == 5
        noted = ingress.arrivals()
        assert [n for n, _ in noted] == [65534, 65535, 0, 1]
        assert all(before <= at <= time.time() * 1e6 for _, at in noted)
        assert ingress.arrivals() == []  # taken once
        for seq in range(5, 2600):  # more than MAX_ARRIVALS before anyone takes them
            send(seq, seq)
            if seq % 200 == 0:
                time.sleep(0.01)
                fast.drain(listener.fileno(), ingress, 1000)
        time.sleep(0.05)
        fast.drain(listener.fileno(), ingress, 1000)
        assert len(ingress.arrivals()) == hooks.MAX_ARRIVALS
    finally:
        listener.close()
        out.close()
