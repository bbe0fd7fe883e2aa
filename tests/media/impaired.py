"""Scenarios under real impairment, run by test_impairment.py inside `unshare -n`.

    MVC_OUTER_NETNS=$(readlink /proc/self/ns/net) unshare -n \
        python tests/media/impaired.py downlink|one_to_one|uplink|lossy_uplink

Must run in a private network namespace (it refuses otherwise): it brings up that
namespace's `lo`, runs a worker and aiortc bots on it, and limits ONE bot's traffic with
the kernel's traffic control on that `lo` — an htb class at 300 kbit/s with a tbf queue,
selected by a u32 filter on the bot's UDP port. This machine's kernel has no sch_netem
(nor act_gact), so the 80 ms delay and 2 % loss are added in the bot's receive path
(Bot.impair) after the kernel's rate limit. Prints one JSON line of results.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from media import aiortc_hooks as hooks  # noqa: E402
from media.bot import Bot  # noqa: E402
from media.ice import IceFilter  # noqa: E402
from media.messages import MAX_LINE  # noqa: E402
from media.peer import rtc_configuration  # noqa: E402
from media.worker import Worker  # noqa: E402

SECRET = "impairment-secret"
ROOM = "weak-room"
RATE, BURST, QUEUE_LATENCY = "300kbit", "4kb", "100ms"
DELAY, LOSS = 0.080, 0.02
UPLINK_LOSS = 0.25  # fraction of a publisher's packets lost in lossy_uplink
FAST = 1_000_000  # bit/s of video a one-to-one publisher sends (well above RATE)


def tc(*args: str) -> None:
    """Run one tc command on this namespace's lo."""
    subprocess.run(["tc", *args], check=True, capture_output=True)


def shape_port(port: int, field: str, rate: str = RATE, burst: str = BURST, latency: str = QUEUE_LATENCY) -> None:
    """Limit UDP packets with this destination (field="dport") or source port to `rate`
    (a tbf queue with this `burst` and `latency`)."""
    tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10", "r2q", "1000")
    tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit")
    tc("class", "add", "dev", "lo", "parent", "1:", "classid", "1:20", "htb",
       "rate", rate, "ceil", rate)
    tc("qdisc", "add", "dev", "lo", "parent", "1:20", "handle", "20:", "tbf",
       "rate", rate, "burst", burst, "latency", latency)
    tc("filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
       "match", "ip", "protocol", "17", "0xff", "match", "ip", field, str(port), "0xffff",
       "flowid", "1:20")


def shaped_stats() -> str:
    """What the kernel did with the shaped class (sent/dropped), for the report."""
    out = subprocess.run(["tc", "-s", "qdisc", "show", "dev", "lo"], capture_output=True, text=True)
    return " ".join(line.strip() for line in out.stdout.splitlines() if "dropped" in line)


async def until(check, timeout: float, what: str) -> float:
    """Poll until check() holds; seconds waited (AssertionError after timeout)."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} not met within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def paused_told(bot: Bot) -> bool:
    """The worker told this bot its video is paused (its `downlink` message)."""
    msgs = [x for x in bot.messages if x.get("type") == "downlink"]
    return bool(msgs) and msgs[-1].get("message") == "video_paused"


async def downlink(address) -> dict:
    """Four people; d's downlink is weak. d keeps audio and is told video paused; a-c keep video."""
    bots = [Bot(address, ROOM, pid, secret=SECRET) for pid in "abcd"]
    await asyncio.gather(*(b.join() for b in bots))
    bots[0].send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
    a, b, c, d = bots
    await until(lambda: all(r.frames[p.pid] >= 10 for r in bots for p in bots if r is not p),
                30, "video flowing")
    shape_port(d.port(), "dport")
    d.impair(DELAY, LOSS)
    took = await until(lambda: paused_told(d), 30, "d told its video is paused")
    for bot in bots:
        bot.reset_audio_gaps()
    before = {(r.pid, p.pid): r.frames[p.pid] for r in bots for p in bots if r is not p}
    audio_before = {p.pid: d.audio[p.pid] for p in (a, b, c)}
    sent_before = {p.pid: p.tracks[0].sent for p in bots}
    window = 6.0  # seconds of video (at 30 frames/s) every publisher sends while we count
    await until(lambda: all(p.tracks[0].sent - sent_before[p.pid] >= 30 * window for p in bots),
                3 * window, "publishers sending")
    frames = {f"{r.pid}<-{p.pid}": r.frames[p.pid] - before[(r.pid, p.pid)]
              for r in bots for p in bots if r is not p}
    result = {
        "paused_after_s": round(took, 2),
        "still_paused": paused_told(d),
        "window_s": window,
        "sent": {p.pid: p.tracks[0].sent - sent_before[p.pid] for p in bots},
        "frames": frames,
        "d_audio_packets": {p: d.audio[p] - n for p, n in audio_before.items()},
        "d_max_audio_gap_s": round(max(d.audio_gap[p.pid] for p in (a, b, c)), 3),
        "others_max_audio_gap_s": round(max(r.audio_gap[p.pid] for r in (a, b, c)
                                            for p in bots if r is not p), 3),
        "others_told_paused": [x.pid for x in (a, b, c)
                               if any(msg.get("type") == "downlink" for msg in x.messages)],
        "kernel": shaped_stats(),
    }
    await asyncio.gather(*(x.leave() for x in bots), return_exceptions=True)
    return result


async def one_to_one(address) -> dict:
    """Two people; b's downlink is weak: a (the publisher) must be told to send less."""
    a, b = bots = [Bot(address, ROOM, pid, secret=SECRET, video=(640, 360, 30), bitrate=FAST)
                   for pid in "ab"]
    await asyncio.gather(*(x.join() for x in bots))
    a.send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
    await until(lambda: b.frames["a"] >= 10 and a.frames["b"] >= 10, 30, "video flowing")
    await until(lambda: any(v > 2 * 300_000 for _, v in a.remb_received), 20,
                "a told it may send over 600 kbit/s")
    before = max(v for _, v in a.remb_received)
    shape_port(b.port(), "dport")
    b.impair(DELAY, LOSS)
    start = time.monotonic()
    took = await until(lambda: any(t > start and v < 300_000 for t, v in a.remb_received),
                       20, "a told to send under 300 kbit/s")
    result = {"remb_before": before, "remb_after": min(v for t, v in a.remb_received if t > start),
              "came_down_after_s": round(took, 2), "kernel": shaped_stats()}
    await asyncio.gather(*(x.leave() for x in bots), return_exceptions=True)
    return result


async def uplink(address) -> dict:
    """Two people; a's uplink is weak: the worker must tell a to send less."""
    a, b = bots = [Bot(address, ROOM, pid, secret=SECRET, video=(640, 360, 30), bitrate=FAST)
                   for pid in "ab"]
    await asyncio.gather(*(x.join() for x in bots))
    a.send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
    await until(lambda: b.frames["a"] >= 10, 30, "video flowing")
    await until(lambda: any(v > 2 * 300_000 for _, v in a.remb_received), 20,
                "a told it may send over 600 kbit/s")
    shape_port(a.port(), "sport")
    start = time.monotonic()
    took = await until(lambda: any(t > start and v < 300_000 for t, v in a.remb_received),
                       20, "a told to send under 300 kbit/s")
    result = {"remb_after": min(v for t, v in a.remb_received if t > start),
              "came_down_after_s": round(took, 2), "kernel": shaped_stats()}
    await asyncio.gather(*(x.leave() for x in bots), return_exceptions=True)
    return result


async def lossy_uplink(address) -> dict:
    """Two people; a quarter of a's packets are lost on the way up, with no queueing delay
    (which aiortc's delay-based estimator would see): the worker's loss cap must act."""
    a, b = bots = [Bot(address, ROOM, pid, secret=SECRET, video=(640, 360, 30), bitrate=FAST)
                   for pid in "ab"]
    await asyncio.gather(*(x.join() for x in bots))
    a.send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
    await until(lambda: b.frames["a"] >= 10, 30, "video flowing")
    await until(lambda: any(v > 2 * 300_000 for _, v in a.remb_received), 20,
                "a told it may send over 600 kbit/s")
    before = max(v for _, v in a.remb_received)
    rng = random.Random(7)

    def lossy(original):
        async def send(data: bytes) -> None:
            if rng.random() >= UPLINK_LOSS:
                await original(data)
        return send

    hooks.wrap_transport_send(next(s for s in a.pc.getSenders() if s.kind == "video"), lossy)
    start = time.monotonic()
    took = await until(lambda: any(t > start and v < 0.8 * before for t, v in a.remb_received),
                       20, "a told to send less")
    result = {"remb_before": before, "remb_after": min(v for t, v in a.remb_received if t > start),
              "came_down_after_s": round(took, 2)}
    await asyncio.gather(*(x.leave() for x in bots), return_exceptions=True)
    return result


async def main(name: str) -> dict:
    """Run one scenario against a worker in this process, on this namespace's lo."""
    hooks.harden_rtp_parsing()
    hooks.use_loopback_only()
    worker = Worker(rtc_configuration([]), SECRET, IceFilter(loopback_only=True))
    server = await asyncio.start_server(worker.serve, "127.0.0.1", 0, limit=MAX_LINE)
    try:
        return await {"downlink": downlink, "one_to_one": one_to_one,
                      "uplink": uplink, "lossy_uplink": lossy_uplink}[name](server.sockets[0].getsockname()[:2])
    finally:
        server.close()
        await worker.close()


def network_namespace() -> str:
    """The id of this process's network namespace."""
    return os.readlink("/proc/self/ns/net")


def in_private_namespace() -> bool:
    """True when this process runs in another network namespace than the one that
    started it (MVC_OUTER_NETNS, set by test_impairment.py)."""
    outer = os.environ.get("MVC_OUTER_NETNS")
    return bool(outer) and network_namespace() != outer


if __name__ == "__main__":
    if not in_private_namespace():
        sys.exit("refusing to touch traffic control outside a private network namespace")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.environ["MVC_MEDIA_SECRET"] = SECRET
    print(json.dumps(asyncio.run(main(sys.argv[1]))), flush=True)
