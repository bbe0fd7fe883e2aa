"""media/_rtpfast.Estimator gives the REMB values aiortc's RemoteBitrateEstimator gives.

Both are fed the same send-time groups: a steady 30 fps video, a link that starts
queueing (overuse, so the estimate falls), one that drains (underuse), bursts, reordering,
the 24-bit abs-send-time wrapping and a pause longer than the rate window.
"""

from __future__ import annotations

import random

import pytest
from aiortc.rate import RemoteBitrateEstimator

from media import aiortc_hooks as hooks

pytestmark = pytest.mark.skipif(not hooks.FAST_PATH, reason="media/_rtpfast is not built (make fastpath)")

ABS_PER_MS = (1 << 18) / 1000  # abs-send-time is 6.18 fixed-point seconds


def trace(seed: int) -> list[tuple[int, int, int, int]]:
    """(arrival ms, abs_send_time, size, ssrc) per group, as GroupedEstimator hands them over."""
    rng = random.Random(seed)
    out, send_ms, arrival, queue = [], rng.uniform(0, 60_000), 10_000.0, 0.0
    capacity = rng.choice([300, 800, 2500])  # kbit/s of the simulated link
    for i in range(3000):
        phase = (i // 300) % 4
        size = int(rng.gauss(2200 if phase != 2 else 5000, 400))
        send_ms += rng.choice([33.3, 33.4, 33.3, 16.7, 66.7]) if phase != 3 else rng.uniform(1, 80)
        if rng.random() < 0.002:
            send_ms += 1500  # a pause longer than the rate window
        queue = max(0.0, queue - 33.3) + size * 8 / capacity  # ms of queueing on the link
        arrival = max(arrival + rng.choice([0, 1, 2]), send_ms + 20 + queue + rng.uniform(0, 3))
        abs_time = int(send_ms * ABS_PER_MS) & 0xFFFFFF
        if rng.random() < 0.01:
            abs_time = (abs_time - 3000) & 0xFFFFFF  # out of order
        out.append((int(arrival), abs_time, max(size, 1), 1111 if rng.random() < 0.9 else 2222))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_the_c_estimator_gives_aiortcs_estimates(seed):
    ours, theirs = hooks.new_estimator(), RemoteBitrateEstimator()
    results = []
    for arrival, abs_time, size, ssrc in trace(seed):
        kw = dict(arrival_time_ms=arrival, abs_send_time=abs_time, payload_size=size, ssrc=ssrc)
        mine, aiortcs = ours.add(**kw), theirs.add(**kw)
        assert mine == aiortcs, (arrival, abs_time, size)
        results.append(mine)
    estimates = [r[0] for r in results if r is not None]
    assert len(estimates) > 20  # the trace reached the rate control, not only its warm-up


def test_a_link_that_queues_brings_the_estimate_down():
    ours = hooks.new_estimator()
    estimates = []
    send_ms, arrival = 0.0, 0.0
    for i in range(900):
        send_ms += 33.3
        queue = 0 if i < 300 else (i - 300) * 2.0  # from 10 s on, each frame waits 2 ms longer
        arrival = send_ms + 20 + queue
        r = ours.add(arrival_time_ms=int(arrival), abs_send_time=int(send_ms * ABS_PER_MS) & 0xFFFFFF,
                     payload_size=2000, ssrc=1)
        if r is not None:
            estimates.append((i, r[0]))
    before = [e for i, e in estimates if 200 < i < 300]
    after = [e for i, e in estimates if i > 600]
    assert before and after and min(after) < min(before)
