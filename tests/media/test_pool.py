"""The pool from a web process's point of view: routing, worker death, clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import SECRET
from media.bot import Bot
from media.pool import MediaPool, handshake

ROOM = "pool-room"


def children(pid: int) -> set[int]:
    """Live (non-zombie) child processes of pid, from /proc."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.add(int(stat.parent.name))
    return out


@pytest.mark.timeout(60)
def test_stop_leaves_no_child_process():
    before = children(os.getpid())
    pool = MediaPool(workers=2, loopback_only=True)
    pool.start()
    try:
        health = pool.health()
        assert health["ok"]
        assert [h["alive"] for h in health["workers"].values()] == [True, True]
        assert {h["pid"] for h in health["workers"].values()} <= children(os.getpid())
    finally:
        pool.stop()
    assert children(os.getpid()) == before


@pytest.mark.timeout(30)
def test_rooms_go_to_the_least_loaded_worker_and_pings_report_load():
    pool = MediaPool(workers=2, loopback_only=True, ping_interval=0.2)
    pool.start()
    try:
        assert pool.send({"type": "join", "room": "a", "pid": "x"})
        assert pool.send({"type": "join", "room": "b", "pid": "y"})
        assert pool.room_worker("a") != pool.room_worker("b")
        assert not pool.send({"type": "answer", "room": "unknown", "pid": "z", "sdp": "v=0"})
        deadline = time.monotonic() + 10
        while sorted(h["load"].get("rooms") or 0 for h in pool.health()["workers"].values()) != [1, 1]:
            assert time.monotonic() < deadline, pool.health()
            time.sleep(0.05)
        # What /metrics shows per worker: its CPU and its packet, NACK and keyframe counters.
        for h in pool.health()["workers"].values():
            assert h["load"]["cpu_seconds"] > 0
            assert {"packets_in", "packets_out", "packets_dropped", "nacks_sent", "keyframe_requests"} <= set(h["load"])
    finally:
        pool.stop()


@pytest.mark.timeout(90)
def test_killed_worker_is_replaced_and_media_flows_again():
    async def scenario():
        loop = asyncio.get_running_loop()
        bots: dict[str, Bot] = {}
        reassigned: list[list[str]] = []

        def on_message(msg):
            bot = bots.get(msg.to)
            if bot is not None:
                loop.call_soon_threadsafe(bot.deliver, msg.as_dict())

        pool = MediaPool(workers=2, loopback_only=True, ping_interval=0.5,
                         on_message=on_message, on_reassign=reassigned.append)
        await loop.run_in_executor(None, pool.start)
        try:
            for pid in ("host", "g1", "g2"):
                bots[pid] = Bot(None, ROOM, pid, send=pool.send)
            pool.send({"type": "policy", "room": ROOM, "policy": {
                "layout": "tiles", "one_way_video": False, "hosts": ["host"],
                "audio_blocked": ["g2"]}})
            await asyncio.gather(*(b.join() for b in bots.values()))
            while bots["g1"].frames["host"] <= 10:
                await asyncio.sleep(0.05)

            victim = pool.room_worker(ROOM)
            pid = next(h["pid"] for h in pool.health()["workers"].values() if h["address"] == victim)
            killed_at = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            while not reassigned:
                await asyncio.sleep(0.02)
            reassigned_at = time.monotonic()
            assert reassigned == [[ROOM]]
            await asyncio.gather(*(b.rejoin(send_join=False) for b in bots.values()))  # as pages do
            before = {b.pid: dict(b.frames) for b in bots.values()}
            pairs = [(r, p) for r in bots for p in bots if r != p]
            while any(bots[r].frames[p] <= before[r].get(p, 0) for r, p in pairs):
                assert time.monotonic() - killed_at < 20
                await asyncio.sleep(0.02)
            recovered = time.monotonic() - killed_at
            print(f"worker killed → on_reassign {reassigned_at - killed_at:.2f} s, "
                  f"→ media flowing on every pair again {recovered:.2f} s")
            assert pool.room_worker(ROOM) is not None
            # the room's policy was replayed to the new worker: g2 stays muted
            audio0 = dict(bots["host"].audio)
            while bots["host"].audio["g1"] - audio0.get("g1", 0) <= 30:  # g1 is heard ...
                await asyncio.sleep(0.05)
            assert bots["host"].audio["g2"] - audio0.get("g2", 0) == 0  # ... g2 is not
            while not all(h["alive"] for h in pool.health()["workers"].values()):
                assert time.monotonic() - killed_at < 30, "the killed worker was not replaced"
                await asyncio.sleep(0.05)
        finally:
            await asyncio.gather(*(b.close() for b in bots.values()), return_exceptions=True)
            await loop.run_in_executor(None, pool.stop)

    before = children(os.getpid())
    asyncio.run(scenario())
    assert children(os.getpid()) == before


@pytest.mark.timeout(30)
def test_external_workers_are_used_but_not_owned(worker):
    host, port = worker
    messages = []
    pool = MediaPool(addresses=[f"{host}:{port}"], on_message=messages.append, secret=SECRET)
    pool.start()
    try:
        assert pool.health()["ok"]
        assert pool.send({"type": "join", "room": "ext", "pid": "p"})
        assert pool.send({"type": "offer", "room": "ext", "pid": "p", "sdp": "v=0\r\nm=video x\r\n"})
        deadline = time.monotonic() + 5
        while not messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert messages and messages[0].type == "error" and messages[0].to == "p"
        assert pool.room_worker("ext") == f"{host}:{port}"
        assert pool.health()["workers"]["w0"]["pid"] is None
    finally:
        pool.stop()
    # the worker belongs to someone else: still serving after the pool stopped
    import socket
    with socket.create_connection((host, port), timeout=5) as sock:
        handshake(sock, SECRET)
        sock.sendall(b'{"type":"ping"}\n')
        assert b"pong" in sock.recv(4096)
