"""Transport-wide congestion control: the feedback format byte by byte, the recorder's
bounds, and the send-side estimator on simulated links (a queue, loss, a clean path)."""
from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable

import pytest

from media import twcc
from media.twcc import (ArrivalRecorder, Feedback, InterArrival, SendSideEstimator,
                        TrendlineDetector, build_feedback, parse_feedback, parse_packet)

# A packet built by hand from the draft: sender SSRC 0x11223344, media SSRC 0x55667788,
# base sequence 65534 (it wraps to 0), 20 statuses, reference time 258 × 64 ms, fb count 7.
HAND_MADE = bytes([
    0xAF, 0xCD, 0x00, 0x0A,  # V=2, P=1, FMT=15 (10 1 01111); PT=205; length 10 words + 1 = 44 bytes
    0x11, 0x22, 0x33, 0x44,  # sender SSRC
    0x55, 0x66, 0x77, 0x88,  # media SSRC
    0xFF, 0xFE, 0x00, 0x14,  # base sequence 65534; status count 20
    0x00, 0x01, 0x02, 0x07,  # reference time 258 (16 512 000 µs); fb count 7
    # 2-bit vector 11|01 01 00 10 01 00 00: seq 65534, 65535 small, 0 lost, 1 large,
    # 2 small, 3 and 4 lost
    0xD4, 0x90,
    0x20, 0x08,  # run length 0|01|8: seq 5-12 small
    # 1-bit vector 10|10110 111111111: seq 13 received, 14 lost, 15 and 16 received,
    # 17 lost; the 9 bits after the 20th status are not statuses (set to catch a parser
    # that reads past the count)
    0xAD, 0xFF,
    0x10,  # seq 65534: +16 × 250 µs = 16 516 000
    0x00,  # seq 65535: +0
    0xFF, 0x38,  # seq 1: -200 × 250 µs = 16 466 000
    0xFF,  # seq 2: +255 × 250 µs = 16 529 750
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  # seq 5-12: +250, +500, ... +2000 µs
    0x04, 0x00, 0x28,  # seq 13: +1000; seq 15: +0; seq 16: +10 000
    0x00, 0x02,  # padding: 2 bytes, the last one counting them
])
HAND_MADE_PACKETS = [
    (65534, 16_516_000), (65535, 16_516_000), (0, None), (1, 16_466_000), (2, 16_529_750),
    (3, None), (4, None), (5, 16_530_000), (6, 16_530_500), (7, 16_531_250),
    (8, 16_532_250), (9, 16_533_500), (10, 16_535_000), (11, 16_536_750), (12, 16_538_750),
    (13, 16_539_750), (14, None), (15, 16_539_750), (16, 16_549_750), (17, None),
]


def test_parse_reads_a_hand_made_packet_as_the_draft_defines_it():
    sender, media, fb = parse_packet(HAND_MADE)
    assert (sender, media) == (0x11223344, 0x55667788)
    assert (fb.base_seq, fb.status_count, fb.fb_count) == (65534, 20, 7)
    assert fb.reference_time == 16_512_000
    assert fb.packets == HAND_MADE_PACKETS


def test_build_writes_the_hand_made_packet_but_for_where_its_run_ends():
    arrivals = [(65534 + i, a) for i, (_, a) in enumerate(HAND_MADE_PACKETS)]
    expected = bytearray(HAND_MADE)
    expected[22:26] = b"\x20\x09\x98\x00"  # run of 9 (seq 5-13), 1-bit vector 10|0110 + zeros
    assert build_feedback(0x11223344, 0x55667788, 7, arrivals) == [bytes(expected)]


def test_reference_time_is_signed_and_zero_padding_without_the_p_bit_is_accepted():
    fci = bytes([0x00, 0x05, 0x00, 0x01, 0xFF, 0xFF, 0xFF, 0x00,  # seq 5, 1 status, -1 × 64 ms
                 0x20, 0x01, 0x08, 0x00, 0x00, 0x00])  # run: 1 small; delta 8; zero padding
    fb = parse_feedback(fci)
    assert fb.reference_time == -64_000 and fb.packets == [(5, -62_000)]


def valid_fci() -> bytes:
    return HAND_MADE[12:-2]


@pytest.mark.parametrize("fci, message", [
    (b"\x00\x01\x00\x01\x00\x00", "shorter than"),
    (b"\x00\x01\x00\x00\x00\x00\x00\x00", "reports 0"),
    (b"\x00\x01\x40\x01\x00\x00\x00\x00" + b"\x00\x01" * 3, "reports 16385"),
    (valid_fci()[:12], "status chunks"),
    (valid_fci()[:-1], "receive deltas"),
    (valid_fci()[:17], "receive deltas"),  # in the middle of the large delta
    (valid_fci()[:8] + b"\x60\x14", "bad run"),  # run of the reserved symbol
    (valid_fci()[:8] + b"\x00\x00", "bad run"),  # run of nothing
    (valid_fci()[:8] + b"\xFF\xFF", "reserved"),  # 2-bit vector of reserved symbols
    (valid_fci() + b"\x00" * 4, "after its deltas"),
])
def test_malformed_feedback_raises_value_error(fci, message):
    with pytest.raises(ValueError, match=message):
        parse_feedback(fci)


def with_header(first: int = 0xAF, pt: int = 205, body: bytes = HAND_MADE[4:]) -> bytes:
    return bytes([first, pt]) + ((len(body) + 4) // 4 - 1).to_bytes(2, "big") + body


@pytest.mark.parametrize("data, message", [
    (HAND_MADE[:19], "too short"),
    (with_header(first=0x7F), "version"),
    (with_header(pt=206), "not transport-wide"),
    (with_header(first=0xA1), "not transport-wide"),  # NACK's format
    (HAND_MADE + b"\x80\xC9\x00\x00", "length says"),  # compound: one packet at a time
    (HAND_MADE[:-1] + b"\x00", "padding of 0"),
    (HAND_MADE[:-1] + b"\xFF", "padding of 255"),
])
def test_malformed_packet_raises_value_error(data, message):
    with pytest.raises(ValueError, match=message):
        parse_packet(data)


def test_mangled_packets_raise_only_value_error():
    rng = random.Random(7)
    packets = build_feedback(1, 2, 0, [(i, 1000 * i * i if i % 3 else None) for i in range(300)])
    for _ in range(3000):
        data = bytearray(rng.choice(packets + [HAND_MADE]))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[:rng.randint(0, len(data))] if rng.random() < 0.3 else data
        try:
            parse_packet(bytes(data))
            parse_feedback(bytes(data[12:]))
        except ValueError:
            pass


def floor250(arrival: int | None) -> int | None:
    return None if arrival is None else arrival // 250 * 250


def test_build_and_parse_round_trip_across_wraps_gaps_and_negative_deltas():
    rng = random.Random(3)
    t = 10_000_000_000
    arrivals: list[tuple[int, int | None]] = [(65000, t)]
    for seq in range(65001, 66200):  # wraps past 65535
        t += rng.randint(-30_000, 60_000)  # reordered arrivals give negative deltas
        arrivals.append((seq, t if rng.random() > 0.2 else None))
    packets = build_feedback(9, 8, 250, arrivals)
    got = []
    for n, data in enumerate(packets):
        sender, media, fb = parse_packet(data)
        assert (sender, media, fb.fb_count) == (9, 8, (250 + n) & 0xFF)
        assert len(data) % 4 == 0 and len(data) <= twcc.MAX_PACKET
        got += fb.packets
    assert got == [(s & 0xFFFF, floor250(a)) for s, a in arrivals]  # to 250 µs


def test_build_splits_where_a_delta_does_not_fit_and_starts_from_its_arrival():
    arrivals = [(1, 1_000_000), (2, None), (3, 1_000_000 + 9_000_000), (4, 10_001_000)]
    packets = build_feedback(1, 2, 0, arrivals)
    assert len(packets) == 2
    first, second = (parse_packet(p)[2] for p in packets)
    assert first.packets == [(1, 1_000_000), (2, None)]
    assert second.base_seq == 3 and second.reference_time == 9_984_000
    assert second.packets == [(3, 10_000_000), (4, 10_001_000)]


def test_build_is_compact_and_keeps_packets_under_the_limit():
    steady = [(i, 1_000_000 + 250 * i) for i in range(1000)]
    assert [len(p) for p in build_feedback(1, 2, 0, steady)] == [1024]  # 20, a run chunk, 1000
    # deltas, 2 bytes of padding
    gap = [(0, 0)] + [(i, None) for i in range(1, 5000)] + [(5000, 1_000_000)]
    assert [len(p) for p in build_feedback(1, 2, 0, gap)] == [32]  # 3 chunks, 3 delta bytes
    jumpy = [(i, 1_000_000 + 100_000 * (i % 2)) for i in range(3000)]  # all large deltas
    packets = build_feedback(1, 2, 0, jumpy)
    assert len(packets) == 6 and all(len(p) <= twcc.MAX_PACKET for p in packets)
    assert sum(parse_packet(p)[2].status_count for p in packets) == 3000
    with pytest.raises(ValueError):
        build_feedback(1, 2, 0, [(1, 0), (3, 0)])


def test_build_fills_packets_to_the_limit_but_never_past_it():
    rng = random.Random(2)
    for _ in range(30):
        lost, large = rng.random(), rng.random() ** 2
        t, arrivals = 0, []
        for seq in range(rng.randint(1, 4000)):
            if rng.random() > lost:
                jump = rng.random() < large
                t += rng.choice((-99_000, 200_000) if jump else (250, 500))
            arrivals.append((seq, t if rng.random() > lost else None))
        packets = build_feedback(1, 2, 0, arrivals)
        assert all(len(p) <= twcc.MAX_PACKET for p in packets)
        assert all(len(p) > twcc.MAX_PACKET - 8 for p in packets[:-1])
        assert sum(parse_packet(p)[2].status_count for p in packets) == len(arrivals)


def reported(packets: list[bytes]) -> list[tuple[int, int | None]]:
    return [p for data in packets for p in parse_packet(data)[2].packets]


def test_recorder_reports_each_packet_once_across_the_wrap():
    rec = ArrivalRecorder(5, 6)
    for seq, t in [(65533, 0), (65535, 2000), (65534, 3000), (0, 4000), (2, 5000), (2, 9000)]:
        rec.add(seq, t)
    packets = rec.take(3)
    assert parse_packet(packets[0])[:2] == (5, 6) and parse_packet(packets[0])[2].fb_count == 3
    assert reported(packets) == [(65533, 0), (65534, 3000), (65535, 2000), (0, 4000),
                                 (1, None), (2, 5000)]  # the duplicate of 2 is not its arrival
    assert rec.take(4) == []
    rec.add(1, 10_000)  # after it was reported lost: too late
    rec.add(65532, 10_000)  # before the first report: too late too
    assert rec.take(4) == [] and len(rec) == 0
    rec.add(4, 20_000)
    assert reported(rec.take(4)) == [(3, None), (4, 20_000)]


def test_recorder_stays_bounded_whatever_the_sender_numbers():
    rng = random.Random(11)
    rec = ArrivalRecorder(1, 2)
    for n in range(100_000):
        rec.add(rng.randrange(65536), n)
        assert len(rec) <= twcc.MAX_TRACKED
    statuses = reported(rec.take(0))
    assert len(statuses) <= twcc.MAX_TRACKED


def test_recorder_slides_past_a_long_gap_and_resynchronises_after_a_wild_jump():
    rec = ArrivalRecorder(1, 2)
    rec.add(0, 0)
    rec.add(10_000, 1000)  # a gap longer than what is tracked: the oldest is given up
    assert reported(rec.take(0))[-1] == (10_000, 1000)
    rec.take(1)
    for n in range(twcc.RESYNC_AFTER + 10):  # 40 000 ahead: looks behind (16-bit numbers)
        rec.add(50_000 + n, 1000 * n)
    statuses = reported(rec.take(1))
    last = twcc.RESYNC_AFTER + 9
    assert statuses[0] == (50_000 + twcc.RESYNC_AFTER, 1000 * twcc.RESYNC_AFTER)
    assert statuses[-1] == (50_000 + last, 1000 * last)


def test_packets_sent_within_5_ms_or_caught_up_in_a_queue_form_one_group():
    groups = InterArrival()
    assert groups.add(0, 50_000) is None
    assert groups.add(3_000, 52_000) is None  # the same frame
    assert groups.add(33_000, 90_000) is None  # the next: the first group is complete
    assert groups.add(34_000, 91_000) is None
    assert groups.add(66_000, 130_000) == (31_000, 39_000)  # between the groups' last packets
    assert groups.add(10_000, 131_000) is None  # sent before its group: ignored
    burst = InterArrival()
    for send, arrival in [(0, 100_000), (10_000, 101_000), (20_000, 102_000), (40_000, 150_000)]:
        assert burst.add(send, arrival) is None  # 10 ms apart, but arriving 1 ms apart
    assert burst.add(80_000, 190_000) == (20_000, 48_000)


def test_the_threshold_adapts_to_a_steady_trend_such_as_a_competing_flow():
    detector = TrendlineDetector()
    states, t = [], 0.0
    for _ in range(600):  # 20 s of frames, each arriving 8 % later than sent
        t += 36.0
        detector.update(33.3, 36.0, t)
        states.append(detector.state)
    assert twcc.OVERUSING in states[:100]
    assert twcc.NORMAL in states[-100:]  # not starved for ever


# The send side, on simulated links. Times in µs; the receiver's clock has another origin.

RECEIVER_CLOCK = 123_456_789_000
# the reference time, a signed 24-bit number of 64 ms, goes from most to least 2 s in
WRAPPING_CLOCK = (1 << 23) * 64_000 - 2_000_000
PACKET = 1200  # bytes
FPS = 30


class Link:
    """A path: a bottleneck queue of `capacity` bit/s (None: none), one-way delay, random
    loss and jitter that does not reorder."""

    def __init__(self, capacity: float | None = None, loss: float = 0.0, seed: int = 1) -> None:
        self.capacity, self.loss = capacity, loss
        self.rng = random.Random(seed)
        self.free_at = 0.0  # when the bottleneck has sent what is queued
        self.last = 0.0

    def send(self, send_us: int, size: int) -> int | None:
        if self.capacity is not None:
            self.free_at = max(self.free_at, send_us) + size * 8e6 / self.capacity
            arrival = self.free_at + 20_000
        else:
            arrival = max(self.last, send_us + 20_000 + self.rng.uniform(0, 2000))
        self.last = arrival
        if self.rng.random() < self.loss:
            return None
        return int(arrival)


class Session:
    """A sender (the worker) sending frames to a receiver (a subscriber) that records
    arrivals and sends feedback every 100 ms, which comes back after 20 ms."""

    def __init__(self, est: SendSideEstimator, link: Link,
                 deliver: Callable[[list[bytes], int], None] | None = None,
                 receiver_clock: int = RECEIVER_CLOCK) -> None:
        self.est, self.link, self.receiver_clock = est, link, receiver_clock
        self.rec = ArrivalRecorder(1, 2)
        self.deliver = deliver or self.feed
        self.t = self.seq = self.fb_count = 0
        self.next_feedback = 100_000
        self.in_flight: deque[tuple[int, int]] = deque()
        self.states: list[str] = []
        self.estimates: list[tuple[int, float | None]] = []

    def feed(self, packets: list[bytes], now_us: int) -> None:
        for data in packets:
            self.est.on_feedback(parse_packet(data)[2], now_us)

    def run(self, seconds: float, rate: Callable[[], float]) -> None:
        end = self.t + int(seconds * 1e6)
        while self.t < end:
            frame = rate() / 8 / FPS
            count = -(-int(frame) // PACKET)
            for k in range(count):
                send = self.t + k * 100  # a frame leaves in a burst
                self.est.on_sent(self.seq, send, int(frame / count))
                arrival = self.link.send(send, int(frame / count))
                if arrival is not None:
                    self.in_flight.append((arrival, self.seq & 0xFFFF))
                self.seq += 1
            self.t += 1_000_000 // FPS
            while self.next_feedback <= self.t:
                while self.in_flight and self.in_flight[0][0] <= self.next_feedback:
                    arrival, seq = self.in_flight.popleft()
                    self.rec.add(seq, arrival + self.receiver_clock)
                packets = self.rec.take(self.fb_count)
                self.fb_count += len(packets)
                self.deliver(packets, self.next_feedback + 20_000)
                self.states.append(self.est.state)
                self.estimates.append((self.next_feedback, self.est.estimate()))
                self.next_feedback += 100_000

    def delay_ms(self) -> float:
        return (self.link.free_at - self.t) / 1000


def test_sending_faster_than_a_bottleneck_brings_the_estimate_below_it():
    est = SendSideEstimator(initial=1_500_000)
    session = Session(est, Link(capacity=1_000_000))
    session.run(3, lambda: 1_500_000)
    assert twcc.OVERUSING in session.states
    estimate = est.estimate()
    assert estimate is not None and 600_000 < estimate < 1_000_000
    assert est.acked_bitrate == pytest.approx(1_000_000, rel=0.05)
    assert est.loss == 0


def test_sending_at_the_estimate_finds_the_capacity_and_keeps_the_queue_short():
    est = SendSideEstimator(initial=300_000)
    session = Session(est, Link(capacity=1_000_000), receiver_clock=WRAPPING_CLOCK)
    session.run(40, lambda: est.estimate() or 300_000)
    late = [e for t, e in session.estimates if t > 25_000_000 and e is not None]
    assert 750_000 < sum(late) / len(late) < 1_100_000
    assert max(late) < 1_250_000
    assert session.delay_ms() < 300


def test_what_gets_through_without_queueing_is_the_estimate_at_once():
    # A worker forwards what publishers send (audio first, then video), whatever its estimate:
    # the estimate must follow what the link carries, not ramp up 8 % a second from audio.
    est = SendSideEstimator()
    session = Session(est, Link(), receiver_clock=WRAPPING_CLOCK)
    session.run(2, lambda: 40_000)
    session.run(2, lambda: 1_500_000)
    estimate = est.estimate()
    assert estimate is not None and estimate > 1_350_000


def test_a_clean_path_lets_the_estimate_grow_past_the_sent_rate_without_overuse():
    est = SendSideEstimator()
    session = Session(est, Link(), receiver_clock=WRAPPING_CLOCK)
    session.run(0.2, lambda: 500_000)
    assert est.estimate() is None  # not enough reported yet
    session.run(10, lambda: 500_000)
    assert twcc.OVERUSING not in session.states
    estimate = est.estimate()
    assert estimate is not None and 650_000 < estimate <= 1.5 * 520_000 + 10_000  # (acknowledged)


def test_heavy_random_loss_brings_the_estimate_down():
    est = SendSideEstimator()
    session = Session(est, Link(loss=0.2, seed=5))
    session.run(2, lambda: 500_000)
    before = est.estimate()
    assert before is not None
    session.run(6, lambda: 500_000)
    estimate = est.estimate()
    assert estimate is not None and estimate < 0.7 * before and estimate < 450_000
    assert est.loss == pytest.approx(0.2, abs=0.08)


def test_duplicated_and_reordered_feedback_counts_once():
    def run(deliver_twice: bool) -> SendSideEstimator:
        est = SendSideEstimator()
        held: list[bytes] = []

        def deliver(packets: list[bytes], now_us: int) -> None:
            # each message twice, and every other one held back until after the next
            session.feed(packets, now_us)
            if deliver_twice:
                session.feed(packets, now_us)
                session.feed(held, now_us)
                held[:] = packets if not held else []

        session = Session(est, Link(loss=0.05, seed=9), deliver)
        session.run(6, lambda: 500_000)
        return est

    once, twice = run(False), run(True)
    assert twice.acked_bitrate == pytest.approx(once.acked_bitrate, rel=0.01)
    assert twice.loss == pytest.approx(once.loss, abs=0.02)
    assert twice.estimate() == pytest.approx(once.estimate(), rel=0.05)


def test_hostile_feedback_is_ignored_and_memory_stays_bounded():
    est = SendSideEstimator()
    session = Session(est, Link())
    session.run(3, lambda: 500_000)
    estimate, loss, tracked = est.estimate(), est.loss, len(est)
    never_sent = Feedback((session.seq + 1000) & 0xFFFF, 3, 0, 0, [(s, None) for s in range(3)])
    base = ((session.seq + 20_000) & 0xFFFF).to_bytes(2, "big")  # none of it sent lately
    huge = parse_feedback(base + b"\x40\x00\x00\x00\x00\x00" + b"\x1F\xFF\x1F\xFF\x00\x02")
    assert huge.status_count == twcc.MAX_STATUS_COUNT
    for fb in [never_sent, huge] * 50:
        est.on_feedback(fb, session.t)
    assert (est.estimate(), est.loss, len(est)) == (estimate, loss, tracked)
    for n in range(100_000):  # sent, never reported on
        est.on_sent(session.seq + n, session.t + n * 100, PACKET)
    assert len(est) <= twcc.HISTORY_US // 100 + 1


def test_arrival_times_run_on_across_the_wrap_of_the_reference_time():
    est = SendSideEstimator()
    for seq in range(70):
        est.on_sent(seq, seq * 10_000, 1000)  # 800 kbit/s
    arrivals = [(seq, WRAPPING_CLOCK + 1_500_000 + seq * 10_000) for seq in range(70)]
    for part in (arrivals[:50], arrivals[50:]):  # the second begins after the wrap
        for data in build_feedback(1, 2, 0, part):
            est.on_feedback(parse_packet(data)[2], 1_000_000)
    assert parse_packet(build_feedback(1, 2, 0, arrivals[50:])[0])[2].reference_time < 0
    assert est.acked_bitrate == pytest.approx(800_000, rel=0.01)  # over 500 ms, both parts


# -- the worker's side: numbering what it sends, matching feedback, the SDP it sends ------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Numbers:
    """media._rtpfast.Twcc's interface with a clock the test moves."""

    def __init__(self, clock: Clock) -> None:
        self.next, self.clock, self.kept = 0, clock, {}

    def take(self, size: int) -> int:
        self.kept[self.next] = (int(self.clock() * 1e6), size)
        self.next += 1
        return (self.next - 1) & 0xFFFF

    def sent(self, seq: int):
        return self.kept.get(seq)


def test_a_subscribers_feedback_is_matched_to_what_was_sent_and_gives_an_estimate():
    clock = Clock()
    numbers = Numbers(clock)
    estimates: list[float] = []
    downlink = twcc.DownlinkTwcc(numbers, estimates.append, clock)
    numbers.next = 65_000  # the numbers wrap on the way
    arrivals = []
    for _ in range(6):  # 1 Mbit/s in 1250-byte packets for 0.6 s, feedback every 100 ms
        for _ in range(10):
            seq = numbers.take(1250)
            arrivals.append((numbers.next - 1, int(clock() * 1e6) + 30_000))
            clock.now += 0.01
        for packet in build_feedback(1, 2, 0, arrivals):
            downlink.on_packet(packet)
        arrivals = []
    assert seq == (65_059 & 0xFFFF) and downlink.feedbacks == 6
    assert estimates and 800_000 < estimates[-1] < 1_600_000
    # Garbage, and feedback on numbers never sent, change nothing.
    before = (len(estimates), downlink.estimator.estimate())
    downlink.on_packet(b"\x8f\xcd\x00\x01garbage")
    for packet in build_feedback(1, 2, 9, [(numbers.next + 100 + i, 5_000_000) for i in range(50)]):
        downlink.on_packet(packet)
    assert downlink.estimator.estimate() == before[1]


def test_transport_feedback_is_found_in_a_compound_rtcp_packet():
    from media import aiortc_hooks as hooks

    class Transport:
        pass

    dtls, got = Transport(), []
    hooks.on_transport_feedback(dtls, got.append)
    feedback = build_feedback(1, 2, 0, [(5, 1_000_000), (6, None), (7, 1_010_000)])[0]
    receiver_report = bytes([0x80, 201, 0, 1]) + b"\0\0\0\1"
    hooks._transport_feedback(dtls, receiver_report + feedback + receiver_report)
    assert got == [feedback]
    hooks._transport_feedback(dtls, receiver_report + feedback[:-4])  # truncated: ignored
    hooks._transport_feedback(dtls, bytes([0x80, 201, 0xFF, 0xFF]) + feedback)  # a lying length
    assert got == [feedback]


def test_a_flood_of_feedback_or_feedback_naming_thousands_of_packets_is_left_unread():
    clock = Clock()
    numbers = Numbers(clock)
    downlink = twcc.DownlinkTwcc(numbers, None, clock)
    for _ in range(100):
        numbers.take(1000)
    huge = build_feedback(1, 2, 0, [(i, None) for i in range(twcc.MAX_STATUS_COUNT)])
    assert len(huge) == 1
    downlink.on_packet(huge[0])
    assert (downlink.feedbacks, downlink.refused) == (0, 1)
    small = build_feedback(1, 2, 0, [(i, 1_000_000 + i * 1000) for i in range(100)])[0]
    for _ in range(200):  # within one second
        downlink.on_packet(small)
    assert downlink.feedbacks == twcc.MAX_FEEDBACK_PER_S - 1 and downlink.refused == 152
    clock.now += 1.0
    downlink.on_packet(small)
    assert downlink.feedbacks == twcc.MAX_FEEDBACK_PER_S
