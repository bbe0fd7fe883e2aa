"""Weak networks under real impairment, in a private network namespace per test.

Each test runs tests/media/impaired.py inside `unshare -n`: a worker and aiortc bots on
that namespace's own `lo`, one bot's traffic limited by the kernel to 300 kbit/s (htb +
tbf, selected by its UDP port) with 80 ms delay and 2 % loss (added in the bot, as this
kernel has no netem). Nothing touches the machine's own interfaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("impaired.py")


def _namespace_problem() -> str | None:
    """Why this machine cannot run the scenarios (None if it can)."""
    for tool in ("unshare", "ip", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux / iproute2) is not installed"
    probe = subprocess.run(
        ["unshare", "-n", "sh", "-c", "ip link set lo up && tc qdisc add dev lo root handle 1: "
         "htb && tc qdisc del dev lo root"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace with traffic control here: {probe.stderr.strip()}"
    return None


PROBLEM = _namespace_problem()
pytestmark = pytest.mark.skipif(PROBLEM is not None, reason=PROBLEM or "")


def scenario(name: str) -> dict:
    """Run one scenario of impaired.py in a fresh network namespace; its results."""
    env = {**os.environ, "MVC_OUTER_NETNS": os.readlink("/proc/self/ns/net")}
    done = subprocess.run(["unshare", "-n", sys.executable, str(SCRIPT), name],
                          capture_output=True, text=True, env=env, timeout=110)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_weak_subscriber_in_a_group_keeps_audio_and_is_told_video_paused():
    r = scenario("downlink")
    assert r["still_paused"], r
    assert r["d_max_audio_gap_s"] < 0.2, r  # continuous audio from every publisher
    assert all(n >= 0.9 * 50 * r["window_s"] for n in r["d_audio_packets"].values()), r
    others = [n for pair, n in r["frames"].items() if not pair.startswith("d<-")]
    assert min(others) >= 0.9 * max(others) and min(others) >= 5 * r["window_s"], r
    weak = [n for pair, n in r["frames"].items() if pair.startswith("d<-")]
    assert max(weak) <= 0.2 * min(others), r  # paused, not a trickle of frozen frames
    assert not r["others_told_paused"], r


def test_one_to_one_publisher_is_told_to_send_less_when_the_subscriber_link_is_weak():
    r = scenario("one_to_one")
    assert r["remb_before"] > 600_000 and r["remb_after"] < 300_000, r
    assert r["came_down_after_s"] < 5, r


def test_publisher_on_a_weak_uplink_is_told_to_send_less():
    r = scenario("uplink")
    assert r["remb_after"] < 300_000 and r["came_down_after_s"] < 5, r


def test_publisher_with_a_lossy_uplink_is_told_to_send_less():
    # Random loss without queueing delay: only the worker's receive-side loss cap sees it.
    r = scenario("lossy_uplink")
    assert r["remb_after"] < 0.8 * r["remb_before"] and r["came_down_after_s"] < 5, r
