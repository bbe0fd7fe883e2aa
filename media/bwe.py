"""Bandwidth estimation from RTCP feedback, and bounded NACKs (no aiortc imports but rtp).

Downlink: every subscriber's browser reports on what the worker sends it — an estimate
for all it gets (the worker's own from the browser's transport-wide feedback, media.twcc,
where transport-cc is negotiated, as with Chromium; else the browser's REMB) and receiver
reports (the fraction of packets lost per stream). `DownlinkFeedback` keeps both for one
subscriber and turns them into one estimate in bit/s with the loss-based rule of Google
congestion control: more than 10 % loss → the estimate drops to the sent rate × (1 −
loss/2); under 2 % → it may grow by 5 % per update. As in GCC, the estimate is cut only on a new report (by its own
loss, not the smoothed one) and at most once per CUT_INTERVAL. Right after the worker
changes what it sends a subscriber (a lower layer, paused video: `quiet`), reports for
REPORT_LAG still count the loss of what it sent before, and must not cut the estimate
down to what it sends now; for the same reason a REMB can be asked to count only if its
value changed after a given time. media.layers uses it to choose layers, to pause video
and to tell a one-to-one publisher to send less.

Uplink: `UplinkControl` applies the same rule to what the worker receives from a
publisher (its receive-side loss), and caps the REMB the worker sends that publisher.

`BoundedNacks` keeps the worker from asking a publisher again and again for packets that
will not come in time: a lost packet is NACKed at most NACK_TRIES times and never after
NACK_WINDOW seconds, so subscribers are not made to wait for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiortc.rtp import (RTCP_PSFB_APP, RtcpPsfbPacket, RtcpRrPacket, RtcpSrPacket,
                        unpack_remb_fci)

LOSS_HIGH = 0.10  # above this loss fraction the estimate comes down
LOSS_LOW = 0.02  # below this it may go up
GROWTH = 1.05  # per update while loss is low
LOSS_SMOOTHING = 0.5  # weight of the newest loss report
FEEDBACK_STALE = 5.0  # seconds after which a REMB no longer counts (since its value last changed:
# a browser repeats an estimate it no longer updates, such as its first ramping one)
CUT_INTERVAL = 1.0  # seconds: the downlink estimate is cut at most this often (300 ms + RTT)
REPORT_LAG = 3.0  # seconds after the worker changes what it sends before a report describes only that
# (a browser reports about once a second on the time since its last report, and a switch of
# layers waits for a keyframe and for the queue the old ones filled to drain)
MAX_REPORTED = 1 << 16  # packets one stream's report may cover (more: a wrap or nonsense)
MAX_STREAMS = 256  # SSRCs whose last report is kept per subscriber
MIN_ESTIMATE = 30_000  # bit/s: never tell anyone to go below this (audio must fit)
NACK_TRIES = 3  # a lost packet is asked for at most this many times
NACK_WINDOW = 0.5  # seconds after which a lost packet is given up


def loss_rule(estimate: float | None, rate: float, loss: float) -> float | None:
    """One step of the loss-based controller: the new estimate (None: no limit known yet)."""
    if loss > LOSS_HIGH:
        base = rate if estimate is None else min(estimate, rate)
        return max(MIN_ESTIMATE, base * (1 - loss / 2))
    if loss < LOSS_LOW and estimate is not None:
        return estimate * GROWTH
    return estimate


class DownlinkFeedback:
    """What one subscriber reports about its downlink, as one estimate in bit/s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.remb: float | None = None  # the receiver's estimate (REMB, or from transport-cc)
        self.loss = 0.0  # smoothed
        self.last_loss = 0.0  # of the newest receiver report
        self.loss_estimate: float | None = None
        self.reports = 0  # RTCP packets seen (REMB or receiver reports)
        self._clock = clock
        self._remb_at = self._remb_changed_at = 0.0
        self._last_packet: Any = None
        self._new_loss = False  # a receiver report came since the last update (and counts)
        self._cut_at = -CUT_INTERVAL
        self._quiet_until = 0.0
        self._highest: dict[int, int] = {}  # SSRC → extended highest sequence last reported

    def on_rtcp(self, packet: Any) -> None:
        """Take one RTCP packet from the subscriber (each one once, whichever sender got it)."""
        if packet is self._last_packet:
            return  # aiortc hands a compound report to every sender it names
        self._last_packet = packet
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                remb = float(unpack_remb_fci(packet.fci)[0])
            except ValueError:
                return
            self.on_estimate(remb)
        elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)) and packet.reports:
            loss = self._loss_of(packet.reports)
            if loss is None:
                return
            self.loss = LOSS_SMOOTHING * loss + (1 - LOSS_SMOOTHING) * self.loss
            if self._clock() >= self._quiet_until:
                self.last_loss = loss
                self._new_loss = True
            self.reports += 1

    def on_estimate(self, bitrate: float) -> None:
        """Take the subscriber's downlink estimate: its REMB, or the worker's own from its
        transport-cc feedback (media.twcc); a browser sends one or the other."""
        self._remb_at = self._clock()
        if bitrate != self.remb:
            self.remb, self._remb_changed_at = bitrate, self._remb_at
        self.reports += 1

    def _loss_of(self, reports: list[Any]) -> float | None:
        """The fraction lost of all the packets the report blocks cover since each stream's
        last report (as GCC counts loss over all packets: a low-rate stream that lost two
        of its five must not count as 40 % of everything); None before any can be counted."""
        lost = expected = 0.0
        for r in reports:
            previous = self._highest.get(r.ssrc)
            self._highest[r.ssrc] = r.highest_sequence
            count = (r.highest_sequence - previous) & 0xFFFFFFFF if previous is not None else 0
            if 0 < count < MAX_REPORTED:
                expected += count
                lost += count * r.fraction_lost / 256
        if len(self._highest) > MAX_STREAMS:  # a subscriber naming ever new SSRCs
            self._highest = {r.ssrc: r.highest_sequence for r in reports}
        return lost / expected if expected else None

    def lower_to(self, estimate: float) -> None:
        """Less was sent because of `estimate` (a REMB, say): the loss-based estimate, which
        is what resuming is judged by, grows from there."""
        if self.loss_estimate is None or estimate < self.loss_estimate:
            self.loss_estimate = max(MIN_ESTIMATE, estimate)

    def quiet(self, until: float) -> None:
        """What is sent changed: reports received before `until` (clock time), and one not yet
        applied, cut nothing."""
        self._quiet_until = until
        self._new_loss = False

    def update(self, sent_rate: float) -> None:
        """Apply the loss rule once for what the worker sent (bit/s) since the last update."""
        now = self._clock()
        if sent_rate <= 0:  # nothing sent (or not counted): nothing learnt
            return
        if self.loss > LOSS_HIGH:
            if not self._new_loss or self.last_loss <= LOSS_HIGH or now - self._cut_at < CUT_INTERVAL:
                return  # nothing new (or only about what was sent before), better now, or cut lately
            self._cut_at = now
            self._new_loss = False
            self.loss_estimate = loss_rule(self.loss_estimate, sent_rate, self.last_loss)
            return
        self._new_loss = False
        self.loss_estimate = loss_rule(self.loss_estimate, sent_rate, self.loss)

    def estimate(self, corroborated: bool = False, since: float | None = None) -> float | None:
        """The subscriber's downlink in bit/s: the lower of a fresh REMB and the loss rule.

        With `corroborated`, a REMB counts only while there is loss too: a receiver's
        REMB starts low and ramps up, which must not pause anyone's video. With `since`
        (a time of the clock), only a REMB whose value changed after it counts (a browser
        repeats an old estimate for a long time after the traffic it described is gone).
        """
        values = [v for v in (self.loss_estimate,) if v is not None]
        fresh = (self.remb is not None and self._clock() - self._remb_changed_at < FEEDBACK_STALE
                 and (since is None or self._remb_changed_at >= since))
        if fresh and (not corroborated or self.loss >= LOSS_LOW):
            values.append(self.remb)  # type: ignore[arg-type]
        return min(values) if values else None


class UplinkControl:
    """The most the worker lets one publisher's video send (its REMB), from receive-side loss."""

    def __init__(self) -> None:
        self.cap: float | None = None
        self.loss = 0.0
        self.estimator: float | None = None  # aiortc's own delay-based REMB value
        self._expected = 0
        self._received = 0

    def update(self, expected: int, received: int, rate: float) -> None:
        """Account the publisher's packet counters (cumulative) and received rate (bit/s)."""
        d_expected, d_received = expected - self._expected, received - self._received
        self._expected, self._received = expected, received
        if d_expected <= 0 or rate <= 0:
            return
        self.loss = max(0.0, (d_expected - d_received) / d_expected)
        self.cap = loss_rule(self.cap, rate, self.loss)
        if self.cap is not None and self.estimator is not None and self.cap > self.estimator:
            self.cap = None  # recovered: the delay-based estimate leads again

    def remb(self, estimate: float, limit: float | None = None) -> int:
        """The REMB value to send: aiortc's estimate, capped by uplink loss and by `limit`."""
        self.estimator = estimate
        return self.value(limit) or int(estimate)

    def value(self, limit: float | None = None) -> int | None:
        """The least of aiortc's last estimate, the loss cap and `limit` (None: no limit)."""
        values = [v for v in (self.estimator, self.cap, limit) if v is not None]
        return int(max(MIN_ESTIMATE, min(values))) if values else None


class BoundedNacks:
    """A NACK generator's missing set, pruned so no packet is asked for too often or late."""

    def __init__(self, generator: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.generator = generator
        self._clock = clock
        self._first: dict[int, float] = {}
        self._tries: dict[int, int] = {}

    def add(self, packet: Any) -> bool:
        """Note a received packet; True if it revealed a new gap (a NACK should go out)."""
        gap = bool(self.generator.add(packet))
        if gap:
            now = self._clock()
            for seq in self.generator.missing:
                self._first.setdefault(seq, now)
        return gap

    def due(self) -> list[int]:
        """Sequence numbers to NACK now (each counted as one try); gives up on old ones."""
        missing: set[int] = self.generator.missing
        now = self._clock()
        for seq in list(self._first):
            if seq not in missing:
                del self._first[seq]
                self._tries.pop(seq, None)
        out = []
        for seq in sorted(missing):
            first = self._first.setdefault(seq, now)
            tries = self._tries.get(seq, 0)
            if tries >= NACK_TRIES or now - first > NACK_WINDOW:
                missing.discard(seq)  # will not come in time: stop waiting for it
                del self._first[seq]
                self._tries.pop(seq, None)
                continue
            out.append(seq)
        return out

    def take(self) -> list[int]:
        """The sequence numbers for one NACK, counting a try for each."""
        out = self.due()
        for seq in out:
            self._tries[seq] = self._tries.get(seq, 0) + 1
        return out


ABS_SEND_TIME_GROUP = 1311  # 5 ms in abs-send-time units (6.18 fixed point seconds, 24 bits)


class GroupedEstimator:
    """aiortc's receive-side bandwidth estimator fed once per send-time group instead of
    once per packet (a video frame's packets leave within 5 ms and form one group).

    aiortc's InterArrival groups packets the same way and computes its deltas between
    groups from each group's last send time, last arrival and total size, so one
    aggregated sample per group gives it the same deltas and the same incoming rate at a
    fraction of the Python work. A group is handed over when the next one begins.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator
        self._first = self._last = self._arrival = self._size = self._ssrc = 0

    def add(self, abs_send_time: int, arrival_time_ms: int, payload_size: int,
            ssrc: int) -> tuple[int, list[int]] | None:
        """Count one packet; returns what the estimator returns for a finished group."""
        result = None
        if self._size:
            ahead = ((abs_send_time - self._first + 0x800000) & 0xFFFFFF) - 0x800000
            if ahead <= ABS_SEND_TIME_GROUP:  # the same group (or a late packet of it)
                self._size += payload_size
                if ahead >= ((self._last - self._first + 0x800000) & 0xFFFFFF) - 0x800000:
                    self._last, self._arrival, self._ssrc = abs_send_time, arrival_time_ms, ssrc
                return None
            result = self.estimator.add(abs_send_time=self._last, arrival_time_ms=self._arrival,
                                        payload_size=self._size, ssrc=self._ssrc)
        self._first = self._last = abs_send_time
        self._arrival, self._size, self._ssrc = arrival_time_ms, payload_size, ssrc
        return result
