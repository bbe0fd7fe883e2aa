"""A test and benchmark participant: an aiortc peer that signals over the worker protocol,
publishes pre-encoded VP8 + Opus and counts what it receives per publisher.

Received media is counted at the RTP level (frames = packets with the marker bit) so a
bot can receive dozens of streams cheaply; `decode=True` also decodes, to prove it.
"""

from __future__ import annotations

import array
import asyncio
import collections
import fractions
import json
import math
import random
import re
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamTrack
from aiortc.codecs import is_rtx
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, pack_remb_fci,
                        unpack_remb_fci, unwrap_rtx)

from config.settings import media_secret_from_env

from . import aiortc_hooks as hooks
from . import messages as m
from .peer import enlarge_socket_buffers, rtc_configuration

_CLIPS: dict[tuple[Any, ...], list[tuple[bytes, bool]]] = {}
_OPUS: list[bytes] = []


ENCODERS = {
    "video/VP8": ("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}),
    "video/H264": ("libx264", {"preset": "ultrafast", "tune": "zerolatency",
                               "profile": "baseline"}),
}


def video_clip(width: int = 320, height: int = 180, fps: int = 30, seconds: float = 2.0,
               bitrate: int = 300_000, gop: int = 30,
               mime: str = "video/VP8") -> list[tuple[bytes, bool]]:
    """Encode a moving test pattern once; returns (encoded frame, is_keyframe) pairs."""
    key = (width, height, fps, seconds, bitrate, gop, mime)
    if key not in _CLIPS:
        name, options = ENCODERS[mime]
        enc = av.CodecContext.create(name, "w")
        enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
        enc.time_base = fractions.Fraction(1, fps)
        enc.bit_rate = bitrate
        enc.gop_size = gop
        enc.options = options
        out = []
        for i in range(int(fps * seconds)):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, step in zip(frame.planes, (4, 1, 2)):
                row = bytes(((x * 3 + i * step) // 2) & 255 for x in range(plane.line_size))
                plane.update(b"".join(
                    row[(r // 4) % 64:] + row[:(r // 4) % 64] for r in range(plane.height)))
            frame.pts = i
            out += [(bytes(p), p.is_keyframe) for p in enc.encode(frame)]
        out += [(bytes(p), p.is_keyframe) for p in enc.encode(None)]
        _CLIPS[key] = out
    return _CLIPS[key]


def opus_clip(seconds: float = 1.0) -> list[bytes]:
    """Encode a 440 Hz tone once as 20 ms Opus packets."""
    if not _OPUS:
        enc = av.CodecContext.create("libopus", "w")
        enc.sample_rate, enc.layout, enc.format = 48000, "mono", "s16"
        enc.bit_rate = 32000
        pcm = array.array("h", (int(8000 * math.sin(2 * math.pi * 440 * n / 48000))
                                for n in range(int(48000 * seconds))))
        for i in range(0, len(pcm) - 960 + 1, 960):
            frame = av.AudioFrame(format="s16", layout="mono", samples=960)
            frame.planes[0].update(pcm[i:i + 960].tobytes())
            frame.sample_rate, frame.pts = 48000, i
            _OPUS.extend(bytes(p) for p in enc.encode(frame))
    return _OPUS


class EncodedTrack(MediaStreamTrack):
    """Plays pre-encoded packets in a loop at a fixed rate; a keyframe request restarts."""

    def __init__(self, kind: str, packets: list[bytes], rate: float, clock: int) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._interval = 1.0 / rate
        self._ticks = int(clock / rate)
        self._time_base = fractions.Fraction(1, clock)
        self._n = 0
        self._pos = 0
        self._start: float | None = None
        self.sent = 0
        self.paused = False

    @property
    def position(self) -> int:
        """Index in the clip of the next frame to send."""
        return self._pos

    def restart(self) -> None:
        """Play from the clip's first frame (a keyframe) next."""
        self._pos = 0

    def pause(self, paused: bool) -> None:
        """Stop or resume sending (timing picks up where it stopped, without a burst)."""
        self.paused = paused

    async def recv(self) -> av.Packet:
        if self.paused:
            while self.paused:
                await asyncio.sleep(0.02)
            self._start = time.monotonic() - self._n * self._interval
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * self._interval - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(self._packets[self._pos])
        packet.pts = self._n * self._ticks
        packet.time_base = self._time_base
        self._n += 1
        self._pos = (self._pos + 1) % len(self._packets)
        self.sent += 1
        return packet


def is_vp8_keyframe(payload: bytes) -> bool:
    """True if this RTP payload starts a VP8 keyframe."""
    try:
        descr, rest = VpxPayloadDescriptor.parse(payload)
    except ValueError:
        return False
    return bool(descr.partition_start and descr.partition_id == 0 and rest and not rest[0] & 1)


async def connect(address: tuple[str, int], secret: str | None = None,
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open an authenticated connection to a worker (default secret: MVC_MEDIA_SECRET)."""
    reader, writer = await asyncio.open_connection(*address, limit=m.MAX_LINE)
    hello = await asyncio.wait_for(reader.readline(), 10)
    writer.write(m.auth(media_secret_from_env() if secret is None else secret, hello))
    if await asyncio.wait_for(reader.readline(), 10) != m.READY:
        writer.close()
        raise ConnectionError("the worker refused the handshake")
    return reader, writer


class Bot:
    """One participant talking to a worker over its TCP protocol."""

    def __init__(self, address: tuple[str, int] | None, room: str, pid: str,
                 publish: bool = True, decode: bool = False,
                 video: tuple[int, int, int] = (320, 180, 30), bitrate: int = 300_000,
                 send: Callable[[dict[str, Any]], None] | None = None,
                 mime: str = "video/VP8", secret: str | None = None, waiting: bool = False) -> None:
        """Talk to the worker at `address`, or through `send` (then feed replies to deliver()).

        `secret` is the worker's shared secret (default: MVC_MEDIA_SECRET); `waiting`: join
        from the waiting room (connected, forwarded nothing until the web sends "admit").
        """
        self.address, self.room, self.pid = address, room, pid
        self.secret = media_secret_from_env() if secret is None else secret
        self.publish, self.decode, self.waiting = publish, decode, waiting
        self.video_format, self.bitrate, self.mime = video, bitrate, mime
        self._send = send
        self.level = 127  # the audio level this bot claims to send (0 loudest, 127 silent)
        self.frames: dict[str, int] = defaultdict(int)  # video frames per publisher
        self.audio: dict[str, int] = defaultdict(int)  # audio packets per publisher
        self.packets = 0  # every RTP packet received
        self.transport_numbers: collections.deque[int] = collections.deque(maxlen=10_000)  # transport-cc
        self.keyframe_at: dict[str, float] = {}  # first keyframe received, per publisher
        self.decoded_at: dict[str, float] = {}  # first decoded frame, per publisher
        self.errors: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.joined_at = 0.0
        self.audio_gap: dict[str, float] = defaultdict(float)  # longest audio gap (s) per publisher
        self._audio_last: dict[str, float] = {}
        self.remb_received: list[tuple[float, int]] = []  # (when, bit/s) REMBs for our video
        self.tracks: list[EncodedTrack] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._new_connection()

    def _new_connection(self) -> None:
        self.pc = RTCPeerConnection(rtc_configuration([]))
        self._owner: dict[str, str] = {}  # mid → publisher pid, from the latest remote SDP
        self._hooked: set[int] = set()
        self._answered = asyncio.Event()

    def send(self, obj: dict[str, Any]) -> None:
        """Send one message to the worker."""
        if self._send is not None:
            self._send(obj)
        else:
            assert self._writer is not None
            self._writer.write(json.dumps(obj).encode() + b"\n")

    def deliver(self, msg: dict[str, Any]) -> None:
        """Hand in one message from the worker (call on the bot's event loop)."""
        self._inbox.put_nowait(msg)

    async def join(self) -> None:
        """Connect, join and make the first offer; returns once answered."""
        if self.address is not None:
            reader, self._writer = await connect(self.address, self.secret)
            self._tasks.append(asyncio.ensure_future(self._read(reader)))
        self._tasks.append(asyncio.ensure_future(self._process()))
        await self._negotiate()

    async def rejoin(self, send_join: bool = True) -> None:
        """Start over with a new peer connection (after the pool re-assigned the room)."""
        await self.pc.close()
        self._new_connection()
        await self._negotiate(send_join)

    async def _negotiate(self, send_join: bool = True) -> None:
        self.joined_at = time.monotonic()
        if send_join:
            self.send({"type": "join", "room": self.room, "pid": self.pid, "waiting": self.waiting})
        if self.publish:
            w, h, fps = self.video_format
            frames = [f for f, _ in video_clip(w, h, fps, bitrate=self.bitrate, mime=self.mime)]
            video = EncodedTrack("video", frames, fps, 90000)
            audio = EncodedTrack("audio", opus_clip(), 50, 48000)
            self.tracks = [video, audio]
            sender = self.pc.addTrack(video)
            transceiver = next(t for t in self.pc.getTransceivers() if t.sender is sender)
            caps = RTCRtpSender.getCapabilities("video").codecs
            transceiver.setCodecPreferences(
                [c for c in caps if c.mimeType == self.mime or c.mimeType == "video/rtx"])
            hooks.on_picture_loss(sender, video.restart)
            hooks.on_sender_rtcp(sender, self._note_remb)
            self._send_audio_level(self.pc.addTrack(audio))
        else:
            self.pc.addTransceiver("audio", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        enlarge_socket_buffers(self.pc)
        self.send({"type": "offer", "room": self.room, "pid": self.pid,
                   "sdp": self.pc.localDescription.sdp, "waiting": self.waiting})
        await asyncio.wait_for(self._answered.wait(), 10)

    def _note_remb(self, packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            self.remb_received.append((time.monotonic(), unpack_remb_fci(packet.fci)[0]))

    def reset_audio_gaps(self) -> None:
        """Measure the longest audio gaps from now on."""
        self.audio_gap.clear()
        self._audio_last.clear()

    def impair(self, delay: float, loss: float, seed: int = 1) -> None:
        """Delay every datagram this bot receives by `delay` s and drop a `loss` fraction."""
        loop = asyncio.get_event_loop()
        rng = random.Random(seed)

        def wrap(original: Callable[[bytes, Any], None]) -> Callable[[bytes, Any], None]:
            def received(data: bytes, addr: Any) -> None:
                if rng.random() >= loss:
                    loop.call_later(delay, original, data, addr)
            return received

        assert hooks.wrap_datagrams_received(self.pc, wrap) > 0

    def port(self) -> int:
        """The local UDP port of this bot's (bundled) connection."""
        return next(hooks.udp_sockets(self.pc)).getsockname()[1]

    def _send_audio_level(self, sender: Any) -> None:
        """Tag audio packets with ssrc-audio-level = self.level (-dBov; 127 is silence)."""
        def wrap(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
            async def next_frame(codec: Any) -> Any:
                frame = await original(codec)
                if frame is not None:
                    frame.audio_level = -self.level
                return frame
            return next_frame

        hooks.wrap_next_encoded_frame(sender, wrap)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            self.deliver(json.loads(line))

    async def _process(self) -> None:
        while True:
            msg = await self._inbox.get()
            self.messages.append(msg)
            if msg["type"] == "error":
                self.errors.append(msg)
            elif msg["type"] in ("answer", "offer"):
                try:
                    await self._remote(msg)
                except Exception as exc:  # a stale offer after a rejoin, say
                    self.errors.append({"type": "error", "message": repr(exc)})

    async def _remote(self, msg: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type=msg["type"]))
        self._map_owners(msg["sdp"])
        self._hook_receivers()
        if msg["type"] == "offer":
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            self.send({"type": "answer", "room": self.room, "pid": self.pid,
                       "sdp": self.pc.localDescription.sdp})
        self._answered.set()

    def _map_owners(self, sdp: str) -> None:
        for section in sdp.split("\r\nm=")[1:]:
            mid = re.search(r"a=mid:(\S+)", section)
            msid = re.search(r"a=msid:(\S+) ", section)
            if mid and msid and ("a=sendonly" in section or "a=sendrecv" in section):
                self._owner[mid.group(1)] = msid.group(1)
            elif mid:
                self._owner.pop(mid.group(1), None)

    def _hook_receivers(self) -> None:
        for t in self.pc.getTransceivers():
            receiver = t.receiver
            if id(receiver) in self._hooked or t.kind not in ("audio", "video"):
                continue
            self._hooked.add(id(receiver))
            self._hook(t, receiver)
            if self.decode and t.kind == "video" and receiver.track is not None:
                self._tasks.append(asyncio.ensure_future(self._drain(t, receiver.track)))

    def _hook(self, t: Any, receiver: Any) -> None:
        """Count packets per publisher; like a browser, NACK lost video and take RTX."""
        state = hooks.receiver_state(receiver)
        codecs, rtx_ssrc = state.codecs, state.rtx_ssrc
        streams, estimator = state.remote_streams, state.remote_bitrate_estimator
        original: Any = None
        nack = NackGenerator()
        seen: set[int] = set()
        order: collections.deque[int] = collections.deque()

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            if self.decode:
                await original(packet, arrival_time_ms)
            self.packets += 1
            if packet.extensions.transport_sequence_number is not None:
                self.transport_numbers.append(packet.extensions.transport_sequence_number)
            if not self.decode:
                await self._report(receiver, streams, estimator, codecs, packet, arrival_time_ms)
            owner = self._owner.get(t.mid or "")
            if owner is None:
                return
            if t.kind == "audio":
                self.audio[owner] += 1
                now = time.monotonic()
                if owner in self._audio_last:
                    self.audio_gap[owner] = max(self.audio_gap[owner], now - self._audio_last[owner])
                self._audio_last[owner] = now
                return
            codec = codecs.get(packet.payload_type)
            retransmitted = codec is not None and is_rtx(codec)
            if retransmitted:
                apt = codec.parameters.get("apt")
                if packet.ssrc not in rtx_ssrc or len(packet.payload) < 2:
                    return
                packet = unwrap_rtx(packet, payload_type=apt, ssrc=rtx_ssrc[packet.ssrc])
            if packet.sequence_number in seen:
                return  # a retransmission of something that arrived after all
            seen.add(packet.sequence_number)
            order.append(packet.sequence_number)
            if len(order) > 512:
                seen.discard(order.popleft())
            if nack.add(packet) and not retransmitted and not self.decode:
                await hooks.send_nack(receiver, packet.ssrc, sorted(nack.missing))
            if packet.marker:
                self.frames[owner] += 1
            if owner not in self.keyframe_at and is_vp8_keyframe(packet.payload):
                self.keyframe_at[owner] = time.monotonic()

        def install(previous: Any) -> Any:
            nonlocal original
            original = previous
            return handle

        hooks.replace_rtp_handler(receiver, install)

    @staticmethod
    async def _report(receiver: Any, streams: dict[int, Any], estimator: Any,
                      codecs: dict[int, Any], packet: RtpPacket, arrival_time_ms: int) -> None:
        """Feed aiortc's receiver reports and send REMB, like a browser's receiver does."""
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        if packet.ssrc not in streams:
            streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        streams[packet.ssrc].add(packet)
        if estimator is None or packet.extensions.abs_send_time is None:
            return
        remb = estimator.add(abs_send_time=packet.extensions.abs_send_time,
                             arrival_time_ms=arrival_time_ms,
                             payload_size=len(packet.payload) + packet.padding_size,
                             ssrc=packet.ssrc)
        rtcp_ssrc = hooks.receiver_rtcp_ssrc(receiver)
        if remb is not None and rtcp_ssrc is not None:
            await hooks.send_rtcp(receiver, RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(*remb)))

    async def _drain(self, t: Any, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                owner = self._owner.get(t.mid or "")
                if owner is not None:
                    self.decoded_at.setdefault(owner, time.monotonic())
        except Exception:
            pass

    async def leave(self) -> None:
        """Leave the room and close everything this bot started."""
        if self._writer is not None and not self._writer.is_closing():
            self.send({"type": "leave", "room": self.room, "pid": self.pid})
            await self._writer.drain()
        await self.close()

    async def close(self) -> None:
        """Close the connection and stop tasks."""
        for task in self._tasks:
            task.cancel()
        await self.pc.close()
        if self._writer is not None:
            self._writer.close()
