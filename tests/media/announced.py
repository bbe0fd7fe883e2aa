"""A worker on its own network, announcing its address: run by test_ports.py inside `unshare -n`.

    unshare -n python tests/media/announced.py FIRST-LAST

Must run in a private network namespace (it refuses otherwise). That namespace is the
citizens' side. A thread moves into a second fresh namespace, the server's, makes a veth
pair between the two (198.18.0.0/15, the benchmark range, exists only on that pair), and
starts a media pool there from MVC_MEDIA_ANNOUNCED_IP and MVC_MEDIA_PORTS, as `make run-lan`
does: its worker binds the wildcard address and announces 198.18.0.1. Two aiortc bots on the
citizens' side signal through the pool and know the server only from its answers (and the
worker knows them only from their connectivity checks, as with a phone on the Wi-Fi); one
publishes, the other must receive its media. Prints one JSON line of what it saw.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from config import settings  # noqa: E402
from media.aiortc_hooks import check_targets  # noqa: E402
from media.bot import Bot  # noqa: E402
from media.pool import MediaPool  # noqa: E402
from mvc.media_client import worker_options  # noqa: E402

CLONE_NEWNET = 0x40000000
SERVER_IP, SERVER_OTHER_IP, CITIZEN_IP = "198.18.0.1", "198.18.0.3", "198.18.0.2"
ROOM = "lan-room"


def ip(*args: str) -> None:
    """Run one `ip` command in the calling thread's network namespace."""
    subprocess.run(["ip", *args], check=True, capture_output=True)


def in_server_namespace(start: Any) -> Any:
    """Call `start()` in a thread moved into a fresh network namespace joined to ours by a veth pair.

    Processes and threads it starts stay in that namespace; sockets keep theirs.
    """
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            if ctypes.CDLL(None, use_errno=True).unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")
            ip("link", "set", "lo", "up")  # the pool talks to its worker on 127.0.0.1
            ip("link", "add", "srv0", "type", "veth", "peer", "name", "cit0", "netns", str(os.getpid()))
            # Two addresses: aioice's own gathering would offer both; the announced one alone must be.
            ip("addr", "add", f"{SERVER_IP}/24", "dev", "srv0")
            ip("addr", "add", f"{SERVER_OTHER_IP}/24", "dev", "srv0")
            ip("link", "set", "srv0", "up")
            result["value"] = start()
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=run, name="server-namespace")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def udp_sockets_of(pid: int) -> list[tuple[str, int]]:
    """(local address, port) of every UDP socket the process holds, from its namespace's /proc."""
    inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] for fd in os.listdir(f"/proc/{pid}/fd")
              if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")}
    out = []
    for line in Path(f"/proc/{pid}/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes:
            address, port = fields[1].split(":")
            out.append((".".join(str(b) for b in reversed(bytes.fromhex(address))), int(port, 16)))
    return out


def like_a_phone(msg: dict[str, Any]) -> dict[str, Any]:
    """The bot's SDP as a phone's browser sends it: no candidates, as it trickles them later.

    A phone on the Wi-Fi would trickle private addresses (192.168.x.x), which the worker drops
    (media/ice.py), so the worker learns the phone's address only from its connectivity checks.
    """
    if "sdp" in msg:
        msg = {**msg, "sdp": "".join(line for line in msg["sdp"].splitlines(keepends=True)
                                     if not line.startswith(("a=candidate:", "a=end-of-candidates")))}
    return msg


async def scenario() -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    bots: dict[str, Bot] = {}

    def on_message(msg: Any) -> None:
        if (bot := bots.get(msg.to)) is not None:
            loop.call_soon_threadsafe(bot.deliver, msg.as_dict())

    options = worker_options(settings.load())
    pool = in_server_namespace(lambda: _started(MediaPool(workers=1, on_message=on_message, **options)))
    try:
        ip("addr", "add", f"{CITIZEN_IP}/24", "dev", "cit0")
        ip("link", "set", "cit0", "up")
        bots["pub"] = Bot(None, ROOM, "pub", send=lambda msg: pool.send(like_a_phone(msg)))
        bots["sub"] = Bot(None, ROOM, "sub", publish=False, send=lambda msg: pool.send(like_a_phone(msg)))
        pool.send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles", "one_way_video": False,
                                                               "hosts": ["pub"]}})
        started = time.monotonic()
        await asyncio.gather(*(b.join() for b in bots.values()))
        sub = bots["sub"]
        while sub.frames["pub"] < 30 or sub.audio["pub"] < 50:
            if time.monotonic() - started > 30:
                break
            await asyncio.sleep(0.05)
        worker_pid = next(h["pid"] for h in pool.health()["workers"].values())
        answers = [m["sdp"] for b in bots.values() for m in b.messages if m["type"] in ("answer", "offer")]
        return {
            "frames": sub.frames["pub"], "audio": sub.audio["pub"],
            "seconds_to_media": round(time.monotonic() - started, 2),
            "candidates": sorted({":".join(line.split()[i] for i in (4, 5, 7))  # address:port:type
                                  for sdp in answers for line in sdp.splitlines()
                                  if line.startswith("a=candidate:")}),
            "check_targets": sorted({f"{h}:{p}" for b in bots.values() for h, p in check_targets(b.pc)}),
            "worker_udp": sorted({f"{a}:{p}" for a, p in udp_sockets_of(worker_pid)}),
            "errors": [b.errors for b in bots.values()],
        }
    finally:
        await asyncio.gather(*(b.close() for b in bots.values()), return_exceptions=True)
        await loop.run_in_executor(None, pool.stop)


def _started(pool: MediaPool) -> MediaPool:
    pool.start()
    return pool


def main() -> None:
    outer = os.environ.get("MVC_OUTER_NETNS")
    if not outer or os.readlink("/proc/self/ns/net") == outer:
        sys.exit("run me inside `unshare -n` (MVC_OUTER_NETNS names the namespace to stay out of)")
    print(json.dumps(asyncio.run(scenario())))


if __name__ == "__main__":
    main()
