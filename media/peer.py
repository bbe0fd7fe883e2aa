"""One participant's peer connection in a worker: its up tracks and down tracks."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import struct
import uuid
from collections.abc import Callable
from typing import Any

import aioice.ice
from aiortc import (RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCRtpSender,
                    RTCSessionDescription)
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc import rtp
from aiortc.sdp import candidate_from_sdp

from .forward import DownTrack, SilentTrack, UpTrack
from .sdpmap import Codecs, Extensions, numbering, tables_from

log = logging.getLogger(__name__)

Reply = Callable[[dict[str, Any]], None]


class PeerError(Exception):
    """A signalling step the peer cannot take in its current state."""


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


def use_loopback_only() -> None:
    """Make aioice gather only 127.0.0.1 host candidates (tests, single-machine setups)."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


SOCKET_BUFFER = 1 << 20  # absorbs scheduling gaps; Linux caps it at net.core.[rw]mem_max


def enlarge_socket_buffers(pc: RTCPeerConnection) -> None:
    """Give the connection's UDP sockets 1 MiB buffers (defaults overflow at SFU rates)."""
    for t in pc.getTransceivers():
        connection = t.receiver.transport.transport._connection
        for protocol in connection._protocols:
            sock = protocol.transport.get_extra_info("socket") if protocol.transport else None
            if sock is not None:
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


def _ufrag(sdp: str) -> str | None:
    match = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE)
    return match.group(1) if match else None


class Peer:
    """A participant's RTCPeerConnection; the client always makes the first offer."""

    def __init__(self, pid: str, config: RTCConfiguration, reply: Reply) -> None:
        self.pid = pid
        self.reply = reply
        self.pc = RTCPeerConnection(config)
        self.ups: dict[str, UpTrack] = {}
        self.downs: dict[tuple[str, str], DownTrack] = {}
        self.ready = False  # first offer answered: worker transceivers may be added
        self.lock = asyncio.Lock()
        self._free: list[tuple[RTCRtpTransceiver, DownTrack]] = []
        self._transceivers: dict[DownTrack, RTCRtpTransceiver] = {}
        self._renegotiate_wanted = False
        self._up_transceivers: set[RTCRtpTransceiver] = set()
        self._tables: tuple[Codecs, Extensions] | None = None

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
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            new = []
            for t in self.pc.getTransceivers():
                if (t in self._up_transceivers or t in self._transceivers.values()
                        or t._offerDirection not in ("recvonly", "sendrecv")
                        or t.kind in self.ups):
                    continue
                self._up_transceivers.add(t)
                up = UpTrack(self.pid, t.kind, t.receiver, t._codecs)
                self.ups[t.kind] = up
                new.append(up)
            if self._tables is None:
                self._tables = tables_from(self.pc)
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
            enlarge_socket_buffers(self.pc)
            self.reply({"type": "answer", "pid": self.pid, "sdp": self.pc.localDescription.sdp})
            self.ready = True
            return new

    async def handle_answer(self, sdp: str) -> None:
        """Apply the client's answer to a renegotiation offer."""
        async with self.lock:
            if self.pc.signalingState != "have-local-offer":
                raise PeerError("no offer is pending")
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        if self._renegotiate_wanted:
            await self.renegotiate()

    async def add_candidate(self, init: dict[str, Any] | None) -> None:
        """Add a trickled remote ICE candidate (end-of-candidates is ignored)."""
        text = (init or {}).get("candidate") or ""
        if not text:
            return
        async with self.lock:
            if self.pc.remoteDescription is None:
                raise PeerError("candidate before offer")
            cand = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
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
            with numbering(*self._tables):
                offer = await self.pc.createOffer()
            await self.pc.setLocalDescription(offer)
            self.reply({"type": "offer", "pid": self.pid, "sdp": self.pc.localDescription.sdp})

    def sync(self, wanted: dict[tuple[str, str], UpTrack]) -> bool:
        """Forward exactly `wanted` ((publisher, kind) → up track); True if SDP must change."""
        changed = False
        for key in [k for k in self.downs if k not in wanted or self.downs[k].up is not wanted[k]]:
            down = self.downs.pop(key)
            down.unbind()
            transceiver = self._transceivers[down]
            transceiver.direction = "inactive"
            self._free.append((transceiver, down))
            changed = True
        for key, up in wanted.items():
            if key not in self.downs:
                self.downs[key] = self._down_for(up)
                changed = True
        return changed

    def _down_for(self, up: UpTrack) -> DownTrack:
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
        # The msid stream id is the publisher's pid, so the page knows whose tile it is.
        transceiver.sender._stream_id = up.pid
        transceiver.sender._track_id = f"{up.pid}-{up.kind}-{uuid.uuid4().hex[:8]}"
        down.bind(up)
        return down

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
