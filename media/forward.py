"""RTP-level forwarding: an up track (one publisher's stream) fans out to down tracks.

Nothing is decoded, re-encoded or re-packetised. The publisher's receiver keeps aiortc's
SRTP and RTCP receiver reports, but its jitter buffer, depayloader and decoder thread are
bypassed. A packet that is simply the next one of its stream is handled in C where it is
read from the socket (media/_rtpfast.c `drain()`): the receive statistics the reports
read, the NACK generator's sequence number, the bandwidth estimator (REMB to the
publisher) and the fan-out all work on the up track's `Core`. Every other packet (the
first, a gap, RTX, a codec change, a disarmed down track, the once-a-second check) takes
the Python steps below, which share that Core. The down tracks write SSRC, payload type,
sequence number, timestamp and header extensions in place on a copy of a per-subscriber
header template followed by the payload, and protect and send it on the subscriber's
selected ICE pair without a coroutine. The down sender keeps a history so NACKs from the
subscriber are answered (with RTX), and PLI/FIR from the subscriber becomes a
rate-limited PLI upstream. Without media/_rtpfast built, all of it runs in Python.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import struct
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import is_rtx
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpSendParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (RTCP_PSFB_APP, RTP_HISTORY_SIZE, RtcpPsfbPacket, RtpPacket,
                        pack_remb_fci, unwrap_rtx)
from aiortc import clock

from . import aiortc_hooks as hooks
from .bwe import BoundedNacks, GroupedEstimator, UplinkControl
from .keyframes import starts_keyframe
from .speaker import SILENCE

log = logging.getLogger(__name__)

RECENT_SEQUENCES = 512  # duplicate detection window per video up track
KEYFRAME_INTERVAL = 0.5  # at most one PLI upstream per publisher per this many seconds
VIDEO_FRAME_TICKS = 3000  # 1/30 s at 90 kHz, the gap left when a stream is re-bound
REMB_INTERVAL_MS = 200  # a steady or rising uplink estimate goes to the publisher this often
REMB_MIN_GAP_MS = 50  # and a falling one no more often than this
SYNC_SHIFT = 32  # down tracks are checked when the NTP time >> this changes: once a second

# Packets into up tracks and out of down tracks since the worker started (for `pong`).
# Process-wide figures for the pool's health and /metrics (plain ints: cheap on the packet path).
COUNTERS = {"packets_in": 0, "packets_out": 0, "packets_dropped": 0, "nacks_sent": 0, "keyframe_requests": 0,
            "transport_feedback": 0,  # transport-cc feedback packets from subscribers (media.twcc)
            "transport_feedback_sent": 0}  # and to publishers


def counters() -> dict[str, int]:
    """COUNTERS with what media/_rtpfast forwarded in C."""
    packets_in, packets_out = hooks.fast_counters()
    return {**COUNTERS, "packets_in": COUNTERS["packets_in"] + packets_in,
            "packets_out": COUNTERS["packets_out"] + packets_out}


class _PyCore:
    """media/_rtpfast.Core's fields that the Python steps use, for when it is not built."""

    def __init__(self) -> None:
        self.packets = self.octets = self.blocked = self.sync_tick = self.video = self.enabled = 0
        self.ssrc = self.pt = -1
        self.pid: str | None = None
        self.targets: list[Any] = []
        self.codecs: Any = None
        self.codec: Any = None
        self.levels = 0
        self.loudness = self.level_seen = 0.0
        self.on_unready: Any = None
        # Recently forwarded sequence numbers: a packet NACKed twice comes back twice.
        self._recent: set[int] = set()
        self._order: collections.deque[int] = collections.deque()

    def level_add(self, level: int) -> None:
        """Average in one packet's audio level, as SpeakerDetector.feed does."""
        loud = float(SILENCE - min(max(level, 0), SILENCE))
        prev = self.loudness if self.level_seen > 0 else loud
        self.loudness, self.level_seen = 0.8 * prev + 0.2 * loud, time.monotonic()

    def recent_add(self, seq: int) -> bool:
        """True if seq was forwarded lately (a duplicate), else remember it."""
        if seq in self._recent:
            return True
        self._recent.add(seq)
        self._order.append(seq)
        if len(self._order) > RECENT_SEQUENCES:
            self._recent.discard(self._order.popleft())
        return False


class CoreStats(StreamStatistics):
    """aiortc's receive statistics for a media SSRC, kept in a media/_rtpfast.Core (which
    drain() updates in C): what the receiver's RTCP reports read."""

    def __init__(self, core: Any) -> None:  # noqa: super().__init__ would overwrite the core
        self._core = core
        self._expected_prior = 0
        self._received_prior = 0

    def add(self, packet: RtpPacket) -> None:
        self._core.stats_add(packet.sequence_number, packet.timestamp)

    def snapshot(self) -> StreamStatistics:
        """A plain StreamStatistics with these figures (the core moves on to a new SSRC)."""
        out = StreamStatistics(self._clockrate)
        for name in ("base_seq", "max_seq", "cycles", "packets_received", "_jitter_q4", "_last_arrival",
                     "_last_timestamp", "_expected_prior", "_received_prior"):
            setattr(out, name, getattr(self, name))
        return out

    base_seq = property(lambda self: _none(self._core.base_seq))
    max_seq = property(lambda self: _none(self._core.stats_max))
    cycles = property(lambda self: self._core.cycles)
    packets_received = property(lambda self: self._core.received)
    _jitter_q4 = property(lambda self: self._core.jitter_q4)
    _last_arrival = property(lambda self: _none(self._core.last_arrival))
    _last_timestamp = property(lambda self: _none(self._core.last_timestamp))
    _clockrate = property(lambda self: self._core.clockrate)


def _none(value: int) -> int | None:
    return None if value < 0 else value


class CoreNackGenerator(NackGenerator):
    """aiortc's NACK generator whose highest sequence number lives in a media/_rtpfast.Core
    (drain() moves it on for in-order packets while nothing is missing)."""

    def __init__(self, core: Any) -> None:  # noqa: super().__init__ would overwrite the core
        self._core = core
        self.missing: set[int] = set()
        core.missing = self.missing

    @property  # type: ignore[override]
    def max_seq(self) -> int | None:
        return _none(self._core.nack_max)

    @max_seq.setter
    def max_seq(self, value: int | None) -> None:
        self._core.nack_max = -1 if value is None else value


class CoreGroupedEstimator:
    """GroupedEstimator with its send-time group kept in a media/_rtpfast.Core."""

    def __init__(self, estimator: Any, core: Any) -> None:
        self.estimator, self._core = estimator, core

    def add(self, abs_send_time: int, arrival_time_ms: int, payload_size: int,
            ssrc: int) -> tuple[int, list[int]] | None:
        group = self._core.group_add(abs_send_time, arrival_time_ms, payload_size, ssrc)
        if group is None:
            return None
        return self.estimator.add(abs_send_time=group[0], arrival_time_ms=group[1], payload_size=group[2],
                                  ssrc=group[3])


class RembSender:
    """What a publisher is told it may send (RTCP REMB) for its streams on one receiver: an
    up track's, or a simulcast publisher's for all its layers together (media.simulcast)."""

    def _init_remb(self, receiver: RTCRtpReceiver) -> None:
        self.uplink = UplinkControl()  # weak uplinks: caps the REMB we send (media.bwe)
        self.remb_limit: float | None = None  # set by media.layers (one-to-one calls)
        # The publisher numbers its packets and gets the worker's transport-cc feedback: it
        # estimates its uplink itself, and a REMB only ever carries remb_limit (media.layers).
        self.transport_cc = False
        self.remb_capped = False  # a REMB with remb_limit went out and still holds
        self._remb_receiver = receiver
        self._remb_sent = (-REMB_INTERVAL_MS, 0)  # (arrival ms, bitrate) of the last REMB sent

    def media_ssrcs(self) -> list[int]:
        """The publisher's media SSRCs the REMB is about."""
        raise NotImplementedError

    def _remb(self, estimate: int, ssrcs: list[int], now_ms: int) -> None:
        """Tell the publisher what its uplink carries (RTCP REMB), as browsers do: at once
        when it drops by more than 3 %, otherwise at most every REMB_INTERVAL_MS (the
        estimator may offer a new figure with every packet while it sees overuse)."""
        if self.transport_cc:
            return
        bitrate = self.uplink.remb(estimate, self.remb_limit)
        last_ms, last = self._remb_sent
        if now_ms - last_ms < REMB_MIN_GAP_MS or (now_ms - last_ms < REMB_INTERVAL_MS and bitrate >= last * 0.97):
            return
        rtcp_ssrc = hooks.receiver_rtcp_ssrc(self._remb_receiver)
        if rtcp_ssrc is None:
            return
        self._remb_sent = (now_ms, bitrate)
        asyncio.ensure_future(hooks.send_rtcp(self._remb_receiver, RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs))))

    def send_remb(self, bitrate: int) -> None:
        """Tell the publisher the most it may send on these streams (RTCP REMB)."""
        rtcp_ssrc = hooks.receiver_rtcp_ssrc(self._remb_receiver)
        ssrcs = self.media_ssrcs()
        if ssrcs and rtcp_ssrc is not None:
            asyncio.ensure_future(hooks.send_rtcp(self._remb_receiver, RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs))))


class UpTrack(RembSender):
    """One publisher's incoming audio or video stream, forwarded to its down tracks.

    `name` tells a publisher's streams apart: "audio", "video" (camera) or "screen". A
    simulcast layer is an up track too, with its `owner` (media.simulcast.SimulcastUp),
    which hands it its packets and shares one bandwidth estimator among its layers.
    """

    def __init__(self, pid: str, kind: str, receiver: RTCRtpReceiver,
                 codecs: list[RTCRtpCodecParameters], name: str | None = None,
                 owner: Any = None) -> None:
        self.pid = pid
        self.kind = kind
        self.name = name or kind
        self.receiver = receiver
        self.codecs = [c for c in codecs if not is_rtx(c)]
        self.owner = owner
        self.downs: set[DownTrack] = set()
        # Down tracks switching to this simulcast layer at its next keyframe → the layer they
        # get until then (media.simulcast); while any wait, every packet takes the Python steps.
        self.waiting: dict[DownTrack, UpTrack] = {}
        self.handle: Callable[[RtpPacket, int], None] | None = None  # a layer's packet handler
        # The receive state C shares (media/_rtpfast.Core: counts, statistics, NACK sequence,
        # estimator groups, targets); without media/_rtpfast a plain stand-in.
        self.core: Any = hooks.new_core() or _PyCore()
        self.core.video = int(kind == "video")
        self.core.pid = pid
        self.core.targets = []
        self._init_remb(receiver)
        self._receiver = receiver
        self._media_ssrc: int | None = None
        self._last_pli = 0.0
        self._pli_later: asyncio.TimerHandle | None = None
        self._mime = ""  # of the last packet forwarded
        self._closed = False
        self._install(receiver)

    def media_ssrcs(self) -> list[int]:
        return [] if self._media_ssrc is None else [self._media_ssrc]

    def packets_for(self, down: DownTrack) -> int:
        """Packets received of the stream `down` gets (as `packets`; a simulcast group's differ)."""
        return self.packets

    @property
    def packets(self) -> int:
        """Packets received on the publisher's media SSRC (with RTX repairs)."""
        return self.core.packets

    @property
    def octets(self) -> int:
        """Payload bytes received (with `packets`: the publisher's ingest)."""
        return self.core.octets

    @property
    def blocked(self) -> bool:
        """Held back by policy: nothing is forwarded."""
        return bool(self.core.blocked)

    @blocked.setter
    def blocked(self, value: bool) -> None:
        self.core.blocked = int(value)

    def keep_levels(self) -> None:
        """Keep the average loudness of the audio levels (ssrc-audio-level) for the active
        speaker: `loudness()` reads it (in C as the packets pass)."""
        if self.kind == "audio":
            self.core.levels = 1

    def loudness(self) -> tuple[float, float] | None:
        """(average loudness, time.monotonic() of the last level), or None before any."""
        core = self.core
        return (core.loudness, core.level_seen) if core.level_seen > 0 else None

    def add_down(self, down: DownTrack) -> None:
        """Forward to `down` too (`downs` changes only here and in discard_down: the core's
        target list follows it)."""
        self.downs.add(down)
        self.core.targets = [d.target for d in self.downs]

    def discard_down(self, down: DownTrack, paused: bool = False) -> None:
        """Stop forwarding to `down` (`paused`: for now; a simulcast group keeps its layer)."""
        self.downs.discard(down)
        self.core.targets = [d.target for d in self.downs]

    def _install(self, receiver: RTCRtpReceiver) -> None:
        """Replace the receiver's packet handler by ours (bypassing jitter buffer/decoder)."""
        r = receiver
        state = hooks.receiver_state(r)
        codecs, rtx_ssrc = state.codecs, state.rtx_ssrc
        streams, active = state.remote_streams, state.active_ssrc
        core, fast = self.core, not isinstance(self.core, _PyCore)
        # The uplink estimate (REMB) is about video, as in browsers, which send abs-send-time
        # on video only: an audio stream's 30 kbit/s must never become a publisher's cap.
        # A simulcast group's layers share one estimator: it sees all the publisher sends.
        estimator: Any = None
        remb = (self.owner or self)._remb
        if state.remote_bitrate_estimator is not None and self.kind == "video":
            if fast:  # aiortc's estimator in C, fed by drain() and by the steps below
                core.estimator = self.owner.estimator(True) if self.owner else hooks.new_estimator()
                core.on_remb = remb
                estimator = CoreGroupedEstimator(core.estimator, core)
            elif self.owner is not None:
                estimator = self.owner.estimator(False)
            else:
                estimator = GroupedEstimator(state.remote_bitrate_estimator)
        nack = None
        if state.nack_generator is not None:  # a layer has its own (one sequence per SSRC)
            nack = BoundedNacks(CoreNackGenerator(core) if fast
                                else NackGenerator() if self.owner else state.nack_generator)
        rtx_codecs: dict[int, tuple[RTCRtpCodecParameters, bool]] = {}  # payload type → (codec, is RTX)
        core.codecs = codecs
        core.on_unready = self._send_unready

        def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            if estimator is not None and packet.extensions.abs_send_time is not None:
                got = estimator.add(packet.extensions.abs_send_time, arrival_time_ms,
                                     len(packet.payload) + packet.padding_size, packet.ssrc)
                if got is not None:
                    remb(got[0], got[1], arrival_time_ms)
            codec = codecs.get(packet.payload_type)
            if codec is None:
                return
            known = rtx_codecs.get(packet.payload_type)
            if known is None or known[0] is not codec:  # first seen, or renegotiated
                known = rtx_codecs[packet.payload_type] = (codec, is_rtx(codec))
            stats = streams.get(packet.ssrc)
            if stats is None:
                if fast and not known[1]:  # the media SSRC: its figures live in the core
                    stats = self._adopt(packet.ssrc, codec, streams)
                else:
                    stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
                active[packet.ssrc] = clock.current_datetime()
            stats.add(packet)
            if known[1]:
                original = rtx_ssrc.get(packet.ssrc)
                apt = codec.parameters.get("apt")
                if original is None or len(packet.payload) < 2 or apt not in codecs:
                    return
                packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
                codec = codecs[apt]
            self._media_ssrc = packet.ssrc
            if nack is not None and nack.add(packet):
                COUNTERS["nacks_sent"] += 1
                asyncio.ensure_future(hooks.send_nack(r, packet.ssrc, nack.take()))
            if fast and packet.ssrc == core.ssrc and (core.pt != packet.payload_type or core.codec is not codec):
                core.pt, core.codec = packet.payload_type, codec  # the packets C may take from now on
            self.forward(packet, codec)

        if self.owner is None:
            hooks.handle_rtp_directly(r, handle)
        else:
            self.handle = handle

    def _adopt(self, ssrc: int, codec: RTCRtpCodecParameters, streams: dict[int, Any]) -> StreamStatistics:
        """Make `ssrc` the core's media SSRC (a new one replaces the last: its figures stay
        in the receiver's statistics as they were) and let drain() take its packets."""
        core = self.core
        if core.ssrc >= 0:
            old = streams.get(core.ssrc)
            if isinstance(old, CoreStats):
                streams[core.ssrc] = old.snapshot()
            hooks.unregister_core(self._receiver, core.ssrc)
            core.reset_stats()
        core.ssrc, core.clockrate, core.pt, core.codec = ssrc, codec.clockRate, -1, None
        stats = streams[ssrc] = CoreStats(core)
        hooks.register_core(self._receiver, ssrc, core)
        self._let_core_forward()
        return stats

    def _let_core_forward(self) -> None:
        """drain() takes this stream's in-order packets unless nothing is adopted yet, down
        tracks wait for a keyframe (checked in forward()), or the track is closed."""
        core = self.core
        core.enabled = int(core.ssrc >= 0 and not self.waiting and not self._closed)

    def _send_unready(self, data: bytes) -> None:
        """C sent a packet to its armed targets and one disarmed: send it to that one here."""
        try:
            packet = hooks.parse_plain(self._receiver, data)
        except ValueError:
            return
        ntp = hooks.current_ntp_time()
        level = packet.extensions.audio_level
        level_byte = ((0x80 if level[0] else 0) | level[1]) if level else 0x7F
        for down in list(self.downs):
            if not down.target.ready:
                down.send(packet, self._mime, ntp, (ntp >> 14) & 0x00FFFFFF, level_byte)

    def forward(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        """Send one packet to every down track (nothing at all while blocked)."""
        core = self.core
        core.packets += 1
        core.octets += len(packet.payload)
        COUNTERS["packets_in"] += 1
        if core.blocked:
            return  # not forwarded, and never the active speaker either
        if core.levels and self.kind == "audio" and packet.extensions.audio_level:
            core.level_add(packet.extensions.audio_level[1])
        if not self.downs and not self.waiting:
            return
        if self.kind == "video" and core.recent_add(packet.sequence_number):
            return
        ntp = hooks.current_ntp_time()
        abs_send_time = (ntp >> 14) & 0x00FFFFFF
        level = packet.extensions.audio_level
        level_byte = ((0x80 if level[0] else 0) | level[1]) if level else 0x7F
        mime = codec.mimeType.lower()
        if mime != self._mime:  # a codec change: every down track checks it in send()
            self._mime = mime
            for down in self.downs:
                down.disarm()
        if self.waiting and starts_keyframe(mime, packet.payload):
            self._take_waiting()
        targets = core.targets
        sent = hooks.fanout(targets, packet.payload, packet.marker, packet.sequence_number,
                            packet.timestamp, level_byte, abs_send_time, ntp)
        COUNTERS["packets_out"] += sent
        if sent < len(targets):
            for down in list(self.downs):
                if not down.target.ready:
                    down.send(packet, mime, ntp, abs_send_time, level_byte)
        if ntp >> SYNC_SHIFT != core.sync_tick:  # once a second, on the packet path (no timers)
            core.sync_tick = ntp >> SYNC_SHIFT
            for down in list(self.downs):
                down.sync()

    def wait_for_keyframe(self, down: DownTrack, current: UpTrack) -> None:
        """Switch `down` from layer `current` to this one at this layer's next keyframe
        (asked for now); until then it keeps getting `current`."""
        self.waiting[down] = current
        self._let_core_forward()
        self.request_keyframe()

    def stop_waiting(self, down: DownTrack) -> None:
        if self.waiting.pop(down, None) is not None:
            self._let_core_forward()

    def _take_waiting(self) -> None:
        """A keyframe begins: every waiting down track leaves its old layer for this one."""
        waiting, self.waiting = self.waiting, {}
        for down, current in waiting.items():
            current.discard_down(down)
            self.add_down(down)
            down.switched()
            if self.owner is not None:
                self.owner.switched(down, self)
        self._let_core_forward()

    def request_keyframe(self, down: DownTrack | None = None) -> None:
        """Ask the publisher for a keyframe, at most once per KEYFRAME_INTERVAL (`down`: the
        down track that needs it; a simulcast group asks on that one's layer)."""
        if self.kind != "video":
            return
        now = time.monotonic()
        wait = self._last_pli + KEYFRAME_INTERVAL - now
        if wait <= 0:
            self._last_pli = now
            self._send_pli()
        elif self._pli_later is None:
            # Keep the request instead of dropping it, so a new receiver is never
            # left waiting for the publisher's next periodic keyframe.
            self._pli_later = asyncio.get_event_loop().call_later(wait, self._deferred_pli)

    def _deferred_pli(self) -> None:
        self._pli_later = None
        self.request_keyframe()

    def media_statistics(self) -> tuple[int, int] | None:
        """Packets expected and received so far on the publisher's media SSRC."""
        stats = hooks.receiver_state(self._receiver).remote_streams.get(self._media_ssrc or -1)
        return None if stats is None else (stats.packets_expected, stats.packets_received)

    def lost_upstream(self) -> int:
        """Packets of the publisher's media SSRC that never reached the worker (so far)."""
        counts = self.media_statistics()
        return 0 if counts is None else max(0, counts[0] - counts[1])

    def _send_pli(self) -> None:
        if self._media_ssrc is not None:
            COUNTERS["keyframe_requests"] += 1
            asyncio.ensure_future(hooks.send_pli(self._receiver, self._media_ssrc))

    def close(self) -> None:
        """Detach every down track and forget pending keyframe requests."""
        self._closed = True
        for down in list(self.downs):
            down.unbind()
        self.waiting.clear()
        self.core.enabled = 0
        if self.core.ssrc >= 0:
            hooks.unregister_core(self._receiver, self.core.ssrc)
        if self._pli_later is not None:
            self._pli_later.cancel()
            self._pli_later = None


class SilentTrack(MediaStreamTrack):
    """A placeholder track for a forwarding sender: aiortc's own send loop idles on it."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

    async def recv(self) -> Any:
        return await self._never

    def stop(self) -> None:
        super().stop()
        if not self._never.done():
            self._never.cancel()


REPORT_INTERVAL = 1.0  # seconds between RTCP sender reports (aiortc: 0.5-1.5 s, 1 on average)


class SenderReports:
    """Every down track's RTCP sender report, sent for all of them from one timer (each
    aiortc sender otherwise has a timer, a task step and its packet classes per report)."""

    def __init__(self) -> None:
        self.downs: dict[DownTrack, None] = {}  # in the order they started
        self._task: asyncio.Task[None] | None = None

    def register(self, down: DownTrack, on: bool) -> None:
        if not on:
            self.downs.pop(down, None)
            return
        self.downs[down] = None
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self.downs:
            await asyncio.sleep(REPORT_INTERVAL)
            for down in list(self.downs):
                down.report()


REPORTS = SenderReports()


class DownTrack:
    """One forwarded stream to one subscriber, carried by an aiortc sender.

    Its sequence/timestamp state lives in a fanout target (media/_rtpfast.c). The first
    packet after anything changes (a new binding, a resync, a codec, the connection) takes
    send() in Python, which sets the offsets and arms the target; after that each received
    packet goes to armed targets in one C call (drain() in C, or hooks.fanout from
    UpTrack.forward), and once a second UpTrack calls sync(), which checks the connection
    and brings the sender-report counts up to date.
    """

    def __init__(self, kind: str, sender: RTCRtpSender) -> None:
        self.kind = kind
        self.sender = sender
        self.up: UpTrack | None = None
        self._py_failures = 0
        self._skipped = 0  # packets of the up track not sent while paused (see skipped())
        self._paused_at = 0  # the up track's packet count when this track was paused
        self._codec: RTCRtpCodecParameters | None = None
        self._mid: str | None = None
        self._history = hooks.raw_rtp_history(sender)
        self.target = hooks.new_target()
        self.target.history = self._history.ring
        self.target.seq_offset = random.randrange(1 << 16)
        self.target.ts_offset = random.randrange(1 << 32)
        self._armed: hooks.Egress | None = None
        self._reported = [0, 0]  # packets and octets brought over to the sender's reports
        self._resync = False
        self._rebound = False
        self._write = hooks.rtp_writer(sender)
        self._header: bytes | None = None
        self._mime = ""
        self._marker_pt = 0
        self._level_at = self._abs_at = self._twcc_at = 0
        hooks.after_send_started(sender, self._started)
        hooks.on_picture_loss(sender, self._on_picture_loss)
        # Weak downlinks (media.layers): the subscriber's REMB and receiver reports go to
        # on_feedback; a paused down track keeps its binding but gets no packets.
        self.on_feedback: Callable[[Any], None] | None = None
        self.paused = False
        hooks.on_sender_rtcp(sender, self._feedback)
        hooks.handle_rtcp_directly(sender)
        hooks.before_get_stats(sender, lambda: hooks.sync_sent(sender, self.target, self._reported))
        self._description = b""  # the sender's RTCP SDES (its CNAME), once it has started
        if hooks.FAST_PATH:
            hooks.report_senders_together(sender, lambda on: REPORTS.register(self, on))

    @property
    def packets(self) -> int:
        """Packets sent to the subscriber."""
        return self.target.packets

    def octets(self) -> int:
        """Payload octets sent to the subscriber so far (current to the packet)."""
        return self.target.octets

    @property
    def send_failures(self) -> int:
        """Packets not sent: not connected, or the socket had no room."""
        return self._py_failures + self.target.failures

    @property
    def _last_seq(self) -> int | None:
        return None if self.target.last_seq < 0 else self.target.last_seq

    def disarm(self) -> None:
        """Send the next packet through send() (which re-arms when all is well)."""
        self.target.ready = 0

    def _arm(self) -> None:
        """Let fanout send to this track: connection, header and offsets are all set."""
        armed = hooks.arm_target(self.sender, self.target)
        if armed is None or self._header is None:
            return
        t = self.target
        t.header, t.payload_type = self._header, self._marker_pt
        t.level_at, t.abs_at, t.twcc_at = self._level_at, self._abs_at, self._twcc_at
        t.twcc = hooks.twcc_numbers(self.sender) if self._twcc_at else None
        self._armed = armed
        t.ready = 1

    def sync(self) -> None:
        """The sender's report counts follow what was sent, and a changed connection (new
        ICE pair, DTLS gone) disarms the target (UpTrack calls this once a second)."""
        hooks.sync_sent(self.sender, self.target, self._reported)
        if self._armed is not None and not hooks.egress_unchanged(self.sender, self._armed):
            self._armed = None
            self.disarm()

    def report(self) -> None:
        """Send the RTCP sender report (with SDES) for what was sent so far; nothing while the
        target is not armed (no connection yet, or packets going through send())."""
        if not self.target.ready:
            return
        hooks.sync_sent(self.sender, self.target, self._reported)
        if not self._description:
            self._description = hooks.sender_description(self.sender)
        hooks.send_sender_report(self.sender, self.target, self._description)

    async def _started(self, parameters: RTCRtpSendParameters) -> None:
        self._codec = parameters.codecs[0]
        self._mid = parameters.muxId
        self._make_header(self._codec, self._mid)
        if self.up is not None:
            self.up.request_keyframe(self)

    def _on_picture_loss(self) -> None:
        if self.up is not None:
            self.up.request_keyframe(self)

    def _feedback(self, packet: Any) -> None:
        if self.on_feedback is not None:
            self.on_feedback(packet)

    def pause(self, paused: bool) -> None:
        """Stop or resume forwarding without unbinding (resuming waits for a keyframe)."""
        if paused == self.paused:
            return
        self._count_skipped()
        self.paused = paused
        if self.up is None:
            return
        if paused:
            self.up.discard_down(self, paused=True)
        else:
            self.up.add_down(self)
            self._rebound = self._last_seq is not None
            self.disarm()
            self.up.request_keyframe(self)

    def _count_skipped(self) -> None:
        """Add what the up track received since the last count while this track is paused
        (not while the publisher is blocked: media held back by policy is not dropped)."""
        if self.paused and self.up is not None and not self.up.blocked:
            self._skipped += max(0, self.up.packets_for(self) - self._paused_at)
        self._paused_at = self.up.packets_for(self) if self.up is not None else 0

    def skipped(self) -> int:
        """Packets not forwarded to the subscriber because its downlink was paused (media.layers)."""
        self._count_skipped()
        return self._skipped

    def dropped(self) -> int:
        """Packets meant for the subscriber that never reached it: send failures, NACKs the
        history could not answer, and packets skipped while paused."""
        return self.send_failures + self._history.misses + self.skipped()

    def bind(self, up: UpTrack) -> None:
        """Start forwarding `up` on this sender (a re-bound sender keeps seq/ts contiguous)."""
        self.unbind()
        self.up = up
        self._paused_at = up.packets_for(self)
        if not self.paused:
            up.add_down(self)
        self._rebound = self._last_seq is not None
        if self._codec is not None:
            up.request_keyframe(self)

    def switched(self) -> None:
        """Another simulcast layer of the same publisher comes next (from a keyframe): keep
        sequence numbers and timestamps contiguous, as after a re-binding."""
        self._rebound = self._last_seq is not None
        self.disarm()

    def unbind(self) -> None:
        """Stop forwarding at once."""
        self._count_skipped()
        self.disarm()
        hooks.sync_sent(self.sender, self.target, self._reported)  # the last counts, now
        if self.up is not None:
            self.up.discard_down(self)
            self.up = None
        self._resync = True

    def send(self, packet: RtpPacket, mime: str, ntp: int, abs_send_time: int,
             level_byte: int) -> None:
        """Rewrite one publisher packet for this subscriber and send it (ntp: send time),
        setting the offsets after a change; then arm the target for fanout.

        The header is written in place into a copy of this track's header template
        (SSRC, mid and extension ids fixed per subscriber), followed by the payload bytes.
        """
        header = self._header
        if header is None or self._mime != mime:
            return
        t = self.target
        if self._rebound:
            t.ts_offset = (t.last_ts + VIDEO_FRAME_TICKS - packet.timestamp) % (1 << 32)
            self._rebound = False
            self._resync = True
        if self._resync and t.last_seq >= 0:
            t.seq_offset = (t.last_seq + 1 - packet.sequence_number) % (1 << 16)
        self._resync = False
        seq = (packet.sequence_number + t.seq_offset) & 0xFFFF
        ts = (packet.timestamp + t.ts_offset) & 0xFFFFFFFF
        t.last_seq, t.last_ts = seq, ts
        try:
            out = self._write(header, packet.payload, self._marker_pt | (0x80 if packet.marker else 0), seq, ts,
                              self._level_at, level_byte, self._abs_at, abs_send_time, self._twcc_at)
        except ConnectionError:
            out = None
        if out is None:  # not connected, or the socket had no room: dropped
            self._py_failures += 1
            COUNTERS["packets_dropped"] += 1
            return
        self._history.ring[seq % RTP_HISTORY_SIZE] = out
        t.packets += 1
        t.octets += len(packet.payload)
        t.last_ntp = ntp
        COUNTERS["packets_out"] += 1
        if hooks.FAST_PATH:
            self._arm()
        else:
            hooks.sync_sent(self.sender, t, self._reported)

    def _make_header(self, codec: RTCRtpCodecParameters, mid: str | None) -> None:
        """Build this track's RTP header template (extension ids as negotiated with the subscriber)."""
        ids = hooks.extension_ids(self.sender)
        items: list[tuple[str, int, bytes]] = []
        if ids.mid and mid:
            items.append(("mid", ids.mid, mid.encode()))
        if ids.audio_level and self.kind == "audio":
            items.append(("level", ids.audio_level, b"\x7f"))
        if ids.abs_send_time and self.kind == "video":
            items.append(("abs", ids.abs_send_time, b"\0\0\0"))
        if ids.transport_sequence_number:  # negotiated where the worker sends (media.twcc)
            items.append(("twcc", ids.transport_sequence_number, b"\0\0"))
        one_byte = all(i < 15 and 0 < len(v) <= 16 for _, i, v in items)
        ext, at = bytearray(), {}
        for name, x_id, value in items:
            ext += bytes([(x_id << 4) | (len(value) - 1)] if one_byte else [x_id, len(value)])
            at[name] = 12 + 4 + len(ext)
            ext += value
        ext += b"\0" * (-len(ext) % 4)
        header = bytearray(struct.pack("!BBHLL", 0x90 if items else 0x80, 0, 0, 0,
                                       hooks.sender_ssrc(self.sender)))
        if items:
            header += struct.pack("!HH", 0xBEDE if one_byte else 0x1000, len(ext) // 4) + ext
        self.disarm()
        self._level_at, self._abs_at, self._twcc_at = at.get("level", 0), at.get("abs", 0), at.get("twcc", 0)
        self._marker_pt = codec.payloadType
        self._mime = codec.mimeType.lower()
        self._header = bytes(header)
