"""Everything a worker opens for a room is closed again: rooms, peers, tasks, timers, threads."""

from __future__ import annotations

import asyncio
import gc
import json
import threading

import pytest
from aiortc import RTCPeerConnection

from conftest import SECRET, until, worker_in_process
from media import messages as m
from media.bot import Bot, connect
from media.forward import DownTrack, UpTrack
from media.peer import Peer
from media.pool import MediaPool
from media.room import Room

ROOM = "life-room"
GRACE = 0.3


def alive(kind: type) -> list:
    """Instances of `kind` still reachable after a full collection."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, kind)]


def media_tasks() -> list[asyncio.Task]:
    """Unfinished tasks running code of the media package, aiortc or aioice."""
    current = asyncio.current_task()
    out = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        path = code.co_filename if code else ""
        if task is not current and not task.done() and any(
                part in path for part in ("/media/", "/aiortc/", "/aioice/")):
            out.append(task)
    return out


def media_timers() -> list:
    """Pending loop timers whose callback belongs to the media package."""
    loop = asyncio.get_running_loop()
    return [h for h in loop._scheduled if not h.cancelled() and "media." in repr(h._callback)]


async def join(address, *pids: str) -> list[Bot]:
    bots = [Bot(address, ROOM, pid, secret=SECRET) for pid in pids]
    await asyncio.gather(*(b.join() for b in bots))
    bots[0].send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
    await until(lambda: all(r.frames[p.pid] > 5 for r in bots for p in bots if r is not p))
    return bots


@pytest.mark.timeout(60)
def test_an_ended_room_leaves_nothing_behind_and_a_late_policy_does_not_reopen_it():
    threads_before = set(threading.enumerate())

    async def scenario():
        async with worker_in_process(grace=GRACE) as (worker, address):
            reader, ctl = await connect(address, SECRET)
            bots = await join(address, "a", "b")
            room = worker.rooms[ROOM]
            assert room.tasks and room.peers  # the speaker ticker runs while it is open
            for b in bots:
                await b.leave()
            await until(lambda: ROOM not in worker.rooms, what="room closed")
            closed = json.loads(await asyncio.wait_for(reader.readline(), 10))
            assert closed == {"type": "room_closed", "to": m.WEB, "room": ROOM}

            ctl.write(m.encode({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}}))
            ctl.write(b'{"type":"ping"}\n')
            pong = json.loads(await asyncio.wait_for(reader.readline(), 10))
            assert pong["load"]["rooms"] == 0 and pong["load"]["peers"] == 0
            assert ROOM not in worker.rooms

            ctl.close()  # the web process's connection goes too (it is not the room's)
            assert not room.tasks and room._expiry is None
            del room
            await nothing_left(bots)

    asyncio.run(scenario())
    assert set(threading.enumerate()) <= threads_before


@pytest.mark.timeout(60)
def test_a_meeting_ended_by_the_web_leaves_nothing_behind():
    threads_before = set(threading.enumerate())

    async def scenario():
        async with worker_in_process() as (worker, address):
            reader, ctl = await connect(address, SECRET)
            bots = await join(address, "a", "b")
            ctl.write(m.encode(m.CloseRoom(room=ROOM)))  # live_ops.end_meeting sends this
            closed = json.loads(await asyncio.wait_for(reader.readline(), 10))
            assert closed["type"] == "room_closed" and ROOM not in worker.rooms
            for b in bots:  # the pages' leave messages come after the room closed
                await b.leave()
            ctl.write(m.encode({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}}))
            ctl.write(b'{"type":"ping"}\n')
            pong = json.loads(await asyncio.wait_for(reader.readline(), 10))
            assert pong["load"]["rooms"] == 0
            ctl.close()
            await nothing_left(bots)

    asyncio.run(scenario())
    assert set(threading.enumerate()) <= threads_before


async def nothing_left(bots: list[Bot]) -> None:
    """No room, peer, track, connection, task or timer of the worker is left."""
    await until(lambda: not media_tasks(), what="media tasks gone")
    assert media_timers() == []
    assert alive(Room) == [] and alive(Peer) == []
    assert alive(UpTrack) == [] and alive(DownTrack) == []
    bot_pcs = {id(b.pc) for b in bots}
    assert [pc for pc in alive(RTCPeerConnection) if id(pc) not in bot_pcs] == []


@pytest.mark.timeout(60)
def test_peers_of_a_web_process_that_went_away_are_closed():
    async def scenario():
        async with worker_in_process() as (worker, address):
            a, b = await join(address, "a", "b")
            a._writer.close()  # a's web process vanishes without a word
            await until(lambda: "a" not in worker.rooms[ROOM].peers, what="a closed")
            assert "b" in worker.rooms[ROOM].peers
            await asyncio.gather(a.close(), b.leave())

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_a_peer_whose_connection_closed_is_removed():
    async def scenario():
        async with worker_in_process() as (worker, address):
            a, b = await join(address, "a", "b")
            await a.pc.close()  # the page's peer connection ends; its signalling stays
            await until(lambda: "a" not in worker.rooms[ROOM].peers, timeout=60, what="a removed")
            assert "b" in worker.rooms[ROOM].peers
            await asyncio.gather(a.leave(), b.leave())

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_the_pool_forgets_a_room_its_worker_closed():
    async def scenario():
        loop = asyncio.get_running_loop()
        bots: dict[str, Bot] = {}

        def on_message(msg):
            if msg.to in bots:
                loop.call_soon_threadsafe(bots[msg.to].deliver, msg.as_dict())

        pool = MediaPool(workers=1, loopback_only=True, room_grace=GRACE, on_message=on_message,
                         ping_interval=0.2)
        await loop.run_in_executor(None, pool.start)
        try:
            bots["a"] = Bot(None, ROOM, "a", send=pool.send)
            await bots["a"].join()
            assert pool.rooms() == [ROOM]
            pool.send(m.Leave(room=ROOM, pid="a"))
            await until(lambda: pool.rooms() == [], what="pool forgot the room")
            await until(lambda: next(iter(pool.health()["workers"].values()))["load"].get("rooms") == 0)
        finally:
            await asyncio.gather(*(b.close() for b in bots.values()), return_exceptions=True)
            await loop.run_in_executor(None, pool.stop)

    asyncio.run(scenario())
