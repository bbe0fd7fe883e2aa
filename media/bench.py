"""Load one worker process and print its cost as one JSON line.

    python -m media.bench --publishers 4 --subscribers 4 --seconds 20

Publishers send 360p VP8 (~500 kbit/s) + Opus; subscribers receive every publisher
(layout host_only with the subscribers as hosts, so publishers receive nothing).
With --transport-cc the subscribers accept transport-cc, as Chromium does, so the worker
numbers every packet it sends them (they send no feedback).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from .bot import Bot, connect, video_clip
from .aiortc_hooks import negotiate_transport_cc, use_loopback_only

ROOT = Path(__file__).resolve().parent.parent
ROOM = "bench"
BITRATE = 500_000


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(publishers: int, subscribers: int, seconds: float, warmup: float) -> dict:
    cmd = os.environ.get("MEDIA_BENCH_WORKER", f"{sys.executable} -m media.worker").split()
    secret = secrets.token_urlsafe(32)
    proc = subprocess.Popen(cmd + ["--port", "0", "--ice-loopback-only"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "MVC_MEDIA_SECRET": secret})
    assert proc.stdout is not None
    host, port = proc.stdout.readline().split()[1].rsplit(":", 1)
    address = (host, int(port))
    video = (640, 360, 30)
    clip = video_clip(*video, bitrate=BITRATE)
    kbps = sum(len(f) for f, _ in clip) * 8 / (len(clip) / video[2]) / 1000
    subs = [Bot(address, ROOM, f"sub{i}", publish=False, secret=secret)
            for i in range(subscribers)]
    pubs = [Bot(address, ROOM, f"pub{i}", video=video, bitrate=BITRATE, secret=secret)
            for i in range(publishers)]
    bots = subs + pubs
    try:
        await subs[0].join() if subs else None
        subs[0].send({"type": "policy", "room": ROOM, "policy": {
            "layout": "host_only", "one_way_video": False,
            "hosts": [b.pid for b in subs]}}) if subs else None
        await asyncio.gather(*(b.join() for b in bots[1:]))
        ctl_reader, ctl_writer = await connect(address, secret)

        async def worker_load() -> dict:
            ctl_writer.write(b'{"type":"ping"}\n')
            return json.loads(await ctl_reader.readline())["load"]

        await asyncio.sleep(warmup)
        load0 = await worker_load()
        cpu0, t0, own0 = cpu_seconds(proc.pid), time.monotonic(), cpu_seconds(os.getpid())
        pk0 = sum(b.packets for b in subs)
        fr0 = {(s.pid, p.pid): s.frames[p.pid] for s in subs for p in pubs}
        sent0 = sum(p.tracks[0].sent for p in pubs)
        await asyncio.sleep(seconds)
        cpu1, t1, own1 = cpu_seconds(proc.pid), time.monotonic(), cpu_seconds(os.getpid())
        elapsed = t1 - t0
        load1 = await worker_load()
        ctl_writer.close()
        fps = [(s.frames[p.pid] - fr0[(s.pid, p.pid)]) / elapsed for s in subs for p in pubs]
        pairs = publishers * subscribers
        cpu = 100 * (cpu1 - cpu0) / elapsed
        return {
            "publishers": publishers, "subscribers": subscribers, "seconds": round(elapsed, 1),
            "video": f"{video[0]}x{video[1]}@{video[2]} VP8 {kbps:.0f} kbit/s + Opus",
            "worker_cpu_percent": round(cpu, 1),
            "forwarded_pairs": pairs,
            "ingress_packets_per_s": round((load1["packets_in"] - load0["packets_in"]) / elapsed),
            "egress_packets_per_s": round((load1["packets_out"] - load0["packets_out"]) / elapsed),
            "received_packets_per_s": round((sum(b.packets for b in subs) - pk0) / elapsed),
            "sent_fps_mean": round((sum(p.tracks[0].sent for p in pubs) - sent0)
                                   / elapsed / max(publishers, 1), 1),
            "received_fps_min": round(min(fps), 1) if fps else None,
            "received_fps_mean": round(sum(fps) / len(fps), 1) if fps else None,
            "cpu_percent_per_pair": round(cpu / pairs, 2) if pairs else None,
            "cpu_percent_per_publisher": round(cpu / publishers, 2) if publishers else None,
            "cpu_us_per_egress_packet": round(
                1e6 * (cpu1 - cpu0) / max(load1["packets_out"] - load0["packets_out"], 1), 1),
            "bots_cpu_percent": round(100 * (own1 - own0) / elapsed, 1),
            "cpus": os.cpu_count(),
        }
    finally:
        await asyncio.gather(*(b.close() for b in bots), return_exceptions=True)
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m media.bench")
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--subscribers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--transport-cc", action="store_true",
                        help="subscribers accept transport-cc (the worker numbers what it sends)")
    args = parser.parse_args(argv)
    if args.subscribers < 1:
        parser.error("need at least one subscriber")
    use_loopback_only()
    if args.transport_cc:
        negotiate_transport_cc()
    result = asyncio.run(bench(args.publishers, args.subscribers, args.seconds, args.warmup))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
