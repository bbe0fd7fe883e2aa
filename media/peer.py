"""One participant's peer connection in a worker: its up tracks and down tracks."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import uuid
from collections.abc import Callable
from typing import Any

from aiortc import (RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender,
                    RTCSessionDescription)
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc import sdp as sdp_parser
from aiortc.sdp import candidate_from_sdp

from . import aiortc_hooks as hooks
from . import messages as m
from .forward import COUNTERS, DownTrack, SilentTrack, UpTrack
from .ice import CandidateBudget, IceFilter
from .opus import with_fec_and_dtx
from .sdpmap import Codecs, Extensions, tables_from
from .simulcast import SimulcastUp, offered_rids, with_simulcast
from .twcc import ArrivalRecorder, DownlinkTwcc

log = logging.getLogger(__name__)
hooks.negotiate_stream_ids()  # simulcast layers tell themselves apart by rid (media.simulcast)
hooks.negotiate_transport_cc()  # subscribers' transport-wide feedback (media.twcc)

Reply = Callable[[m.Reply], None]


class PeerError(Exception):
    """A signalling step the peer cannot take in its current state."""


SOCKET_BUFFER = 1 << 20  # absorbs scheduling gaps; Linux caps it at net.core.[rw]mem_max


def enlarge_socket_buffers(pc: RTCPeerConnection) -> None:
    """Give the connection's UDP sockets 1 MiB buffers (defaults overflow at SFU rates)."""
    for sock in hooks.udp_sockets(pc):
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)


def rtc_configuration(ice_servers: list[dict[str, Any]]) -> RTCConfiguration:
    """An explicit configuration: aiortc would add Google's STUN server otherwise."""
    servers = [RTCIceServer(urls=s["urls"], username=s.get("username"),
                            credential=s.get("credential")) for s in ice_servers]
    return RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def _preferences(kind: str, codec: RTCRtpCodecParameters) -> list[Any]:
    """Codecs for a down track: the publisher's own (exact parameters first), then RTX."""
    caps = RTCRtpSender.getCapabilities(kind).codecs
    same = [c for c in caps if c.mimeType.lower() == codec.mimeType.lower()]
    same.sort(key=lambda c: c.parameters != codec.parameters)
    rtx = [c for c in caps if c.mimeType.lower().endswith("/rtx")]
    return same + rtx


SCREEN_STREAM_PREFIX = "screen-"  # a publisher's msid stream id that marks its screen


def _stream_ids(sdp: str) -> dict[str, str]:
    """mid → msid stream id of each media section of an SDP that has one."""
    out = {}
    for media in sdp_parser.SessionDescription.parse(sdp).media:
        if media.rtp.muxId and media.msid:
            out[media.rtp.muxId] = media.msid.split()[0]
    return out


def _ufrag(sdp: str) -> str | None:
    match = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE)
    return match.group(1) if match else None


class Peer:
    """A participant's RTCPeerConnection; the client always makes the first offer."""

    def __init__(self, room: str, pid: str, config: RTCConfiguration, reply: Reply,
                 ice: IceFilter | None = None,
                 on_failed: Callable[[Peer], None] | None = None) -> None:
        self.room = room
        self.pid = pid
        self.reply = reply
        self.pc = RTCPeerConnection(config)
        self.candidates = CandidateBudget(ice or IceFilter())
        if on_failed is not None:
            @self.pc.on("connectionstatechange")
            def _state() -> None:
                if self.pc.connectionState in ("failed", "closed"):
                    on_failed(self)
        self.ups: dict[str, UpTrack | SimulcastUp] = {}
        self.downs: dict[tuple[str, str], DownTrack] = {}
        self.ready = False  # first offer answered: worker transceivers may be added
        self.waiting = False  # in the waiting room: connected, nothing forwarded (media.room)
        self.lock = asyncio.Lock()
        self._free: list[tuple[RTCRtpTransceiver, DownTrack]] = []
        self._freed: list[tuple[RTCRtpTransceiver, DownTrack]] = []  # not yet offered inactive
        self._transceivers: dict[DownTrack, RTCRtpTransceiver] = {}
        self._renegotiate_wanted = False
        self._up_transceivers: set[RTCRtpTransceiver] = set()
        self._tables: tuple[Codecs, Extensions] | None = None
        self._all_ups: list[UpTrack | SimulcastUp] = []
        self._rids: dict[str, list[str]] = {}  # mid → layers of the client's SimulcastUp there
        self.reported: dict[str, int] = {}  # counts() at the last worker_counts report
        self.twcc: DownlinkTwcc | None = None  # the subscriber's transport-cc (once connected)
        self.on_estimate: Callable[[float], None] | None = None  # its downlink estimate goes here
        self._arrivals: ArrivalRecorder | None = None  # its packets' arrivals, for transport-cc
        self._fb_count = 0  # transport-cc feedback packets sent (mod 256)

    def is_new_session(self, sdp: str) -> bool:
        """True if this offer carries other ICE credentials than the current session."""
        current = self.pc.remoteDescription
        if current is None:
            return False
        return _ufrag(current.sdp) != _ufrag(sdp)

    async def handle_offer(self, sdp: str) -> list[UpTrack]:
        """Apply the client's offer, reply with the answer; returns new up tracks."""
        async with self.lock:
            if self.pc.signalingState != "stable":
                raise PeerError("glare: answer the worker's pending offer first")
            # aiortc gives a new remote m-line to any same-kind transceiver without a mid:
            # hide our not-yet-offered down transceivers so a new up track gets its own.
            unoffered = [t for t in self._transceivers.values() if t.mid is None]
            offer = RTCSessionDescription(sdp=self.candidates.strip_sdp(sdp), type="offer")
            with hooks.kinds_hidden(unoffered):
                await self.pc.setRemoteDescription(offer)
            rids = offered_rids(sdp)
            new = self._update_ups(_stream_ids(sdp), rids)
            if self._tables is None:
                self._tables = tables_from(self.pc)
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
            self._reusable()
            enlarge_socket_buffers(self.pc)
            self._watch_transport_feedback()
            self.reply(m.answer(self.room, self.pid, self._sdp_out()))
            self.ready = True
            return new

    def _update_ups(self, streams: dict[str, str],
                    rids: dict[str, list[str]]) -> list[UpTrack | SimulcastUp]:
        """Drop up tracks the client stopped sending; make up tracks of new ones.

        An up track is named by its kind, except a screen: the video whose msid stream id
        starts with "screen-", or else any video after the first (the camera). A camera
        offered in simulcast layers (`rids`: mid → rids) becomes a SimulcastUp.
        """
        for t in list(self._up_transceivers):
            if hooks.offer_direction(t) not in ("recvonly", "sendrecv"):
                self._up_transceivers.discard(t)
                for name, up in list(self.ups.items()):
                    if up.receiver is t.receiver:
                        up.close()
                        del self.ups[name]
                        self._rids.pop(t.mid or "", None)
        new: list[UpTrack | SimulcastUp] = []
        for t in self.pc.getTransceivers():
            if (t in self._up_transceivers or t in self._transceivers.values()
                    or hooks.offer_direction(t) not in ("recvonly", "sendrecv")):
                continue
            name = t.kind
            if t.kind == "video" and (streams.get(t.mid or "", "").startswith(SCREEN_STREAM_PREFIX)
                                      or "video" in self.ups):
                name = "screen"
            if name in self.ups:
                continue
            self._up_transceivers.add(t)
            layers = rids.get(t.mid or "") if name == "video" else None
            up: UpTrack | SimulcastUp
            if layers:
                self._rids[t.mid or ""] = layers
                up = SimulcastUp(self.pid, t.kind, t.receiver, hooks.negotiated_codecs(t), layers, name=name)
            else:
                up = UpTrack(self.pid, t.kind, t.receiver, hooks.negotiated_codecs(t), name=name)
            self.ups[name] = up
            self._all_ups.append(up)
            new.append(up)
        return new

    async def handle_answer(self, sdp: str) -> None:
        """Apply the client's answer to a renegotiation offer."""
        async with self.lock:
            if self.pc.signalingState != "have-local-offer":
                raise PeerError("no offer is pending")
            answer = RTCSessionDescription(sdp=self.candidates.strip_sdp(sdp), type="answer")
            await self.pc.setRemoteDescription(answer)
        if self._renegotiate_wanted:
            await self.renegotiate()

    async def add_candidate(self, init: dict[str, Any] | None) -> None:
        """Add a trickled remote ICE candidate (end-of-candidates is ignored).

        A candidate the worker may not send to (see media.ice) is dropped silently, as
        a browser drops candidates it cannot use.
        """
        text = (init or {}).get("candidate") or ""
        if not text:
            return
        text = text.split(":", 1)[1] if text.startswith("candidate:") else text
        async with self.lock:
            if self.pc.remoteDescription is None:
                raise PeerError("candidate before offer")
            if not self.candidates.take(text):
                return
            cand = candidate_from_sdp(text)
            cand.sdpMid = init.get("sdpMid")
            cand.sdpMLineIndex = init.get("sdpMLineIndex")
            await self.pc.addIceCandidate(cand)

    async def renegotiate(self) -> None:
        """Send a new offer (or remember to, if an exchange is under way)."""
        async with self.lock:
            if self.pc.connectionState == "closed":
                return
            if self.pc.signalingState != "stable":
                self._renegotiate_wanted = True
                return
            self._renegotiate_wanted = False
            assert self._tables is not None
            with hooks.offer_tables(*self._tables):
                offer = await self.pc.createOffer()
            await self.pc.setLocalDescription(offer)
            self._reusable()
            self.reply(m.offer(self.room, self.pid, self._sdp_out()))

    def _sdp_out(self) -> str:
        """Our local description as the client gets it: Opus FEC and DTX on, and the
        client's simulcast layers accepted for the up tracks that have them."""
        return with_simulcast(with_fec_and_dtx(self.pc.localDescription.sdp), self._rids)

    def _watch_transport_feedback(self) -> None:
        """Route the connection's transport-cc feedback to its estimate (once: one transport)."""
        transceivers = self.pc.getTransceivers()
        if self.twcc is not None or not transceivers:
            return
        sender = transceivers[0].sender
        self.twcc = DownlinkTwcc(hooks.twcc_numbers(sender), self._estimated)
        hooks.on_transport_feedback(sender.transport, self._transport_feedback)

    async def send_transport_feedback(self) -> None:
        """Tell the publisher when each of its packets arrived (transport-cc feedback, for
        its own bandwidth estimate), if it numbers them; the room calls this every 100 ms."""
        up = next(iter(self.ups.values()), None)
        if up is None or self.pc.connectionState != "connected":
            return
        arrivals = hooks.take_arrivals(up.receiver.transport)
        if self._arrivals is None:
            if not arrivals:
                return
            ssrcs = sorted(hooks.receiver_state(up.receiver).remote_streams) or [0]
            self._arrivals = ArrivalRecorder(hooks.receiver_rtcp_ssrc(up.receiver) or 0, ssrcs[0])
        for each in self.ups.values():
            each.transport_cc = True  # it estimates its uplink from this feedback
        for number, arrived in arrivals:
            self._arrivals.add(number, arrived)
        packets = self._arrivals.take(self._fb_count)
        self._fb_count = (self._fb_count + len(packets)) & 0xFF
        for packet in packets:
            COUNTERS["transport_feedback_sent"] += 1
            await hooks.send_rtcp(up.receiver, packet)

    def _transport_feedback(self, data: bytes) -> None:
        COUNTERS["transport_feedback"] += 1
        if self.twcc is not None:
            self.twcc.on_packet(data)

    def _estimated(self, bitrate: float) -> None:
        if self.on_estimate is not None:
            self.on_estimate(bitrate)

    def sync(self, wanted: dict[tuple[str, str], UpTrack | SimulcastUp]) -> bool:
        """Forward exactly `wanted` ((publisher, name) → up track); True if SDP must change.

        A freed sender is reused only after an SDP has marked it inactive: the page then
        sees its track end before it carries another stream (and gets a `track` event).
        """
        changed = False
        for key in [k for k in self.downs if k not in wanted or self.downs[k].up is not wanted[k]]:
            down = self.downs.pop(key)
            down.unbind()
            transceiver = self._transceivers[down]
            transceiver.direction = "inactive"
            self._freed.append((transceiver, down))
            changed = True
        for key, up in wanted.items():
            if key not in self.downs:
                self.downs[key] = self._down_for(up)
                changed = True
        return changed

    def _reusable(self) -> None:
        self._free.extend(self._freed)
        self._freed.clear()

    def _down_for(self, up: UpTrack | SimulcastUp) -> DownTrack:
        codec = up.codecs[0] if up.codecs else None
        mime = codec.mimeType if codec else ""
        for i, (transceiver, down) in enumerate(self._free):
            if down.kind == up.kind and (down._codec is None or down._codec.mimeType == mime):
                del self._free[i]
                transceiver.direction = "sendonly"
                break
        else:
            transceiver = self.pc.addTransceiver(SilentTrack(up.kind), direction="sendonly")
            if codec is not None:
                transceiver.setCodecPreferences(_preferences(up.kind, codec))
            down = DownTrack(up.kind, transceiver.sender)
            self._transceivers[down] = transceiver
        # The msid stream id is the publisher's pid, so the page knows whose tile it is;
        # "<pid>~screen" for a shared screen, which gets a tile of its own.
        hooks.set_stream_ids(transceiver.sender,
                             f"{up.pid}~screen" if up.name == "screen" else up.pid,
                             f"{up.pid}-{up.name}-{uuid.uuid4().hex[:8]}")
        down.bind(up)
        return down

    def counts(self) -> dict[str, int]:
        """Totals since this connection began: packets and bytes in from the participant,
        packets out to it, and packets dropped (lost on its uplink or meant for it and not sent)."""
        ups, downs = self._all_ups, self._transceivers  # freed ones too: totals never shrink
        return {"packets_in": sum(u.packets for u in ups),
                "bytes_in": sum(u.octets for u in ups),
                "packets_out": sum(d.packets for d in downs),
                "packets_dropped": sum(u.lost_upstream() for u in ups)
                + sum(d.dropped() for d in downs)}

    def forwarded(self) -> int:
        """Number of streams this peer currently receives."""
        return sum(1 for d in self.downs.values() if d.up is not None)

    async def close(self) -> None:
        """Stop forwarding in both directions and close the connection."""
        for up in self.ups.values():
            up.close()
        for down in self.downs.values():
            down.unbind()
        await self.pc.close()
