"""Transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01).

Why: with REMB the receiver estimates and tells the sender; with transport-wide feedback
the receiver only reports when each packet (numbered across all streams of a transport)
arrived, and the sender estimates. So the worker records a publisher's arrivals and sends
feedback (`ArrivalRecorder`), and estimates a subscriber's downlink from that browser's
feedback (`SendSideEstimator`, fed by `DownlinkTwcc`). aiortc implements neither. A
publisher that numbers its packets (Chromium) estimates its uplink itself from the
worker's feedback, with its own probing; the worker's REMB then carries only the cap of
a one-to-one call (media.layers), where before it was the worker's receive-side estimate.

The estimator follows the design of libwebrtc's GoogCC: packets sent within 5 ms form a
group (a video frame); the change of one-way delay between groups, accumulated and
smoothed, is fitted by a line whose slope (the trend) tells whether queues fill up; an
adaptive threshold turns it into overusing / normal / underusing; and an AIMD controller
sets the estimate from that and from the rate the receiver acknowledged. On top, as in
media.bwe, heavy loss cuts the estimate and light loss lets it grow back.

What the peer sends is hostile input: parsing raises ValueError on anything malformed,
and nothing the peer sends makes memory grow. Times are integers in microseconds on each
side's own clock, passed in rather than read (DownlinkTwcc reads an injectable clock).
"""

from __future__ import annotations

import math
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from media.bwe import LOSS_HIGH, LOSS_LOW, MIN_ESTIMATE

RTCP_RTPFB, TWCC_FMT = 205, 15  # RTCP transport layer feedback; its transport-wide format
HEADER = struct.Struct("!BBHII")  # V/P/FMT, packet type, length in words - 1, two SSRCs
FCI_HEADER = struct.Struct("!HHI")  # base sequence, status count, reference time << 8 | fb count
DELTA_US, REFERENCE_US = 250, 64_000  # units of the receive deltas and of the reference time
NOT_RECEIVED, SMALL, LARGE = 0, 1, 2  # status symbols (received with a 1- or 2-byte delta)
MAX_STATUS_COUNT = 1 << 14  # packets one feedback may report (more: nonsense, or an attack)
MAX_RUN = 0x1FFF  # the longest run one run-length chunk holds
MAX_PACKET = 1200  # bytes: build_feedback splits what would not fit in one datagram safely

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
HISTORY_KEPT = 4096  # send times media._rtpfast.Twcc keeps (TWCC_RING): feedback on more is no use
MAX_FEEDBACK_PER_S = 50  # a browser sends 10-20 a second; more are left unread (a flood)
MAX_TRACKED = 1024  # packets the recorder holds between two feedbacks (a browser sends up to ~300 in
# the 100 ms between them; more: a hostile publisher, whose feedback would cost 4 times as much to build)
RESYNC_AFTER = 64  # packets in a row that look old before the recorder starts afresh (the
# sender's numbers jumped by more than half the 16-bit space)

MAX_HISTORY, HISTORY_US = 1 << 15, 2_000_000  # sent packets kept to match feedback against
STREAM_TIMEOUT_US = 2_000_000  # no feedback for this long: the delay history starts afresh
GROUP_US = 5_000  # packets sent within this of a group's first belong to it (a frame)
BURST_US, MAX_BURST_US = 5_000, 100_000  # so do those arriving closer than this, sooner than
# they were sent (they caught up in a queue), while the group is no longer than MAX_BURST_US
CLOCK_JUMP_US = 3_000_000  # groups arriving this much further apart than sent: start afresh
REORDER_RESET = 3  # groups in a row arriving before the previous one: start afresh
TREND_WINDOW, SMOOTHING = 20, 0.9  # groups the trendline is fitted over; delay smoothing
THRESHOLD_GAIN, MIN_DELTAS, MAX_DELTAS = 4.0, 60, 1000  # trend × gain × min(deltas, 60)
THRESHOLD_INITIAL, THRESHOLD_MIN, THRESHOLD_MAX = 12.5, 6.0, 600.0  # ms, adaptive:
K_UP, K_DOWN = 0.0087, 0.039  # how fast the threshold follows the trend up and down
MAX_ADAPT_OFFSET = 15.0  # ms: a trend this far above the threshold does not move it (a spike)
OVERUSE_MS = 10.0  # the trend must stay above the threshold this long, over 2 groups or more
NORMAL, OVERUSING, UNDERUSING = "normal", "overusing", "underusing"

BETA = 0.85  # on overuse the estimate goes down to this share of the acknowledged rate
INCREASE_PER_S = 1.08  # multiplicative growth while no link capacity is known
DEFAULT_RTT_US = 200_000  # round trip time assumed until the caller sets one
FRAME_S, PACKET_BITS = 1 / 30, 1200 * 8  # near the capacity: a frame's average packet per
MIN_ADDITIVE = 4_000  # response time (RTT + 100 ms), and at least this, bit/s per second
CAPACITY_ALPHA = 0.05  # smoothing of the link capacity seen at overuses
ACK_WINDOW_US, ACK_MIN_SPAN_US = 500_000, 250_000  # the acknowledged rate: over this much
# arrival time, once its packets span at least ACK_MIN_SPAN_US
LOSS_MIN_PACKETS = 20  # loss is judged over at least this many reported packets
LOSS_SMOOTHING = 0.5  # weight of the newest loss sample in `loss`
LOSS_CUT_US = 1_000_000  # heavy loss cuts the estimate at most this often
LOSS_GROWTH_PER_S = 1.08  # light loss lets the loss cap grow this much a second


@dataclass(frozen=True, slots=True)
class Feedback:
    """One transport-wide feedback message."""

    base_seq: int
    status_count: int
    reference_time: int  # µs
    fb_count: int
    packets: list[tuple[int, int | None]]  # (seq mod 2^16, arrival µs or None: not received)


def parse_feedback(fci: bytes) -> Feedback:
    """Decode the feedback control information (what follows the media SSRC)."""
    if len(fci) < FCI_HEADER.size:
        raise ValueError("transport-wide feedback shorter than its 8-byte header")
    base_seq, count, word = FCI_HEADER.unpack_from(fci)
    if count == 0 or count > MAX_STATUS_COUNT:
        raise ValueError(f"transport-wide feedback reports {count} packets")
    reference = (word >> 8) - (1 << 24 if word & 0x80000000 else 0)
    symbols = bytearray()
    pos, end = FCI_HEADER.size, len(fci)
    while len(symbols) < count:
        if pos + 2 > end:
            raise ValueError("transport-wide feedback truncated in its status chunks")
        chunk = fci[pos] << 8 | fci[pos + 1]
        pos += 2
        left = count - len(symbols)
        if not chunk & 0x8000:  # run length: 0, symbol (2 bits), length (13 bits)
            symbol, run = chunk >> 13, chunk & MAX_RUN
            if run == 0 or symbol == 3:
                raise ValueError(f"transport-wide feedback has a bad run chunk {chunk:#06x}")
            symbols += bytes((symbol,)) * min(run, left)
        else:  # vector: 1, then 0 and 14 one-bit symbols or 1 and 7 two-bit ones
            bits = 2 if chunk & 0x4000 else 1
            part = bytes((chunk >> (14 - bits * (i + 1))) & (bits | 1)
                         for i in range(min(14 // bits, left)))
            if 3 in part:
                raise ValueError("transport-wide feedback uses the reserved status symbol")
            symbols += part
    packets: list[tuple[int, int | None]] = []
    t = reference * REFERENCE_US
    for i, symbol in enumerate(symbols):
        seq = (base_seq + i) & 0xFFFF
        if symbol == NOT_RECEIVED:
            packets.append((seq, None))
            continue
        if pos + symbol > end:
            raise ValueError("transport-wide feedback truncated in its receive deltas")
        delta = int.from_bytes(fci[pos:pos + symbol], "big", signed=symbol == LARGE)
        pos += symbol
        t += delta * DELTA_US
        packets.append((seq, t))
    if end - pos > 3:
        raise ValueError(f"transport-wide feedback has {end - pos} bytes after its deltas")
    return Feedback(base_seq, count, reference * REFERENCE_US, word & 0xFF, packets)


def parse_packet(data: bytes) -> tuple[int, int, Feedback]:
    """Decode one whole RTCP transport-wide feedback packet: (sender SSRC, media SSRC, it)."""
    if len(data) < HEADER.size + FCI_HEADER.size:
        raise ValueError("transport-wide feedback packet too short")
    first, packet_type, length, sender, media = HEADER.unpack_from(data)
    if first >> 6 != 2:
        raise ValueError(f"RTCP version {first >> 6}")
    if packet_type != RTCP_RTPFB or first & 0x1F != TWCC_FMT:
        raise ValueError(f"not transport-wide feedback (type {packet_type}, format {first & 0x1F})")
    if (length + 1) * 4 != len(data):
        raise ValueError(f"RTCP length says {(length + 1) * 4} bytes, got {len(data)}")
    end = len(data)
    if first & 0x20:  # padding, counted by its last byte
        if not 0 < data[-1] <= end - HEADER.size - FCI_HEADER.size:
            raise ValueError(f"RTCP padding of {data[-1]} bytes")
        end -= data[-1]
    return sender, media, parse_feedback(data[HEADER.size:end])


def _chunks(symbols: bytearray) -> list[int]:
    """Status chunks for `symbols`: a run of 7 or more as a run-length chunk, else a vector
    of 14 one-bit symbols if none of them is LARGE, else of 7 two-bit ones."""
    out = []
    i, n = 0, len(symbols)
    while i < n:
        j = i + 1
        while j < n and symbols[j] == symbols[i] and j - i < MAX_RUN:
            j += 1
        if j - i >= 7:
            out.append(symbols[i] << 13 | (j - i))
            i = j
            continue
        window = symbols[i:i + 14]
        if LARGE in window:
            window = symbols[i:i + 7]
            out.append(0xC000 | sum(s << (12 - 2 * k) for k, s in enumerate(window)))
        else:
            out.append(0x8000 | sum(s << (13 - k) for k, s in enumerate(window)))
        i += len(window)
    return out


def build_feedback(sender_ssrc: int, media_ssrc: int, fb_count: int,
                   arrivals: Sequence[tuple[int, int | None]]) -> list[bytes]:
    """RTCP packets reporting `arrivals`, (sequence number, arrival µs or None if lost) for
    consecutive sequence numbers; one more packet (and fb count) whenever a delta exceeds
    16 bits or a packet would pass MAX_PACKET bytes. Padded as libwebrtc pads."""
    if any(seq != arrivals[0][0] + i for i, (seq, _) in enumerate(arrivals)):
        raise ValueError("build_feedback needs consecutive sequence numbers")
    out = []
    start, n = 0, len(arrivals)
    while start < n:
        first = next((a for _, a in arrivals[start:start + MAX_STATUS_COUNT] if a is not None), 0)
        reference = first // REFERENCE_US
        ticks = reference * (REFERENCE_US // DELTA_US)
        symbols, deltas = bytearray(), bytearray()
        i, fitting = start, 0  # statuses that surely still fit
        while i < n and i - start < MAX_STATUS_COUNT:
            if not fitting:  # a status adds at most a 2-byte delta and (re-chunked) a chunk
                fitting = (MAX_PACKET - 23 - 2 * len(_chunks(symbols)) - len(deltas)) // 4
                if not fitting:
                    break
            arrival = arrivals[i][1]
            symbol = NOT_RECEIVED
            if arrival is not None:
                delta = arrival // DELTA_US - ticks
                if not -0x8000 <= delta <= 0x7FFF:
                    break  # the next packet starts from a new reference time
                symbol = SMALL if 0 <= delta <= 0xFF else LARGE
            symbols.append(symbol)
            fitting -= 1
            if symbol:
                deltas += delta.to_bytes(symbol, "big", signed=symbol == LARGE)
                ticks += delta
            i += 1
        chunks = _chunks(symbols)
        body = struct.pack(f"!IIHHI{len(chunks)}H", sender_ssrc, media_ssrc,
                           arrivals[start][0] & 0xFFFF, len(symbols),
                           (reference & 0xFFFFFF) << 8 | (fb_count & 0xFF), *chunks) + deltas
        pad = -(4 + len(body)) % 4
        if pad:
            body += bytes(pad - 1) + bytes((pad,))
        first_byte = 0x80 | (0x20 if pad else 0) | TWCC_FMT
        out.append(struct.pack("!BBH", first_byte, RTCP_RTPFB, len(body) // 4) + body)
        fb_count += 1
        start = i
    return out


class ArrivalRecorder:
    """When a publisher's packets arrived, by transport-wide sequence number, until reported
    (the caller sends what `take` returns every 50-100 ms). Each packet is reported once:
    late ones (after being reported lost) and duplicates are ignored, and one MAX_TRACKED
    past the oldest unreported packet gives up those held (a hostile sender, say)."""

    def __init__(self, sender_ssrc: int, media_ssrc: int) -> None:
        self.sender_ssrc, self.media_ssrc = sender_ssrc, media_ssrc
        self._arrivals: dict[int, int] = {}  # unwrapped sequence → arrival µs
        self._low: int | None = None  # the first sequence the next feedback covers
        self._high = 0  # the highest sequence seen
        self._fixed = False  # `_low` cannot go lower (it follows what was reported)
        self._stale = 0  # packets in a row ignored as old

    def __len__(self) -> int:
        return len(self._arrivals)

    def add(self, seq16: int, arrival_us: int) -> None:
        """Note the arrival of the packet with this transport-wide sequence number."""
        seq16 &= 0xFFFF
        if self._low is None or self._stale >= RESYNC_AFTER:
            self._arrivals = {seq16: arrival_us}
            self._low = self._high = seq16
            self._fixed, self._stale = False, 0
            return
        seq = self._high + ((seq16 - self._high + 0x8000) & 0xFFFF) - 0x8000
        if seq < self._low and (self._fixed or self._high - seq >= MAX_TRACKED):
            self._stale += 1  # reported already (as lost), or too far behind
            return
        self._stale = 0
        if seq in self._arrivals:
            return
        if seq - self._low >= MAX_TRACKED:
            self._arrivals.clear()
            self._low, self._fixed = seq, True
        self._low, self._high = min(self._low, seq), max(self._high, seq)
        self._arrivals[seq] = arrival_us

    def take(self, fb_count_start: int) -> list[bytes]:
        """RTCP packets reporting everything since the last call, numbered from
        `fb_count_start` (the caller adds the number of packets for the next call)."""
        if not self._arrivals or self._low is None:
            return []
        get = self._arrivals.get
        arrivals = [(seq, get(seq)) for seq in range(self._low, self._high + 1)]
        self._arrivals = {}
        self._low, self._fixed = self._high + 1, True
        return build_feedback(self.sender_ssrc, self.media_ssrc, fb_count_start, arrivals)


class InterArrival:
    """Groups packets by send time (a frame's burst) and gives the send and arrival time
    deltas between consecutive groups, each group counted at its last send and arrival."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget all groups."""
        self._group: list[int] | None = None  # first send, last send, first and last arrival
        self._prev: tuple[int, int] | None = None  # the group before: last send, last arrival
        self._reordered = 0

    def add(self, send_us: int, arrival_us: int) -> tuple[int, int] | None:
        """Count a packet (in arrival order); (send delta, arrival delta) when a group ends."""
        group = self._group
        if group is None:
            self._group = [send_us, send_us, arrival_us, arrival_us]
            return None
        first_send, last_send, first_arrival, last_arrival = group
        if send_us < first_send:
            return None  # reordered: sent before the group it arrived in
        arrived = arrival_us - last_arrival
        if (send_us == last_send or send_us - first_send <= GROUP_US
                or (arrived < send_us - last_send and arrived <= BURST_US
                    and arrival_us - first_arrival < MAX_BURST_US)):
            group[1], group[3] = max(last_send, send_us), arrival_us
            return None
        result = None
        if self._prev is not None:
            send_delta, arrival_delta = last_send - self._prev[0], last_arrival - self._prev[1]
            if arrival_delta < 0:
                self._reordered += 1
                if self._reordered >= REORDER_RESET:
                    self.reset()
                return None
            if arrival_delta - send_delta > CLOCK_JUMP_US:
                self.reset()  # the receiver's clock jumped
                return None
            self._reordered = 0
            result = (send_delta, arrival_delta)
        self._prev = (last_send, last_arrival)
        self._group = [send_us, send_us, arrival_us, arrival_us]
        return result


class TrendlineDetector:
    """Overuse detection from the trend of the one-way delay variation between groups."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the delay history (the threshold starts again too)."""
        self.state = NORMAL
        self._deltas = 0
        self._first_arrival: float | None = None
        self._accumulated = self._smoothed = self._prev_trend = 0.0
        self._history: deque[tuple[float, float]] = deque(maxlen=TREND_WINDOW)
        self._threshold = THRESHOLD_INITIAL
        self._updated_at: float | None = None
        self._over_ms: float | None = None  # how long the trend has been above the threshold
        self._over_count = 0

    def update(self, send_delta_ms: float, arrival_delta_ms: float, arrival_ms: float) -> None:
        """Take the deltas between two groups; `arrival_ms` is the later one's arrival."""
        self._deltas = min(self._deltas + 1, MAX_DELTAS)
        if self._first_arrival is None:
            self._first_arrival = arrival_ms
        self._accumulated += arrival_delta_ms - send_delta_ms
        self._smoothed = SMOOTHING * self._smoothed + (1 - SMOOTHING) * self._accumulated
        history = self._history
        history.append((arrival_ms - self._first_arrival, self._smoothed))
        trend = self._prev_trend
        if len(history) == TREND_WINDOW:  # least squares slope of delay over arrival time
            x_mean = sum(x for x, _ in history) / TREND_WINDOW
            y_mean = sum(y for _, y in history) / TREND_WINDOW
            den = sum((x - x_mean) ** 2 for x, _ in history)
            if den:
                trend = sum((x - x_mean) * (y - y_mean) for x, y in history) / den
        if self._deltas < 2:
            return
        modified = min(self._deltas, MIN_DELTAS) * trend * THRESHOLD_GAIN
        if modified > self._threshold:
            # at first, assume it has been above for half the time since the previous group
            over = self._over_ms
            self._over_ms = send_delta_ms / 2 if over is None else over + send_delta_ms
            self._over_count += 1
            if self._over_ms > OVERUSE_MS and self._over_count > 1 and trend >= self._prev_trend:
                self._over_ms, self._over_count = 0.0, 0
                self.state = OVERUSING
        else:
            self._over_ms, self._over_count = None, 0
            self.state = UNDERUSING if modified < -self._threshold else NORMAL
        self._prev_trend = trend
        self._adapt_threshold(abs(modified), arrival_ms)

    def _adapt_threshold(self, modified: float, now_ms: float) -> None:
        """Follow the trend slowly (so a competing TCP flow does not starve us), but not
        to a spike (a sudden drop in capacity)."""
        elapsed = 0.0 if self._updated_at is None else min(now_ms - self._updated_at, 100.0)
        self._updated_at = now_ms
        if modified > self._threshold + MAX_ADAPT_OFFSET:
            return
        k = K_DOWN if modified < self._threshold else K_UP
        self._threshold += k * (modified - self._threshold) * elapsed
        self._threshold = min(max(self._threshold, THRESHOLD_MIN), THRESHOLD_MAX)


class AimdRate:
    """The delay-based estimate: down to BETA × the acknowledged rate on overuse, held on
    underuse, and up otherwise: fast while far from the capacity last found, slowly near it."""

    def __init__(self, initial: float | None = None) -> None:
        self.estimate = initial  # bit/s; None until the first acknowledged rate or overuse
        self._throughput: float | None = None  # the latest acknowledged rate
        self._increasing = False
        self._changed_at: int | None = None
        self._capacity: float | None = None  # bit/s, averaged over overuses (None: unknown)
        self._deviation = 0.4  # its variance, relative (in kbit/s)

    def update(self, usage: str, acked: float | None, now_us: int, rtt_us: int) -> None:
        """Apply the detector's state, with the acknowledged rate if one is known."""
        self._throughput = acked or self._throughput
        throughput = self._throughput
        if throughput is None:
            return
        if usage == OVERUSING:
            self._decrease(throughput, now_us, rtt_us)
        elif self.estimate is None:
            self.estimate = max(MIN_ESTIMATE, throughput)
        elif usage == UNDERUSING:
            self._increasing = False  # hold while the queues drain
        else:
            # What gets through without queues growing is a proven rate: a forwarding worker
            # does not send by its estimate (it only chooses layers by it), so the estimate
            # never lags far behind what is sent, as a sender's own would not.
            self.estimate = max(self.estimate, throughput)
            self._increase(throughput, now_us, rtt_us)

    def _decrease(self, throughput: float, now_us: int, rtt_us: int) -> None:
        estimate = self.estimate
        if estimate is not None and self._changed_at is not None and throughput >= estimate / 2:
            if now_us - self._changed_at < min(max(rtt_us, 10_000), 200_000):
                return  # changed lately: let that act first
        lower = BETA * throughput
        if estimate is not None and lower > estimate and self._capacity is not None:
            lower = BETA * self._capacity
        if estimate is None or lower < estimate:
            self.estimate = max(MIN_ESTIMATE, lower)
        if self._capacity is not None and throughput < self._capacity_bound(-1):
            self._capacity = None  # far below what it was: start averaging again
        a, sample = CAPACITY_ALPHA, throughput
        capacity = sample if self._capacity is None else (1 - a) * self._capacity + a * sample
        error = (capacity - sample) / 1000
        deviation = (1 - a) * self._deviation + a * error * error / max(capacity / 1000, 1.0)
        self._capacity, self._deviation = capacity, min(max(deviation, 0.4), 2.5)
        self._increasing, self._changed_at = False, now_us

    def _increase(self, throughput: float, now_us: int, rtt_us: int) -> None:
        assert self.estimate is not None
        if not self._increasing or self._changed_at is None:
            self._increasing, self._changed_at = True, now_us
        if self._capacity is not None and throughput > self._capacity_bound(1):
            self._capacity = None  # more got through than before: ramp up fast again
        limit = 1.5 * throughput + 10_000  # not far ahead of what is sent
        if self.estimate < limit:
            elapsed = (now_us - self._changed_at) / 1e6
            if self._capacity is not None:
                frame = self.estimate * FRAME_S
                packet = frame / math.ceil(frame / PACKET_BITS)
                step = max(MIN_ADDITIVE, packet / (rtt_us / 1e6 + 0.1)) * elapsed
            else:
                step = max(self.estimate * (INCREASE_PER_S ** min(elapsed, 1.0) - 1), 1000)
            self.estimate = max(MIN_ESTIMATE, min(self.estimate + step, limit))
        self._changed_at = now_us

    def _capacity_bound(self, sign: int) -> float:
        capacity = (self._capacity or 0) / 1000
        return (capacity + sign * 3 * math.sqrt(capacity * self._deviation)) * 1000


class SendSideEstimator:
    """One subscriber's downlink in bit/s, from its transport-wide feedback on what the
    worker sent it (each packet stamped with a sequence number and noted with `on_sent`)."""

    def __init__(self, initial: float | None = None) -> None:
        self.rtt_us = DEFAULT_RTT_US  # set it from RTCP when known
        self.loss = 0.0  # smoothed fraction lost
        self._sent: dict[int, tuple[int, int, bool]] = {}  # seq → send µs, size, reported lost
        self._newest: int | None = None  # unwrapped sequence numbers
        self._oldest = 0
        self._acked: deque[tuple[int, int]] = deque()  # arrival µs, size
        self._acked_bytes = self._acked_newest = 0
        self._lost = self._reported = 0  # since the last loss sample
        self._loss_cap: float | None = None
        self._cut_at: int | None = None
        self._loss_at: int | None = None
        self._reference: tuple[int, int] | None = None  # the last reference time: raw, unwrapped
        self._feedback_at: int | None = None
        self._groups = InterArrival()
        self._detector = TrendlineDetector()
        self._rate = AimdRate(initial)

    def __len__(self) -> int:
        return len(self._sent)

    @property
    def state(self) -> str:
        """The delay detector's: "normal", "overusing" or "underusing"."""
        return self._detector.state

    @property
    def acked_bitrate(self) -> float | None:
        """What the subscriber received lately, bit/s (None: not enough reported yet)."""
        span = self._acked_newest - self._acked[0][0] if self._acked else 0
        if span < ACK_MIN_SPAN_US:
            return None
        return (self._acked_bytes - self._acked[0][1]) * 8e6 / span

    def estimate(self) -> float | None:
        """The most the worker should send this subscriber, bit/s (None: not known yet)."""
        values = [v for v in (self._rate.estimate, self._loss_cap) if v is not None]
        return max(MIN_ESTIMATE, min(values)) if values else None

    def on_sent(self, seq: int, send_us: int, size: int) -> None:
        """Note a packet sent with transport-wide sequence number `seq` (its low 16 bits count,
        as written in the header extension; each must come after the previous one)."""
        seq &= 0xFFFF
        if self._newest is None:
            new = self._oldest = seq
        else:
            step = ((seq - self._newest + 0x8000) & 0xFFFF) - 0x8000
            if step <= 0:
                return  # not after the last one: cannot be told apart from it
            new = self._newest + step
        self._newest = new
        sent = self._sent
        sent[new] = (send_us, size, False)
        oldest = self._oldest
        while oldest < new:
            entry = sent.get(oldest)
            if entry is not None:
                if new - oldest < MAX_HISTORY and send_us - entry[0] <= HISTORY_US:
                    break
                del sent[oldest]
            oldest += 1
        self._oldest = oldest

    def on_feedback(self, feedback: Feedback, now_us: int) -> None:
        """Take a feedback message from the subscriber; `now_us` is when it came."""
        if self._newest is None:
            return
        raw = feedback.reference_time // REFERENCE_US  # unwrapped from the last message's:
        last_raw, last = self._reference or (raw, raw)
        reference = last + ((raw - last_raw + (1 << 23)) & 0xFFFFFF) - (1 << 23)
        offset = (reference - raw) * REFERENCE_US
        newest, newest16, sent = self._newest, self._newest & 0xFFFF, self._sent
        received = []
        lost = reported = 0
        for seq16, arrival in feedback.packets:
            seq = newest - ((newest16 - seq16) & 0xFFFF)
            entry = sent.get(seq)
            if entry is None:
                continue  # never sent, too old, or reported received already
            if arrival is not None:
                del sent[seq]
                reported += not entry[2]
                received.append((arrival + offset, entry[0], entry[1]))
            elif not entry[2]:
                sent[seq] = (entry[0], entry[1], True)
                lost += 1
                reported += 1
        if not reported and not received:
            return  # nothing new (a duplicate, say): nothing learnt
        self._reference = (raw, reference)
        if self._feedback_at is not None and now_us - self._feedback_at > STREAM_TIMEOUT_US:
            self._groups.reset()
            self._detector.reset()
        self._feedback_at = now_us
        received.sort()
        for arrival, send, size in received:
            self._ack(arrival, size)
            deltas = self._groups.add(send, arrival)
            if deltas is not None:
                self._detector.update(deltas[0] / 1000, deltas[1] / 1000, arrival / 1000)
        self._rate.update(self._detector.state, self.acked_bitrate, now_us, self.rtt_us)
        self._lost += lost
        self._reported += reported
        if self._reported >= LOSS_MIN_PACKETS:
            self._apply_loss(self._lost / self._reported, now_us)
            self._lost = self._reported = 0

    def _ack(self, arrival_us: int, size: int) -> None:
        acked = self._acked
        if acked and arrival_us < self._acked_newest - ACK_WINDOW_US:
            acked.clear()  # the receiver's clock went back
            self._acked_bytes = 0
        if not acked or arrival_us > self._acked_newest:
            self._acked_newest = arrival_us
        acked.append((arrival_us, size))
        self._acked_bytes += size
        while acked[0][0] < self._acked_newest - ACK_WINDOW_US or len(acked) > MAX_HISTORY:
            self._acked_bytes -= acked.popleft()[1]

    def _apply_loss(self, loss: float, now_us: int) -> None:
        """GCC's loss rule: cut by loss/2 above LOSS_HIGH (at most once per LOSS_CUT_US),
        grow back below LOSS_LOW until the delay-based estimate leads again."""
        self.loss = LOSS_SMOOTHING * loss + (1 - LOSS_SMOOTHING) * self.loss
        elapsed = 0 if self._loss_at is None else min(now_us - self._loss_at, 1_000_000)
        self._loss_at = now_us
        if loss > LOSS_HIGH:
            base = self.estimate() or self.acked_bitrate
            if base is not None and (self._cut_at is None or now_us - self._cut_at >= LOSS_CUT_US):
                self._loss_cap = max(MIN_ESTIMATE, base * (1 - loss / 2))
                self._cut_at = now_us
        elif loss < LOSS_LOW and self._loss_cap is not None:
            self._loss_cap *= LOSS_GROWTH_PER_S ** (elapsed / 1e6)
            if self._rate.estimate is None or self._loss_cap >= self._rate.estimate:
                self._loss_cap = None


class DownlinkTwcc:
    """One subscriber connection's transport-cc: the worker numbers every packet it sends
    the subscriber (`numbers`, a media._rtpfast.Twcc shared by the connection's streams,
    which keeps each packet's send time and size), and each feedback packet the subscriber
    sends is matched to them and moves the send-side estimate, which goes to `on_estimate`
    (bit/s; media.bwe.DownlinkFeedback takes it as it takes a REMB)."""

    def __init__(self, numbers: Any, on_estimate: Callable[[float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.numbers = numbers
        self.on_estimate = on_estimate
        self.estimator = SendSideEstimator()
        self.feedbacks = 0  # feedback packets taken
        self.refused = 0  # and left unread (too many, or too long to be of use)
        self._fed = -1  # the highest number handed to the estimator
        self._clock = clock
        self._second, self._in_second = 0.0, 0

    def on_packet(self, data: bytes) -> None:
        """Take one RTCP transport-cc feedback packet from the subscriber (hostile input: a
        flood, or packets naming thousands of statuses each, must not cost the worker more
        than the subscriber's fair share)."""
        now = self._clock()
        if now - self._second >= 1.0:
            self._second, self._in_second = now, 0
        self._in_second += 1
        if self._in_second > MAX_FEEDBACK_PER_S or (len(data) >= 16 and (data[14] << 8 | data[15]) > HISTORY_KEPT):
            self.refused += 1
            return
        try:
            _, _, feedback = parse_packet(data)
        except ValueError:
            return
        newest = self.numbers.next - 1  # the last number sent
        last16 = (feedback.base_seq + feedback.status_count - 1) & 0xFFFF
        last = newest - ((newest - last16) & 0xFFFF)
        first = max(self._fed + 1, last - feedback.status_count + 1, newest - HISTORY_KEPT + 1, 0)
        for seq in range(first, last + 1):
            kept = self.numbers.sent(seq)
            if kept is not None:
                self.estimator.on_sent(seq, kept[0], kept[1])
        self._fed = max(self._fed, last)
        self.estimator.on_feedback(feedback, int(now * 1e6))
        self.feedbacks += 1
        estimate = self.estimator.estimate()
        if estimate is not None and self.on_estimate is not None:
            self.on_estimate(estimate)
