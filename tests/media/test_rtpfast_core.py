"""media/_rtpfast.Core keeps aiortc's receive statistics, the estimator's send-time groups
and the duplicate window exactly as the Python classes it stands in for (drain() and the
Python steps share it; tests/media/test_aiortc_hooks.py checks it on a live worker)."""

from __future__ import annotations

import random
from unittest import mock

import pytest
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket

from media import aiortc_hooks as hooks
from media.bwe import GroupedEstimator
from media.forward import CoreNackGenerator, CoreStats, _PyCore

pytestmark = pytest.mark.skipif(not hooks.FAST_PATH, reason="media/_rtpfast is not built (make fastpath)")


def packets() -> list[tuple[int, int]]:
    """(sequence number, timestamp): in order across the 16-bit wrap, with reordering,
    a duplicate and a gap."""
    out, seq, ts = [], 65500, 4_294_000_000
    for i in range(120):
        out.append((seq & 0xFFFF, ts & 0xFFFFFFFF))
        seq += 2 if i == 40 else 1  # one lost
        ts += 3000 if i % 3 == 0 else 0
    out[10], out[11] = out[11], out[10]
    out.insert(60, out[59])
    return out


def test_core_statistics_match_aiortcs():
    core = hooks.new_core()
    core.clockrate = 90000
    ours, theirs = CoreStats(core), StreamStatistics(90000)
    clock = [1000.0]
    with mock.patch("time.time", lambda: clock[0]):
        for seq, ts in packets():
            clock[0] += 0.011
            theirs.add(RtpPacket(sequence_number=seq, timestamp=ts))
    # (the core reads the real clock, so jitter differs: it is checked on a live worker)
    for seq, ts in packets():
        ours.add(RtpPacket(sequence_number=seq, timestamp=ts))
    for name in ("base_seq", "max_seq", "cycles", "packets_received", "packets_expected", "packets_lost"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.fraction_lost == theirs.fraction_lost


class Record:
    """An estimator that records the groups it is given."""

    def __init__(self):
        self.calls = []

    def add(self, **kw):
        self.calls.append(tuple(kw.values()))


def test_core_groups_match_grouped_estimator():
    core, record = hooks.new_core(), Record()
    core.estimator = hooks.new_estimator()  # the group being collected is the estimator's
    python = GroupedEstimator(record)
    rng = random.Random(7)
    abs_time, got = 0xFFF000, []
    for i in range(400):
        abs_time = (abs_time + rng.choice([0, 100, 900, 2700, 40000])) & 0xFFFFFF
        arrival, size, ssrc = 1000 + i * 3, rng.randrange(50, 1200), 1234
        python.add(abs_time, arrival, size, ssrc)
        group = core.group_add(abs_time, arrival, size, ssrc)
        if group is not None:
            got.append(group)
    assert got == record.calls and len(got) > 50


def test_simulcast_layers_sharing_an_estimator_make_one_sequence_of_send_time_groups():
    """Two layers of one sender (two cores, one estimator): their packets interleave into the
    same send-time groups, as one GroupedEstimator would make of them."""
    estimator, record = hooks.new_estimator(), Record()
    low, high = hooks.new_core(), hooks.new_core()
    low.estimator = high.estimator = estimator
    python = GroupedEstimator(record)
    got, abs_time = [], 0
    for i in range(300):
        abs_time = (abs_time + (0 if i % 3 else 2700)) & 0xFFFFFF
        core, ssrc = (low, 1) if i % 2 else (high, 2)
        python.add(abs_time, 1000 + i, 500, ssrc)
        group = core.group_add(abs_time, 1000 + i, 500, ssrc)
        if group is not None:
            got.append(group)
    assert got == record.calls and len(got) > 50


def test_core_without_an_estimator_refuses_groups():
    with pytest.raises(TypeError):
        hooks.new_core().group_add(0, 0, 0, 0)


def test_core_duplicate_window_matches_the_python_one():
    core, python = hooks.new_core(), _PyCore()
    rng = random.Random(3)
    seqs = [rng.randrange(1000) for _ in range(5000)]
    assert [core.recent_add(s) for s in seqs] == [python.recent_add(s) for s in seqs]


def test_nack_generator_keeps_its_highest_sequence_number_in_the_core():
    core = hooks.new_core()
    nacks = CoreNackGenerator(core)
    assert nacks.max_seq is None and core.missing is nacks.missing
    nacks.add(RtpPacket(sequence_number=10))
    assert nacks.add(RtpPacket(sequence_number=13))  # 11 and 12 missing
    assert core.nack_max == 13 and nacks.missing == {11, 12}
    nacks.add(RtpPacket(sequence_number=11))
    assert nacks.missing == {12}


def test_core_loudness_is_the_speaker_detectors_average():
    from media.speaker import SpeakerDetector

    core, python, detector = hooks.new_core(), _PyCore(), SpeakerDetector()
    rng = random.Random(11)
    for i in range(300):
        level = rng.choice([0, 5, 30, 90, 127, 127, rng.randrange(-5, 140)])
        core.level_add(level)
        python.level_add(level)
        detector.feed("a", level, float(i))
        assert core.loudness == python.loudness == detector._loudness["a"]
    assert core.level_seen > 0 and python.level_seen > 0
