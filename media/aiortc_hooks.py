"""Every aiortc/aioice internal the media package relies on, in one place.

aiortc has no public API for packet-level forwarding, so the worker (and the test bot)
reach into private attributes, replace methods and swap module globals. All of that
lives here, behind small functions, and is checked against the pinned versions: on any
other aiortc/aioice this module refuses to load, and tests/media/test_aiortc_hooks.py
holds one contract test per hook. After an upgrade, re-run those tests, fix the hooks
here, then raise PINNED.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import aioice
import aioice.ice
import aiortc
import aiortc.codecs
import aiortc.rtcdtlstransport as rtcdtls
import aiortc.rtcpeerconnection as rtcpc
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, rtp
from aiortc.rtcrtpparameters import (RTCRtcpFeedback, RTCRtpCodecParameters,
                                     RTCRtpHeaderExtensionParameters)
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from . import twcc

PINNED = {"aiortc": "1.16.0", "aioice": "0.13.0"}  # keep equal to requirements.txt


def check_versions(found: dict[str, str] | None = None) -> None:
    """Raise RuntimeError unless the installed aiortc/aioice are the pinned ones."""
    found = found or {"aiortc": aiortc.__version__, "aioice": aioice.__version__}
    wrong = {k: v for k, v in found.items() if PINNED.get(k) != v}
    if wrong:
        raise RuntimeError(
            f"media.aiortc_hooks is written for {PINNED}, found {found}: re-check every "
            "hook (tests/media/test_aiortc_hooks.py) before changing PINNED")


check_versions()


# -- process-wide patches -------------------------------------------------------------
def harden_rtp_parsing() -> None:
    """Turn aiortc's struct.error on a malformed header extension into the ValueError
    its transport already drops, instead of an exception that ends the connection."""
    original = rtp.HeaderExtensionsMap.get

    def get(self: rtp.HeaderExtensionsMap, profile: int, value: bytes) -> rtp.HeaderExtensions:
        try:
            return original(self, profile, value)
        except struct.error as exc:
            raise ValueError(f"malformed RTP header extension: {exc}") from None

    if not getattr(rtp.HeaderExtensionsMap.get, "hardened", False):
        get.hardened = True  # type: ignore[attr-defined]
        rtp.HeaderExtensionsMap.get = get  # type: ignore[method-assign]


STREAM_ID_URIS = ("urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
                  "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id")


def negotiate_stream_ids() -> None:
    """Accept the rtp-stream-id header extensions for video (aiortc parses them but does not
    offer or accept them): each simulcast layer's packets carry its rid (media.simulcast)."""
    video = aiortc.codecs.HEADER_EXTENSIONS["video"]
    known = {ext.uri for ext in video}
    for uri in STREAM_ID_URIS:
        if uri not in known:
            video.append(RTCRtpHeaderExtensionParameters(id=max(e.id for e in video) + 1, uri=uri))


def negotiate_transport_cc() -> None:
    """Offer and accept transport-wide congestion control (aiortc writes and parses the header
    extension but neither offers nor accepts it, nor the transport-cc feedback). The worker
    numbers what it sends and estimates each subscriber's downlink from its feedback, and
    tells each publisher when its numbered packets arrived (media.twcc, media.peer)."""
    for kind in ("audio", "video"):
        extensions = aiortc.codecs.HEADER_EXTENSIONS[kind]
        if all(ext.uri != twcc.TRANSPORT_CC_URI for ext in extensions):
            extensions.append(RTCRtpHeaderExtensionParameters(id=max(e.id for e in extensions) + 1,
                                                              uri=twcc.TRANSPORT_CC_URI))
        for codec in aiortc.codecs.CODECS[kind]:
            if codec.name.lower() != "rtx" and all(fb.type != "transport-cc" for fb in codec.rtcpFeedback):
                codec.rtcpFeedback.append(RTCRtcpFeedback(type="transport-cc"))


def use_loopback_only() -> None:
    """Make aioice gather only 127.0.0.1 host candidates (tests, single-machine setups)."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


# -- ICE ports and the announced address ----------------------------------------------
log = logging.getLogger("media.ports")
rtcp_log = logging.getLogger("media.rtcp")
_ORIGINAL = {"asyncio": aioice.ice.asyncio,
             "get_component_candidates": aioice.ice.Connection.get_component_candidates}


class PortsExhausted(RuntimeError):
    """Every UDP port of the worker's media range is taken (not an OSError: aioice would
    swallow that and offer no candidate at all; this one fails the answer with a reason)."""


class _PortPicker:
    """Binds UDP sockets to the next free port of a fixed range (round robin)."""

    def __init__(self, ports: range) -> None:
        self.ports = ports
        self.next = 0

    def bind(self, address: str) -> socket.socket:
        """A non-blocking UDP socket bound to `address` and a free port of the range."""
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
        for _ in range(len(self.ports)):
            port = self.ports[self.next]
            self.next = (self.next + 1) % len(self.ports)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((address, port))
            except OSError as exc:
                sock.close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            sock.setblocking(False)
            return sock
        message = (f"no free UDP port left in MVC_MEDIA_PORTS {self.ports.start}-"
                   f"{self.ports.stop - 1} on {address}: widen the range or add a media worker")
        log.error(message)
        raise PortsExhausted(message)


class _RangeLoop:
    """The running loop, except that sockets asked for on port 0 bind inside the range.

    aioice asks for the loop once per gathering, so one instance sees one gathering: when
    the range runs out half-way, it closes the sockets it already made (aioice would not
    know them, the exception ends its loop before it records them).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, picker: _PortPicker) -> None:
        self._loop, self._picker = loop, picker
        self._made: list[asyncio.BaseTransport] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, factory: Any, local_addr: Any = None,
                                       **kwargs: Any) -> Any:
        if local_addr is None or local_addr[1] != 0 or kwargs:
            return await self._loop.create_datagram_endpoint(factory, local_addr=local_addr, **kwargs)
        try:
            sock = self._picker.bind(local_addr[0])
        except PortsExhausted:
            for transport in self._made:
                transport.close()
            raise
        transport, protocol = await self._loop.create_datagram_endpoint(factory, sock=sock)
        self._made.append(transport)
        return transport, protocol


class _AsyncioInRange:
    """aioice.ice's `asyncio`, whose running loop binds host candidates inside the range."""

    def __init__(self, picker: _PortPicker) -> None:
        self._picker = picker

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> _RangeLoop:
        return _RangeLoop(asyncio.get_running_loop(), self._picker)


def bind_media_ports(ports: range | None) -> None:
    """Make aioice bind every host candidate's UDP socket inside `ports` (None: any port).

    aioice binds one socket per host address with `local_addr=(address, 0)` through
    `asyncio.get_running_loop().create_datagram_endpoint` inside
    `Connection.get_component_candidates`; its module's `asyncio` is replaced by one
    whose loop turns port 0 into the next free port of the range. Ports another process
    holds are skipped, so workers on one machine may share a range.
    """
    aioice.ice.asyncio = _AsyncioInRange(_PortPicker(ports)) if ports else _ORIGINAL["asyncio"]


def announce_address(address: str | None, loopback_only: bool = False) -> None:
    """Offer `address` (a 1:1 NAT's public or the LAN address) in every host candidate.

    The worker then gathers one host candidate on the wildcard address (every interface;
    127.0.0.1 in loopback-only mode) and writes `address` into it, as mediasoup's
    announcedIp does. None restores aioice's own gathering.
    """
    original = _ORIGINAL["get_component_candidates"]
    if address is None:
        aioice.ice.Connection.get_component_candidates = original
        return
    bind_to = "127.0.0.1" if loopback_only else ("::" if ":" in address else "0.0.0.0")

    async def get_component_candidates(self: aioice.ice.Connection, component: int,
                                       addresses: list[str], timeout: int = 5) -> list[Any]:
        candidates = await original(self, component, [bind_to], timeout)
        for candidate in candidates:
            if candidate.type == "host":
                candidate.host = address
        return candidates

    aioice.ice.Connection.get_component_candidates = get_component_candidates  # type: ignore


@contextlib.contextmanager
def offer_tables(codecs: dict[str, list[RTCRtpCodecParameters]],
                 extensions: dict[str, list[RTCRtpHeaderExtensionParameters]]) -> Iterator[None]:
    """Let aiortc write offers with these codec/extension tables (createOffer never awaits inside)."""
    saved = rtcpc.CODECS, rtcpc.HEADER_EXTENSIONS
    rtcpc.CODECS, rtcpc.HEADER_EXTENSIONS = codecs, extensions
    try:
        yield
    finally:
        rtcpc.CODECS, rtcpc.HEADER_EXTENSIONS = saved


is_codec_compatible: Callable[[RTCRtpCodecParameters, RTCRtpCodecParameters], bool] = \
    rtcpc.is_codec_compatible


# -- peer connection and transceivers -------------------------------------------------
def udp_sockets(pc: RTCPeerConnection) -> Iterator[socket.socket]:
    """The UDP sockets of the connection's ICE transports."""
    for t in pc.getTransceivers():
        for protocol in t.receiver.transport.transport._connection._protocols:
            sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
            if sock is not None:
                yield sock


def remote_candidates(pc: RTCPeerConnection) -> list[Any]:
    """The remote candidates aioice holds (and would send connectivity checks to)."""
    out: list[Any] = []
    for t in pc.getTransceivers():
        connection = t.receiver.transport.transport._connection
        out += [c for c in connection._remote_candidates if c not in out]
    return out


def check_targets(pc: RTCPeerConnection) -> list[tuple[str, int]]:
    """Addresses of aioice's check list (where STUN checks go)."""
    return sorted({(p.remote_candidate.host, p.remote_candidate.port)
                   for t in pc.getTransceivers()
                   for p in t.receiver.transport.transport._connection._check_list})


@contextlib.contextmanager
def kinds_hidden(transceivers: Iterable[RTCRtpTransceiver]) -> Iterator[None]:
    """Hide transceivers from aiortc's m-line matching while applying a remote offer.

    aiortc gives a new remote m-line to any same-kind transceiver without a mid; this
    keeps the worker's not-yet-offered down transceivers out of that.
    """
    hidden = [(t, t.kind) for t in transceivers]
    for t, _ in hidden:
        t._RTCRtpTransceiver__kind = "pending"  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for t, kind in hidden:
            t._RTCRtpTransceiver__kind = kind  # type: ignore[attr-defined]


def offer_direction(t: RTCRtpTransceiver) -> str | None:
    """The direction the remote side offered for this transceiver."""
    return t._offerDirection


def negotiated_codecs(t: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    """The codecs negotiated for this transceiver (the remote side's payload types)."""
    return t._codecs


def negotiated_extensions(t: RTCRtpTransceiver) -> list[RTCRtpHeaderExtensionParameters]:
    """The header extensions negotiated for this transceiver."""
    return t._headerExtensions


# -- receivers ----------------------------------------------------------------------
@dataclass
class ReceiverState:
    """The receiver's own tables, shared by reference (aiortc keeps filling them)."""

    codecs: dict[int, RTCRtpCodecParameters]
    rtx_ssrc: dict[int, int]
    remote_streams: dict[int, Any]
    active_ssrc: dict[int, Any]
    nack_generator: Any
    remote_bitrate_estimator: Any


def receiver_state(r: RTCRtpReceiver) -> ReceiverState:
    """The private tables of a receiver."""
    return ReceiverState(
        codecs=r._RTCRtpReceiver__codecs,  # type: ignore[attr-defined]
        rtx_ssrc=r._RTCRtpReceiver__rtx_ssrc,  # type: ignore[attr-defined]
        remote_streams=r._RTCRtpReceiver__remote_streams,  # type: ignore[attr-defined]
        active_ssrc=r._RTCRtpReceiver__active_ssrc,  # type: ignore[attr-defined]
        nack_generator=r._RTCRtpReceiver__nack_generator,  # type: ignore[attr-defined]
        remote_bitrate_estimator=r._RTCRtpReceiver__remote_bitrate_estimator,  # type: ignore
    )


def receiver_rtcp_ssrc(r: RTCRtpReceiver) -> int | None:
    """The SSRC the receiver uses for its own RTCP (None before it starts)."""
    return r._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]


RtpHandler = Callable[[rtp.RtpPacket, int], Awaitable[None]]


def replace_rtp_handler(r: RTCRtpReceiver, handle: Callable[[RtpHandler], RtpHandler]) -> None:
    """Route the receiver's incoming RTP to handle(original)(packet, arrival_time_ms)."""
    r._handle_rtp_packet = handle(r._handle_rtp_packet)  # type: ignore[method-assign]


def send_rtcp(r: RTCRtpReceiver, packet: Any) -> Awaitable[None]:
    """Send one RTCP packet from the receiver."""
    return r._send_rtcp(packet)


def send_nack(r: RTCRtpReceiver, ssrc: int, lost: list[int]) -> Awaitable[None]:
    """Ask the sender of `ssrc` to retransmit `lost` sequence numbers."""
    return r._send_rtcp_nack(ssrc, lost)


def send_pli(r: RTCRtpReceiver, ssrc: int) -> Awaitable[None]:
    """Ask the sender of `ssrc` for a keyframe."""
    return r._send_rtcp_pli(ssrc)


# -- senders ------------------------------------------------------------------------
def rtp_history(sender: RTCRtpSender) -> dict[int, rtp.RtpPacket]:
    """The sender's retransmission history (seq % RTP_HISTORY_SIZE → packet), answered on NACK."""
    return sender._RTCRtpSender__rtp_history  # type: ignore[attr-defined]


def sender_ssrc(sender: RTCRtpSender) -> int:
    """The SSRC the sender sends with."""
    return sender._ssrc


def after_send_started(sender: RTCRtpSender,
                       then: Callable[[Any], Awaitable[None]]) -> None:
    """Call then(parameters) once aiortc has started the sender with its parameters."""
    original = sender.send

    async def send(parameters: Any) -> None:
        await original(parameters)
        await then(parameters)

    sender.send = send  # type: ignore[method-assign]


def on_picture_loss(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call callback() when the receiving side reports picture loss (PLI/FIR)."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


def set_stream_ids(sender: RTCRtpSender, stream_id: str, track_id: str) -> None:
    """The msid (stream id, track id) aiortc writes for this sender in the next SDP."""
    sender._stream_id = stream_id
    sender._track_id = track_id


def wrap_next_encoded_frame(sender: RTCRtpSender,
                            wrap: Callable[[Callable[[Any], Awaitable[Any]]], Callable[[Any], Awaitable[Any]]]) -> None:
    """Replace the sender's frame source by wrap(original) (the bot tags audio levels)."""
    sender._next_encoded_frame = wrap(sender._next_encoded_frame)  # type: ignore[method-assign]


def stream_id(sender: RTCRtpSender) -> str:
    """The msid stream id aiortc writes for this sender."""
    return sender._stream_id


def rtx_payload_type(sender: RTCRtpSender) -> int | None:
    """The payload type the sender uses for retransmissions (tests: telling RTX apart)."""
    return sender._RTCRtpSender__rtx_payload_type  # type: ignore[attr-defined]


def wrap_transport_send(sender: RTCRtpSender,
                        wrap: Callable[[Callable[[bytes], Awaitable[None]]], Callable[[bytes], Awaitable[None]]]) -> None:
    """Route every RTP packet the sender's transport sends through wrap(original) (tests: loss)."""
    transport = sender.transport
    transport._send_rtp = wrap(transport._send_rtp)  # type: ignore[method-assign]


# -- bandwidth feedback and impairment (media.bwe, media.layers, tests) ---------------
def on_sender_rtcp(sender: RTCRtpSender, callback: Callable[[Any], None]) -> None:
    """Call callback(packet) for every RTCP packet routed to the sender (REMB, RR, ...),
    before aiortc handles it as usual."""
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        callback(packet)
        await original(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]


def report_senders_together(sender: RTCRtpSender, register: Callable[[bool], None]) -> None:
    """Replace the sender's own RTCP loop (a sender report every 0.5-1.5 s on a timer of its
    own, built from aiortc's packet classes) by register(True) once it starts and
    register(False) when it stops, after which aiortc's BYE goes out as before: the caller
    sends the reports for all its senders at once (send_sender_report)."""
    started = sender._RTCRtpSender__rtcp_started  # type: ignore[attr-defined]
    exited = sender._RTCRtpSender__rtcp_exited  # type: ignore[attr-defined]

    async def run_rtcp() -> None:
        started.set()
        register(True)
        try:
            await asyncio.get_running_loop().create_future()  # until the sender stops
        except asyncio.CancelledError:
            pass
        finally:
            register(False)
        await sender._send_rtcp([rtp.RtcpByePacket(sources=[sender._ssrc])])
        exited.set()

    sender._run_rtcp = run_rtcp  # type: ignore[method-assign]


def sender_description(sender: RTCRtpSender) -> bytes:
    """The sender's RTCP SDES packet (its CNAME), as aiortc appends it to each report."""
    cname = sender._RTCRtpSender__cname  # type: ignore[attr-defined]
    if cname is None:
        return b""
    return bytes(rtp.RtcpSdesPacket(chunks=[rtp.RtcpSourceInfo(ssrc=sender._ssrc, items=[(1, cname.encode())])]))


def sender_report(sender: RTCRtpSender) -> bytes:
    """The RTCP sender report aiortc would send now (its counts as sync_sent left them)."""
    return struct.pack("!BBHLQLLL", 0x80, rtp.RTCP_SR, 6, sender._ssrc,
                       sender._RTCRtpSender__ntp_timestamp,  # type: ignore[attr-defined]
                       sender._RTCRtpSender__rtp_timestamp,  # type: ignore[attr-defined]
                       sender._RTCRtpSender__packet_count & 0xFFFFFFFF,  # type: ignore[attr-defined]
                       sender._RTCRtpSender__octet_count & 0xFFFFFFFF)  # type: ignore[attr-defined]


def send_sender_report(sender: RTCRtpSender, target: Any, description: bytes) -> bool:
    """Send the sender's report and SDES on the target's connection in one C call, noting
    the time for the round-trip figure as aiortc does (False: the target is not armed)."""
    report = sender_report(sender)
    if not _rtpfast.send_rtcp(target, _PROTECT_RTCP_ADDRESS, report + description):
        return False
    sender._RTCRtpSender__lsr = (sender._RTCRtpSender__ntp_timestamp >> 16) & 0xFFFFFFFF  # type: ignore
    sender._RTCRtpSender__lsr_time = time.time()  # type: ignore[attr-defined]
    return True


def sender_octets(sender: RTCRtpSender) -> int:
    """Payload octets in the sender's reports: what sync_sent brought over (at most a second old;
    DownTrack.octets() is current)."""
    return sender._RTCRtpSender__octet_count  # type: ignore[attr-defined]


def wrap_datagrams_received(pc: RTCPeerConnection,
                            wrap: Callable[[Callable[[bytes, Any], None]], Callable[[bytes, Any], None]]) -> int:
    """Route every UDP datagram the connection's ICE sockets receive through wrap(original)
    (tests: delay and loss on a receiver); returns how many sockets were wrapped."""
    count = 0
    for t in pc.getTransceivers()[:1]:
        for protocol in t.receiver.transport.transport._connection._protocols:
            protocol.datagram_received = wrap(protocol.datagram_received)
            count += 1
    return count

# -- the direct packet path (no coroutine, queue or RtpPacket per forwarded packet) ----
NTP_UNIX_OFFSET = 2208988800  # seconds from 1900 (NTP's epoch, aiortc.clock's) to 1970


def current_ms() -> int:
    """aiortc.clock.current_ms() (ms since 1900) without building datetime objects."""
    return int((time.time() + NTP_UNIX_OFFSET) * 1000)


def current_ntp_time() -> int:
    """aiortc.clock.current_ntp_time() (64-bit NTP) without building datetime objects."""
    now = time.time() + NTP_UNIX_OFFSET
    seconds = int(now)
    return (seconds << 32) | int((now - seconds) * (1 << 32))


EXTENSION_NAMES = ("mid", "repaired_rtp_stream_id", "rtp_stream_id", "abs_send_time", "transmission_offset",
                   "audio_level", "transport_sequence_number")  # the order media/_rtpfast.c reads them in


def extension_id_tuple(extensions_map: rtp.HeaderExtensionsMap) -> tuple[int, ...]:
    """A transport's negotiated header extension ids for media/_rtpfast.parse_rtp (0: none)."""
    ids = extensions_map._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    return tuple(getattr(ids, name) or 0 for name in EXTENSION_NAMES)


def extension_ids(sender: RTCRtpSender) -> rtp.HeaderExtensions:
    """The header extension ids negotiated on the sender's transport (None: not negotiated)."""
    return sender.transport._rtp_header_extensions_map._HeaderExtensionsMap__ids  # type: ignore


def rtp_sender(sender: RTCRtpSender) -> Callable[[bytes], int]:
    """A plain function sending one RTP packet: SRTP protect, then the selected ICE pair's
    socket, with no coroutine in between. It returns the bytes sent; ConnectionError when
    the transport is not (or no longer) connected."""
    connected = rtcdtls.State.CONNECTED

    def send(data: bytes) -> int:
        dtls = sender.transport
        if dtls._state is not connected:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        data = dtls._tx_srtp.protect(data)
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            raise ConnectionError("Cannot send data, not connected")
        pair.protocol.transport.sendto(data, pair.remote_addr)
        dtls._RTCDtlsTransport__tx_bytes += len(data)
        dtls._RTCDtlsTransport__tx_packets += 1
        return len(data)

    return send


try:  # media/_rtpfast.c, built by `make` (python -m media.build_fastpath)
    from . import _rtpfast
except ImportError:  # pragma: no cover - the build prints why it was skipped
    _rtpfast = None
FAST_PATH = _rtpfast is not None
_SEQ_TS = struct.Struct("!BHL")  # marker|payload type, sequence number, timestamp

RtpWriter = Callable[[bytes, bytes, int, int, int, int, int, int, int, int], "bytes | None"]


class _PyTwcc:
    """media._rtpfast.Twcc in Python: a connection's transport-wide sequence numbers and the
    send time (µs, time.monotonic) and size of the last TWCC_RING packets numbered."""

    RING = twcc.HISTORY_KEPT

    def __init__(self) -> None:
        self.next = 0
        self._ring: list[tuple[int, int, int] | None] = [None] * self.RING

    def take(self, size: int) -> int:
        seq, self.next = self.next, self.next + 1
        self._ring[seq % self.RING] = (seq, int(time.monotonic() * 1e6), min(size, 0xFFFF))
        return seq & 0xFFFF

    def sent(self, seq: int) -> tuple[int, int] | None:
        kept = self._ring[seq % self.RING] if seq >= 0 else None
        return (kept[1], kept[2]) if kept is not None and kept[0] == seq else None


def twcc_numbers(sender: RTCRtpSender) -> Any:
    """The transport-wide numbering (a Twcc) of the sender's connection, shared by all its streams."""
    dtls = sender.transport
    numbers = getattr(dtls, "_mvc_twcc", None)
    if numbers is None:
        numbers = dtls._mvc_twcc = _rtpfast.Twcc() if FAST_PATH else _PyTwcc()
    return numbers


MAX_ARRIVALS = 2048  # arrivals noted between two takes (as media/_rtpfast.c's)


def take_arrivals(dtls: Any) -> list[tuple[int, int]]:
    """The publisher's packets' transport-wide numbers and arrival times (µs, wall clock)
    since the last call, from drain() and from the Python path."""
    noted: list[tuple[int, int]] = getattr(dtls, "_mvc_arrivals", None) or []
    out = list(noted)
    noted.clear()
    for ingress in getattr(dtls, "_mvc_ingresses", ()):
        out.extend(ingress.arrivals())
    return out


def on_transport_feedback(dtls: Any, callback: Callable[[bytes], None] | None) -> None:
    """Hand each transport-cc feedback packet (RTCP RTPFB FMT 15) of the connection to callback."""
    dtls._mvc_on_twcc = callback


def _transport_feedback(dtls: Any, plain: bytes) -> None:
    """Find the transport-cc feedback in a compound RTCP packet and hand it on (aiortc's own
    handlers see the packet too, and ignore this kind)."""
    callback = getattr(dtls, "_mvc_on_twcc", None)
    if callback is None:
        return
    pos = 0
    while pos + 4 <= len(plain):
        end = pos + 4 * (((plain[pos + 2] << 8) | plain[pos + 3]) + 1)
        if end > len(plain):
            return
        if plain[pos + 1] == 205 and plain[pos] & 0x1F == 15:
            callback(plain[pos:end])
        pos = end


def rtp_writer(sender: RTCRtpSender) -> RtpWriter:
    """A plain function writing and sending one forwarded RTP packet for this sender:

        write(header, payload, byte1, seq, ts, level_at, level_byte, abs_at, abs_send_time, twcc_at)

    fills the header template (byte 1 = marker|payload type, sequence number, timestamp,
    the audio level and abs-send-time bytes and the connection's next transport-wide
    sequence number at their offsets when not 0), SRTP-protects
    a copy and sends it on the selected ICE pair's socket, with no coroutine in between.
    It returns the plain packet (for answering NACKs), None when the socket had no room,
    and raises ConnectionError when the transport is not (or no longer) connected.
    With media/_rtpfast built, all of it is one C call."""
    if not FAST_PATH:
        return _python_rtp_writer(rtp_sender(sender), lambda: twcc_numbers(sender))
    connected = rtcdtls.State.CONNECTED
    send_rtp, protect = _rtpfast.send_rtp, _srtp_protect_address()
    cache: list[Any] = [None, None, 0, b"", 0]  # session, pair, ctx, sockaddr, fd

    def write(header: bytes, payload: bytes, byte1: int, seq: int, ts: int,
              level_at: int, level_byte: int, abs_at: int, abs_time: int, twcc_at: int) -> bytes | None:
        dtls = sender.transport
        if dtls._state is not connected:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        session = dtls._tx_srtp
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None or pair.protocol.transport is None:
            raise ConnectionError("Cannot send data, not connected")
        if session is not cache[0] or pair is not cache[1]:
            cache[:] = [session, pair, _srtp_context_address(session),
                        _rtpfast.sockaddr(*pair.remote_addr[:2]), pair.protocol.transport._sock.fileno()]
        try:
            plain = send_rtp(cache[4], cache[3], cache[2], protect, header, payload, byte1, seq, ts,
                             level_at, level_byte, abs_at, abs_time, twcc_at,
                             twcc_numbers(sender) if twcc_at else None)
        except OSError as exc:  # the socket went away under us
            raise ConnectionError(str(exc)) from exc
        return plain  # the transport's counts: sync_sent

    return write


def _python_rtp_writer(send: Callable[[bytes], int], numbers: Callable[[], Any]) -> RtpWriter:
    """rtp_writer's steps in Python (when media/_rtpfast is not built)."""

    def write(header: bytes, payload: bytes, byte1: int, seq: int, ts: int,
              level_at: int, level_byte: int, abs_at: int, abs_time: int, twcc_at: int) -> bytes | None:
        head = bytearray(header)
        _SEQ_TS.pack_into(head, 1, byte1, seq, ts)
        if level_at:
            head[level_at] = level_byte
        if abs_at:
            head[abs_at:abs_at + 3] = abs_time.to_bytes(3, "big")
        if twcc_at:
            head[twcc_at:twcc_at + 2] = numbers().take(len(head) + len(payload)).to_bytes(2, "big")
        plain = bytes(head) + payload
        send(plain)
        return plain

    return write


def _srtp_function_address(name: str) -> int:
    """The address of a libsrtp function as pylibsrtp loaded it."""
    from pylibsrtp._binding import ffi, lib
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))


def _srtp_protect_address() -> int:
    return _srtp_function_address("srtp_protect")


def _srtp_context_address(session: pylibsrtp.Session) -> int:
    """The srtp_t of a pylibsrtp session (kept alive by the session the caller holds)."""
    from pylibsrtp._binding import ffi
    return int(ffi.cast("uintptr_t", session._srtp[0]))


_PROTECT_ADDRESS = _srtp_protect_address() if FAST_PATH else 0
_PROTECT_RTCP_ADDRESS = _srtp_function_address("srtp_protect_rtcp") if FAST_PATH else 0


class _PyTarget:
    """media._rtpfast.Target's fields, for when it is not built (never armed: every packet
    then takes DownTrack's Python steps)."""

    __slots__ = ("ready", "fd", "addr", "ctx", "protect", "header", "payload_type", "level_at", "abs_at",
                 "twcc_at", "twcc", "seq_offset", "ts_offset", "last_seq", "last_ts", "last_ntp", "packets", "octets",
                 "failures", "history")

    def __init__(self) -> None:
        self.ready = self.ctx = self.protect = self.payload_type = self.level_at = self.abs_at = 0
        self.twcc_at = 0
        self.twcc: Any = None
        self.seq_offset = self.ts_offset = self.last_ts = self.last_ntp = 0
        self.packets = self.octets = self.failures = 0
        self.fd, self.last_seq = -1, -1
        self.addr: bytes | None = None
        self.header: bytes | None = None
        self.history: list[bytes | None] | None = None


def new_target() -> Any:
    """A target for fanout(): one subscriber's forwarded stream (see media/_rtpfast.c)."""
    return _rtpfast.Target() if FAST_PATH else _PyTarget()


def fanout(targets: list[Any], payload: bytes, marker: int, seq: int, ts: int, level_byte: int,
           abs_send_time: int, ntp: int) -> int:
    """Send one publisher packet to every armed target in C; returns how many got it
    (without media/_rtpfast: none, and the caller sends with rtp_writer)."""
    return _rtpfast.fanout(targets, payload, marker, seq, ts, level_byte, abs_send_time, ntp) if FAST_PATH else 0


Egress = tuple[Any, Any]  # the (SRTP session, ICE pair) a target was armed with


def arm_target(sender: RTCRtpSender, target: Any) -> Egress | None:
    """Point the target at the sender's current SRTP session and selected ICE pair and
    return them (None, target left alone: not connected, or media/_rtpfast not built)."""
    if not FAST_PATH:
        return None
    dtls = sender.transport
    if dtls._state is not rtcdtls.State.CONNECTED or dtls._tx_srtp is None:
        return None
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None or pair.protocol.transport is None:
        return None
    target.fd = pair.protocol.transport._sock.fileno()
    target.addr = _rtpfast.sockaddr(*pair.remote_addr[:2])
    target.ctx = _srtp_context_address(dtls._tx_srtp)
    target.protect = _PROTECT_ADDRESS
    return dtls._tx_srtp, pair


def egress_unchanged(sender: RTCRtpSender, armed: Egress) -> bool:
    """Whether the sender still sends with the session and pair it was armed with."""
    dtls = sender.transport
    if dtls._state is not rtcdtls.State.CONNECTED or dtls._tx_srtp is not armed[0]:
        return False
    pair = dtls.transport._connection._nominated.get(1)
    return pair is armed[1] and pair.protocol.transport is not None


def before_get_stats(sender: RTCRtpSender, update: Callable[[], None]) -> None:
    """Call update() before the sender's getStats() reads its counts."""
    get_stats = sender.getStats

    async def stats() -> Any:
        update()
        return await get_stats()

    sender.getStats = stats  # type: ignore[method-assign]


def sync_sent(sender: RTCRtpSender, target: Any, reported: list[int]) -> None:
    """Bring the sender's RTCP sender-report counts (and its DTLS transport's) up to what
    the target sent; reported holds [packets, octets] as last brought over."""
    packets, octets = target.packets - reported[0], target.octets - reported[1]
    if packets <= 0:
        return
    reported[0], reported[1] = target.packets, target.octets
    sender._RTCRtpSender__ntp_timestamp = target.last_ntp  # type: ignore[attr-defined]
    sender._RTCRtpSender__rtp_timestamp = target.last_ts  # type: ignore[attr-defined]
    sender._RTCRtpSender__octet_count += octets  # type: ignore[attr-defined]
    sender._RTCRtpSender__packet_count += packets  # type: ignore[attr-defined]
    if FAST_PATH:  # (the Python steps' rtp_sender counts on the transport itself)
        dtls = sender.transport
        dtls._RTCDtlsTransport__tx_packets += packets
        dtls._RTCDtlsTransport__tx_bytes += octets


class _RawHistory(Mapping):  # type: ignore[type-arg]
    """A sender's retransmission history: serialized packets in a ring indexed by
    seq % RTP_HISTORY_SIZE (filled by DownTrack and by media/_rtpfast), parsed only on NACK."""

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender = sender
        self.ring: list[bytes | None] = [None] * rtp.RTP_HISTORY_SIZE
        self.misses = 0  # NACKed packets that were no longer (or never) in the history

    def __getitem__(self, key: int) -> bytes:
        raw = self.ring[key] if 0 <= key < len(self.ring) else None
        if raw is None:
            raise KeyError(key)
        return raw

    def __iter__(self) -> Iterator[int]:
        return (i for i, raw in enumerate(self.ring) if raw is not None)

    def __len__(self) -> int:
        return sum(1 for raw in self.ring if raw is not None)

    def get(self, key: int, default: Any = None) -> Any:
        raw = self.ring[key] if 0 <= key < len(self.ring) else None
        if raw is None:
            self.misses += 1
            return default
        return rtp.RtpPacket.parse(raw, self._sender.transport._rtp_header_extensions_map)


def raw_rtp_history(sender: RTCRtpSender) -> _RawHistory:
    """Give the sender a history of serialized packets (seq % RTP_HISTORY_SIZE → bytes),
    answered on NACK (with RTX) like its own, and return it for filling (its ring)."""
    history = _RawHistory(sender)
    sender._RTCRtpSender__rtp_history = history  # type: ignore[attr-defined]
    return history


SyncRtpHandler = Callable[[rtp.RtpPacket, int], None]


def handle_rtp_directly(r: RTCRtpReceiver, handle: SyncRtpHandler) -> None:
    """Call handle(packet, arrival_time_ms) for the receiver's RTP straight from the UDP
    socket's callback: no STUN parse attempt, queue hand-off or DTLS-transport coroutine."""

    async def queued(packet: rtp.RtpPacket, arrival_time_ms: int) -> None:
        handle(packet, arrival_time_ms)

    r._handle_rtp_packet = queued  # type: ignore[method-assign]
    _direct_path(r.transport)[r] = handle


def handle_rtcp_directly(sender: RTCRtpSender) -> None:
    """RTCP for the sender's connection (receiver reports, REMB, NACK, PLI from the subscriber)
    goes straight from the UDP socket's callback to aiortc's handlers, as RTP does."""
    _direct_path(sender.transport)


def _direct_path(dtls: Any) -> dict[Any, SyncRtpHandler]:
    """Install (once per DTLS transport) the direct path for SRTP and SRTCP; returns its
    receiver -> handler table. DTLS and STUN keep aiortc's path.

    With media/_rtpfast built, each of the connection's sockets is read in C (drain()): the
    packets of registered up-track cores (register_core) that need nothing from Python are
    forwarded there, the rest come here (data_received, or rtp_plain once unprotected)."""
    handlers = getattr(dtls, "_mvc_direct", None)
    if handlers is not None:
        return handlers
    handlers = dtls._mvc_direct = {}
    cores: dict[int, Any] = {}
    ingresses: list[Any] = []  # one per socket (drain); they share `cores`
    arrivals: list[tuple[int, int]] = []  # (transport-wide number, µs) noted in Python
    dtls._mvc_cores, dtls._mvc_ingresses, dtls._mvc_arrivals = cores, ingresses, arrivals
    connection = dtls.transport._connection
    queue = connection.data_received
    connected = rtcdtls.State.CONNECTED
    extensions_map, router = dtls._rtp_header_extensions_map, dtls._rtp_router

    def data_received(data: bytes, component: int) -> None:
        if not data:  # from anyone who knows the port: aiortc would end the connection on it
            return
        if not wrapped:  # the sockets exist once gathered (after this hook, on a first offer)
            wrapped.extend(_skip_stun_parse_for_media(p, connection, new_ingress) for p in connection._protocols)
        if len(data) < 12:
            queue(data, component)
            return
        first = data[0]
        srtp = dtls._rx_srtp
        if first < 128 or first > 191 or srtp is None or dtls._state is not connected:  # not SRTP/SRTCP
            queue(data, component)
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)
        dtls._RTCDtlsTransport__rx_packets += 1
        if unprotect is not None and srtp is not rx[0]:
            rx[:] = [srtp, _srtp_context_address(srtp)]
            for ingress in ingresses:  # from now on drain() unprotects this session's packets
                ingress.session, ingress.ctx = rx
        if 191 < data[1] < 209:  # SRTCP (as aiortc's is_rtcp)
            try:
                plain = srtp.unprotect_rtcp(data)
            except pylibsrtp.Error:
                return
            _transport_feedback(dtls, plain)
            run_now(dtls._handle_rtcp_data(plain))
            return
        arrival_ms = current_ms()
        try:
            if unprotect is None:
                plain = srtp.unprotect(data)
            else:
                plain = unprotect(rx[1], unprotect_address, data)
                if plain is None:
                    return
        except pylibsrtp.Error:
            return
        rtp_plain(plain, arrival_ms, True)

    def rtp_plain(plain: bytes, arrival_ms: int, note_arrival: bool = False) -> None:
        """An unprotected RTP packet to its receiver's handler (`note_arrival`: its transport-
        wide number is noted here; drain() notes those of the packets it reads)."""
        try:
            if parse is None:
                packet = rtp.RtpPacket.parse(plain, extensions_map)
            else:
                packet = parse(plain, rtp.RtpPacket, rtp.HeaderExtensions, ids[0])
        except ValueError:
            return
        number = packet.extensions.transport_sequence_number
        if note_arrival and number is not None and len(arrivals) < MAX_ARRIVALS:
            arrivals.append((number, int(time.time() * 1e6)))
        mid = packet.extensions.mid
        if mid is not None and packet.ssrc not in router.ssrc_table:
            # A new SSRC the SDP did not name (a simulcast layer): its section's receiver,
            # by the mid it carries (aiortc routes by payload type only, which is ambiguous
            # once a camera and a screen share it).
            by_mid = router.mid_table.get(mid)
            if by_mid is not None:
                router.ssrc_table[packet.ssrc] = by_mid
        receiver = router.route_rtp(packet)
        direct = handlers.get(receiver)
        if direct is not None:
            direct(packet, arrival_ms)
        elif receiver is not None:
            asyncio.ensure_future(receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_ms))

    def rtcp_plain(plain: bytes, _: None) -> None:
        """An unprotected RTCP packet to aiortc's handlers (as data_received does)."""
        _transport_feedback(dtls, plain)
        run_now(dtls._handle_rtcp_data(plain))

    def new_ingress(raw: Callable[[bytes, Any], None]) -> Any:
        """A socket's receive state for drain() (None without media/_rtpfast)."""
        if not FAST_PATH:
            return None
        ingress = _rtpfast.Ingress()
        ingress.cores, ingress.raw, ingress.plain, ingress.rtcp = cores, raw, rtp_plain, rtcp_plain
        ingress.unprotect, ingress.unprotect_rtcp = unprotect_address, _srtp_function_address("srtp_unprotect_rtcp")
        ingress.abs_id, ingress.level_id, ingress.twcc_id = ids[0][3], ids[0][5], ids[0][6]
        if rx[0] is not None:
            ingress.session, ingress.ctx = rx
        ingresses.append(ingress)
        return ingress

    wrapped: list[Any] = []
    unprotect = _rtpfast.unprotect if FAST_PATH else None
    unprotect_address = _srtp_function_address("srtp_unprotect") if FAST_PATH else 0
    rx: list[Any] = [None, 0]  # the receiving session and its srtp_t address
    parse = _rtpfast.parse_rtp if FAST_PATH else None
    ids = [extension_id_tuple(extensions_map)]  # kept current when a negotiation changes them
    configure = extensions_map.configure

    def configured(parameters: Any) -> None:
        configure(parameters)
        ids[0] = extension_id_tuple(extensions_map)
        for ingress in ingresses:
            ingress.abs_id, ingress.level_id, ingress.twcc_id = ids[0][3], ids[0][5], ids[0][6]

    extensions_map.configure = configured  # type: ignore[method-assign]
    connection.data_received = data_received
    get_stats = dtls._get_stats

    def stats() -> Any:
        for ingress in ingresses:  # what drain() received counts as the transport's own
            dtls._RTCDtlsTransport__rx_packets += ingress.rx_packets
            dtls._RTCDtlsTransport__rx_bytes += ingress.rx_bytes
            ingress.rx_packets = ingress.rx_bytes = 0
        return get_stats()

    dtls._get_stats = stats
    return handlers


def new_core() -> Any:
    """An up track's receive state shared with drain() (media/_rtpfast.Core), or None."""
    return _rtpfast.Core() if FAST_PATH else None


def new_estimator() -> Any:
    """aiortc's RemoteBitrateEstimator in C (media/_rtpfast.Estimator: the same add())."""
    return _rtpfast.Estimator()


def register_core(r: RTCRtpReceiver, ssrc: int, core: Any) -> None:
    """Let drain() handle the receiver's packets of `ssrc` with `core` (see Core's fields)."""
    _direct_path(r.transport)
    r.transport._mvc_cores[ssrc] = core


def unregister_core(r: RTCRtpReceiver, ssrc: int) -> None:
    cores = getattr(r.transport, "_mvc_cores", None)
    if cores is not None:
        cores.pop(ssrc, None)


def parse_plain(r: RTCRtpReceiver, plain: bytes) -> rtp.RtpPacket:
    """An unprotected RTP packet of the receiver's transport, parsed as aiortc would."""
    return rtp.RtpPacket.parse(plain, r.transport._rtp_header_extensions_map)


def fast_counters() -> tuple[int, int]:
    """(packets in, packets out) that drain() forwarded in C."""
    return _rtpfast.counters() if FAST_PATH else (0, 0)


def run_now(coro: Any) -> None:
    """Run a coroutine now, in the caller's stack, as far as it goes without waiting (aiortc's
    RTCP handlers normally finish without waiting): no task, no loop turn. If it does wait,
    a task finishes it; an error is logged, as a failed task's would be."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return
    except Exception:  # noqa: BLE001 - a bad packet must not end the socket's callback
        rtcp_log.exception("RTCP handling failed")
        return
    asyncio.ensure_future(_finish(coro, waiting))


async def _finish(coro: Any, waiting: Any) -> None:
    """Drive a coroutine that waited on `waiting` to its end, as asyncio's Task would."""
    while True:
        try:
            if waiting is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False
                await asyncio.wait([waiting])
        except asyncio.CancelledError:
            coro.close()
            raise
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001
            rtcp_log.exception("RTCP handling failed")
            return


def _skip_stun_parse_for_media(protocol: Any, connection: Any,
                               new_ingress: Callable[[Callable[[bytes, Any], None]], Any]) -> Any:
    """Hand RTP/RTCP datagrams (first byte 128-191) to the connection without trying STUN,
    and let one readiness event of the socket read every datagram already queued."""
    stun_path = protocol.datagram_received
    component = protocol.local_candidate.component

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        if not data:  # aiortc's DTLS transport would end the connection on an empty datagram
            return
        if 127 < data[0] < 192:
            connection.data_received(data, component)
        else:
            stun_path(data, addr)

    protocol.datagram_received = datagram_received
    transport = protocol.transport
    if transport is not None and hasattr(transport, "_sock_fd"):  # asyncio's selector loop
        transport._loop._add_reader(transport._sock_fd, _draining_reader(
            transport, protocol, datagram_received, connection, component, new_ingress(datagram_received)))
    return protocol


DRAIN_AT_ONCE = 64  # datagrams read per readiness event at most (then others get a turn)


def _draining_reader(transport: Any, protocol: Any, ours: Callable[[bytes, Any], None], connection: Any,
                     component: int, ingress: Any) -> Callable[[], None]:
    """asyncio's datagram _read_ready, reading until the socket is empty (or DRAIN_AT_ONCE);
    RTP/RTCP goes straight to the connection while `ours` is the protocol's handler (a test
    may wrap it: then every datagram takes the protocol's handler). With an ingress, the
    reading is done in C (media/_rtpfast.drain)."""
    recvfrom, size = transport._sock.recvfrom, transport.max_size
    fd = transport._sock_fd
    drain = _rtpfast.drain if FAST_PATH else None

    def read_ready() -> None:
        if ingress is not None and protocol.datagram_received is ours:
            if transport._conn_lost:
                return
            try:
                drain(fd, ingress, DRAIN_AT_ONCE)
            except OSError as exc:
                protocol.error_received(exc)
            return
        for _ in range(DRAIN_AT_ONCE):
            if transport._conn_lost:
                return
            try:
                data, addr = recvfrom(size)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                protocol.error_received(exc)
                return
            handler = protocol.datagram_received
            if handler is ours and data and 127 < data[0] < 192:
                connection.data_received(data, component)
            else:
                handler(data, addr)

    return read_ready
