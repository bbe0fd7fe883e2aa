"""One contract test per hook in media.aiortc_hooks, against the pinned aiortc/aioice.

Most hooks are checked on a real forwarding worker (in this process, so its peers can be
inspected) between two aiortc bots; if an upgrade breaks a hook, its test here fails.
send_nack, rtx_payload_type and wrap_transport_send are held to their contract by
test_worker.py's NACK/RTX test (packets lost upstream are repaired).
"""

from __future__ import annotations

import asyncio
import socket

import aioice.ice
import aiortc.rtcpeerconnection as rtcpc
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTP_HISTORY_SIZE

from conftest import SECRET, free_udp_ports, until, worker_in_process
from media import aiortc_hooks as hooks
from media.bot import Bot
from media.forward import REPORTS

ROOM = "hooks-room"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


@pytest.fixture(scope="module")
def seen() -> dict:
    """Observations of every hook on a live worker forwarding a ↔ b."""
    out: dict = {}

    async def scenario():
        async with worker_in_process() as (worker, address):
            a, b = bots = [Bot(address, ROOM, pid, secret=SECRET) for pid in ("a", "b")]
            await asyncio.gather(*(x.join() for x in bots))
            a.send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
            await until(lambda: a.frames["b"] > 10 and b.frames["a"] > 10)
            room = worker.rooms[ROOM]
            peer = room.peers["a"]
            up = peer.ups["video"]
            down = room.peers["b"].downs[("a", "video")]
            t_video = next(t for t in peer.pc.getTransceivers() if t.receiver is up.receiver)
            t_audio = next(t for t in peer.pc.getTransceivers() if t.receiver is peer.ups["audio"].receiver)
            out["sockets"] = [(s.type, s.getsockname()[0]) for s in hooks.udp_sockets(peer.pc)]
            out["remote"] = [c.host for c in hooks.remote_candidates(peer.pc)]
            out["targets"] = hooks.check_targets(peer.pc)
            out["direction"] = hooks.offer_direction(t_video)
            out["codecs"] = [c.mimeType for c in hooks.negotiated_codecs(t_video)]
            out["extensions"] = [e.uri for e in hooks.negotiated_extensions(t_audio)]
            state = hooks.receiver_state(up.receiver)
            out["state"] = state
            out["rtcp_ssrc"] = hooks.receiver_rtcp_ssrc(up.receiver)
            out["up_packets"] = up.packets
            # drain(): most of a's packets are forwarded in C; the receive statistics aiortc's
            # reports read, and the transport's counts, still see every one of them
            out["fast_in"], out["fast_out"] = hooks.fast_counters()
            stream = state.remote_streams[up._media_ssrc]
            out["stream"] = (type(stream).__name__, stream.packets_received, stream.packets_expected,
                             stream.jitter, up.packets)
            transport = next(s for s in (await peer.pc.getStats()).values() if s.type == "transport")
            out["transport_packets"] = transport.packetsReceived
            out["history"] = len(hooks.rtp_history(down.sender))
            # raw_rtp_history: bytes kept, an RtpPacket handed to aiortc's NACK handling
            history = hooks.rtp_history(down.sender)
            key, raw = next(iter(dict(history).items()))
            out["history_raw"] = isinstance(raw, bytes)
            kept = history.get(key)
            out["history_packet"] = (kept.sequence_number % RTP_HISTORY_SIZE == key,
                                     kept.ssrc == hooks.sender_ssrc(down.sender),
                                     kept.extensions.mid == down._mid)
            got: list[tuple[int, int]] = []  # (payload type, sequence number) at b
            b_video = next(t.receiver for t in b.pc.getTransceivers()
                           if t.receiver.track and t.receiver.track.kind == "video")

            def spy(previous):
                async def handle(packet, arrival_time_ms):
                    got.append((packet.payload_type, packet.sequence_number))
                    await previous(packet, arrival_time_ms)
                return handle

            hooks.replace_rtp_handler(b_video, spy)
            await down.sender._retransmit(kept.sequence_number)  # as on a NACK from b
            rtx = hooks.rtx_payload_type(down.sender)
            await until(lambda: any(pt == rtx for pt, _ in got), what="retransmission (RTX)")
            ids = hooks.extension_ids(down.sender)
            out["extension_ids"] = (ids.mid, ids.abs_send_time)
            out["direct"] = getattr(up.receiver.transport, "_mvc_direct", {}).get(up.receiver)
            protocols = up.receiver.transport.transport._connection._protocols
            selector = asyncio.get_running_loop()._selector
            out["socket_path"] = [
                (p.datagram_received.__qualname__.split(".")[0],
                 selector.get_key(p.transport._sock_fd).data[0]._callback.__qualname__.split(".")[0])
                for p in protocols]
            # rtp_sender: one plain call puts one SRTP packet on the wire to b (a fresh
            # sequence number, which the forwarded stream then skips)
            seq = (down._last_seq + 1) & 0xFFFF
            down.target.seq_offset = (down.target.seq_offset + 1) & 0xFFFF
            hooks.rtp_sender(down.sender)(raw[:2] + seq.to_bytes(2, "big") + raw[4:])
            await until(lambda: any(s == seq for _, s in got), what="direct send")
            out["direct_send"] = True
            out["down_codec"] = down._codec
            out["stream_id"] = hooks.stream_id(down.sender)
            out["ssrc_seen_by_b"] = f"a=ssrc:{hooks.sender_ssrc(down.sender)} " in b.pc.remoteDescription.sdp
            stats = await down.sender.getStats()
            out["packets_sent"] = sum(getattr(s, "packetsSent", 0) for s in stats.values()
                                      if s.type == "outbound-rtp")
            # PLI upstream reaches the publisher's on_picture_loss hook (bot: restart its clip)
            restarts = []
            video = a.tracks[0]
            hooks.on_picture_loss(next(s for s in a.pc.getSenders() if s.track is video),
                                  lambda: restarts.append(1))
            await hooks.send_pli(up.receiver, up._media_ssrc)
            await hooks.send_nack(up.receiver, up._media_ssrc, [1])
            await until(lambda: restarts, what="PLI delivered")
            out["pli"] = len(restarts)
            # the bot's wrap_next_encoded_frame tags audio levels the worker reads
            a.level, b.level = 10, 127
            await until(lambda: room.speaker.current == "a", what="a speaking")
            out["speaker"] = room.speaker.current
            # on_sender_rtcp: b's receiver reports and REMB reach the worker's down sender
            # (the worker's room hooks every down track; b's bot reports like a browser)
            feedback = room.adaptation.feedback["b"]
            await until(lambda: feedback.remb is not None and feedback.reports > 2,
                        what="b's RTCP feedback at the worker")
            out["feedback_reports"] = feedback.reports
            # report_senders_together: b gets the worker's sender reports for a's video (with
            # the counts of what was sent) and the worker works out the round trip from b's
            # receiver reports
            async def reports():
                theirs = [s for s in (await b_video.getStats()).values() if s.type == "remote-outbound-rtp"]
                ours = [s for s in (await down.sender.getStats()).values() if s.type == "remote-inbound-rtp"]
                return theirs, ours

            async def reported():
                theirs, ours = await reports()
                return bool(theirs and theirs[0].packetsSent > 10 and ours and ours[0].roundTripTime is not None)

            for _ in range(50):
                if await reported():
                    break
                await asyncio.sleep(0.1)
            theirs, ours = await reports()
            out["sender_reports"] = (theirs[0].packetsSent if theirs else 0, down.target.packets,
                                     ours[0].roundTripTime if ours else None, len(REPORTS.downs))
            out["octets"] = hooks.sender_octets(down.sender)
            # wrap_datagrams_received: every datagram b receives passes the wrapper
            got = []

            def count(original):
                def received(data, addr):
                    got.append(len(data))
                    original(data, addr)
                return received

            out["wrapped"] = hooks.wrap_datagrams_received(b.pc, count)
            before = b.packets
            await until(lambda: len(got) > 10 and b.packets > before + 10, what="wrapped datagrams")
            await asyncio.gather(*(x.leave() for x in bots))

    asyncio.run(scenario())
    return out


def test_versions_are_checked():
    hooks.check_versions()
    with pytest.raises(RuntimeError, match="re-check every hook"):
        hooks.check_versions({"aiortc": "9.9.9", "aioice": hooks.PINNED["aioice"]})


def test_udp_sockets_are_the_connections_sockets(seen):
    assert seen["sockets"] and all(t == socket.SOCK_DGRAM and h == "127.0.0.1" for t, h in seen["sockets"])


def test_remote_candidates_and_check_targets(seen):
    assert "127.0.0.1" in seen["remote"]
    assert seen["targets"] and all(host == "127.0.0.1" for host, _ in seen["targets"])


def test_offer_direction_and_negotiated_parameters(seen):
    assert seen["direction"] in ("sendrecv", "sendonly")
    assert seen["codecs"][0] == "video/VP8"
    assert AUDIO_LEVEL in seen["extensions"]


def test_receiver_state_is_live(seen):
    state = seen["state"]
    assert any(c.mimeType == "video/VP8" for c in state.codecs.values())
    assert state.remote_streams and state.active_ssrc  # filled by our handler
    assert state.nack_generator is not None
    assert isinstance(seen["rtcp_ssrc"], int)


def test_replaced_rtp_handler_gets_the_packets(seen):
    assert seen["up_packets"] > 10


def test_sender_hooks_carry_forwarded_packets(seen):
    assert seen["history"] > 0  # rtp_history: kept for NACKs
    assert seen["down_codec"] is not None  # after_send_started
    assert seen["stream_id"] == "a"  # set_stream_ids
    assert seen["ssrc_seen_by_b"]  # sender_ssrc
    assert seen["packets_sent"] > 10  # rtp_sender + sync_sent (RTCP sender reports)


def test_direct_packet_path_hooks(seen):
    assert seen["history_raw"] and seen["history_packet"] == (True, True, True)
    assert all(seen["extension_ids"])  # extension_ids: mid and abs-send-time negotiated with b
    assert callable(seen["direct"])  # handle_rtp_directly: installed on the DTLS transport
    assert seen["up_packets"] > 10  # ... and the packets reached it
    # ... and media skips the STUN parse, one readiness event reading every queued datagram
    assert seen["socket_path"] and set(seen["socket_path"]) == {
        ("_skip_stun_parse_for_media", "_draining_reader")}
    assert seen["direct_send"]  # rtp_sender


def test_most_packets_are_forwarded_in_c_and_still_counted(seen):
    if not hooks.FAST_PATH:
        pytest.skip("media/_rtpfast is not built (make fastpath)")
    assert seen["fast_in"] > seen["up_packets"] // 2 and seen["fast_out"] > seen["up_packets"] // 2
    kind, received, expected, jitter, up_packets = seen["stream"]
    assert kind == "CoreStats"  # the receiver's statistics for a's video live in its core
    assert received == expected and abs(received - up_packets) <= 2  # nothing lost on loopback
    assert 0 <= jitter < 9000  # 90 kHz: under 0.1 s
    assert seen["transport_packets"] >= up_packets  # what drain() took counts for the transport


def test_sender_reports_go_out_together_and_give_a_round_trip(seen):
    if not hooks.FAST_PATH:
        pytest.skip("media/_rtpfast is not built (make fastpath)")
    sent_in_report, sent, rtt, reporting = seen["sender_reports"]
    assert 10 < sent_in_report <= sent  # the last report's count, at most what was sent since
    assert rtt is not None and 0 <= rtt < 0.5  # loopback
    assert reporting >= 4  # a's and b's audio and video down tracks, on one timer


def test_sender_report_is_aiortcs():
    from aiortc.rtp import RtcpSenderInfo, RtcpSrPacket

    class Fake:
        _ssrc = 0x11223344
        _RTCRtpSender__ntp_timestamp = 0xE1234567_89ABCDEF
        _RTCRtpSender__rtp_timestamp = 0xDEADBEEF
        _RTCRtpSender__packet_count = (1 << 32) + 12345  # wraps as aiortc's does
        _RTCRtpSender__octet_count = 987654321

    expected = bytes(RtcpSrPacket(ssrc=Fake._ssrc, sender_info=RtcpSenderInfo(
        ntp_timestamp=Fake._RTCRtpSender__ntp_timestamp, rtp_timestamp=Fake._RTCRtpSender__rtp_timestamp,
        packet_count=12345, octet_count=987654321)))
    assert hooks.sender_report(Fake()) == expected


def test_clock_matches_aiortcs():
    from aiortc import clock

    assert abs(hooks.current_ms() - clock.current_ms()) < 50
    assert abs((hooks.current_ntp_time() >> 32) - (clock.current_ntp_time() >> 32)) <= 1


def test_picture_loss_and_nack_reach_the_publisher(seen):
    assert seen["pli"] >= 1  # send_pli → on_picture_loss (send_nack: test_worker's NACK test)


def test_wrapped_frame_source_tags_audio_levels(seen):
    assert seen["speaker"] == "a"


def test_sender_rtcp_and_octets_carry_subscriber_feedback(seen):
    assert seen["feedback_reports"] > 2  # on_sender_rtcp: REMB and receiver reports
    assert seen["octets"] > 10_000  # sender_octets: what the worker sent b for a's video


def test_wrapped_datagrams_are_what_the_connection_receives(seen):
    assert seen["wrapped"] == 1  # one bundled loopback socket


def test_use_loopback_only():
    hooks.use_loopback_only()
    assert aioice.ice.get_host_addresses(True, True) == ["127.0.0.1"]


def test_kinds_hidden_keeps_a_transceiver_out_of_m_line_matching():
    async def scenario():
        offerer, answerer = RTCPeerConnection(), RTCPeerConnection()
        offerer.addTransceiver("video", direction="sendonly")
        mine = answerer.addTransceiver("video", direction="sendonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        with hooks.kinds_hidden([mine]):
            assert mine.kind == "pending"
            await answerer.setRemoteDescription(offerer.localDescription)
        assert mine.kind == "video" and mine.mid is None
        assert len(answerer.getTransceivers()) == 2
        await asyncio.gather(offerer.close(), answerer.close())

    asyncio.run(scenario())


def test_offer_tables_swap_the_module_globals_and_restore_them():
    before = rtcpc.CODECS, rtcpc.HEADER_EXTENSIONS
    mine = {"audio": [], "video": []}, {"audio": [], "video": []}
    with hooks.offer_tables(*mine):
        assert (rtcpc.CODECS, rtcpc.HEADER_EXTENSIONS) == mine
    assert (rtcpc.CODECS, rtcpc.HEADER_EXTENSIONS) == before


def test_is_codec_compatible():
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
    h264 = next(c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264")
    assert hooks.is_codec_compatible(vp8, RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=120))
    assert not hooks.is_codec_compatible(vp8, RTCRtpCodecParameters(
        mimeType=h264.mimeType, clockRate=h264.clockRate, payloadType=102, parameters=h264.parameters))


def test_malformed_header_extension_is_a_value_error_after_hardening():
    from aiortc.rtp import HeaderExtensionsMap, RtpPacket
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters

    from media.aiortc_hooks import harden_rtp_parsing  # noqa: F811

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


def test_bind_media_ports_keeps_host_candidates_in_the_range_and_refuses_past_it():
    ports = free_udp_ports(2)

    async def scenario():
        connections = [aioice.ice.Connection(ice_controlling=True) for _ in range(3)]
        try:
            for c in connections[:2]:
                await c.gather_candidates()
            with pytest.raises(hooks.PortsExhausted, match=f"MVC_MEDIA_PORTS {ports[0]}-{ports[-1]}"):
                await connections[2].gather_candidates()
            return sorted(c.local_candidates[0].port for c in connections[:2])
        finally:
            for c in connections:
                await c.close()

    hooks.bind_media_ports(ports)
    try:
        assert asyncio.run(scenario()) == list(ports)
    finally:
        hooks.bind_media_ports(None)
    assert aioice.ice.asyncio is asyncio


def test_announce_address_writes_the_address_into_host_candidates():
    async def scenario():
        connection = aioice.ice.Connection(ice_controlling=True)
        try:
            await connection.gather_candidates()
            return [(c.type, c.host) for c in connection.local_candidates]
        finally:
            await connection.close()

    hooks.announce_address("203.0.113.7", loopback_only=True)
    try:
        assert asyncio.run(scenario()) == [("host", "203.0.113.7")]
    finally:
        hooks.announce_address(None)
    assert asyncio.run(scenario()) == [("host", "127.0.0.1")]


def test_a_gathering_that_runs_out_of_ports_half_way_closes_what_it_bound():
    ports = free_udp_ports(1)
    saved = aioice.ice.get_host_addresses

    async def scenario():
        connection = aioice.ice.Connection(ice_controlling=True)
        with pytest.raises(hooks.PortsExhausted):
            await connection.gather_candidates()  # two addresses, one port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", ports[0]))  # free again
        await connection.close()

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1", "127.0.0.1"]
    hooks.bind_media_ports(ports)
    try:
        asyncio.run(scenario())
    finally:
        hooks.bind_media_ports(None)
        aioice.ice.get_host_addresses = saved


def test_run_now_finishes_a_handler_at_once_or_in_a_task_when_it_waits():
    """handle_rtcp_directly runs aiortc's RTCP handlers with run_now: a handler that never waits is done
    before run_now returns; one that waits (a retransmission that has to) is finished on the loop."""
    done: list[str] = []

    async def quick():
        done.append("quick")

    async def waits(fut):
        done.append("started")
        done.append(await fut)

    async def scenario():
        hooks.run_now(quick())
        assert done == ["quick"]
        fut = asyncio.get_running_loop().create_future()
        hooks.run_now(waits(fut))
        assert done == ["quick", "started"]
        asyncio.get_running_loop().call_later(0.01, fut.set_result, "resumed")
        await until(lambda: len(done) == 3, 2)
        assert done == ["quick", "started", "resumed"]

    asyncio.run(scenario())
