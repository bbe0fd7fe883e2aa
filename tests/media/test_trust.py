"""The worker is a trust boundary: only authenticated web processes, only allowed ICE
targets, and host decisions (mutes, camera bans) that never silently stop working."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging

import pytest

from conftest import SECRET, quiet, until, worker_in_process
from media import aiortc_hooks as hooks
from media import messages as m
from media.bot import Bot, connect
from media.ice import MAX_PER_PEER

ROOM = "trust-room"


async def send_policy(writer: asyncio.StreamWriter, room: str = ROOM, **policy) -> None:
    writer.write(m.encode({"type": "policy", "room": room, "policy": {"layout": "tiles", **policy}}))
    await writer.drain()


async def ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> dict:
    """The worker's load, after everything sent before on this connection was read."""
    writer.write(b'{"type":"ping"}\n')
    while True:
        reply = json.loads(await asyncio.wait_for(reader.readline(), 10))
        if reply["type"] == "pong":
            return reply["load"]


async def closed_by_worker(reader: asyncio.StreamReader) -> bool:
    """True once the worker has closed the connection (everything it sent is skipped)."""
    while await asyncio.wait_for(reader.readline(), 10):
        pass
    return True


# -- authentication ---------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_a_raw_tcp_client_can_neither_join_nor_change_the_policy(worker):
    async def scenario():
        host, guest = bots = [Bot(worker, ROOM, pid) for pid in ("host", "guest")]
        await asyncio.gather(*(b.join() for b in bots))
        ctl_reader, ctl = await connect(worker)
        try:
            await send_policy(ctl, hosts=["host"], audio_blocked=["guest"])
            await until(lambda: guest.frames["host"] > 10 and host.frames["guest"] > 10)

            attempts = [
                b'{"type":"join","room":"trust-room","pid":"spy"}\n',  # speaking the protocol
                m.encode({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}}),
                m.encode({"type": "auth", "mac": "0" * 64}),  # a wrong answer
                m.encode({"type": "auth", "mac": m.mac("guessed-secret", "0" * 64)}),
                b"",  # saying nothing at all
            ]
            for line in attempts:
                reader, writer = await asyncio.open_connection(*worker)
                try:
                    writer.write(line + 3 * m.encode({"type": "join", "room": "spyroom", "pid": "spy"}))
                except ConnectionError:
                    pass  # already closed by the worker
                assert await closed_by_worker(reader)
                writer.close()

            load = await ping(ctl_reader, ctl)
            assert load["rooms"] == 1 and load["peers"] == 2  # no "spy", no "spyroom"
            await quiet(lambda: host.audio["guest"])
            heard, frames = host.audio["guest"], host.frames["guest"]
            await until(lambda: host.frames["guest"] > frames + 30)  # media goes on
            assert host.audio["guest"] == heard  # the guest is still muted
        finally:
            ctl.close()
            await asyncio.gather(*(b.leave() for b in bots), return_exceptions=True)

    asyncio.run(scenario())


@pytest.mark.timeout(30)
def test_an_unauthenticated_connection_is_logged(caplog):
    async def scenario():
        async with worker_in_process() as (worker, address):
            reader, writer = await asyncio.open_connection(*address)
            await reader.readline()  # hello
            writer.write(b'{"type":"ping"}\n')
            assert await closed_by_worker(reader)
            writer.close()
            assert worker.connections == set()

    with caplog.at_level(logging.WARNING, logger="media.worker"):
        asyncio.run(scenario())
    assert any("did not authenticate" in r.getMessage() for r in caplog.records)


# -- remote ICE candidates ----------------------------------------------------------------
HOSTILE = ["10.0.0.{i}", "172.16.0.{i}", "192.168.1.{i}", "169.254.0.{i}", "224.0.0.{i}",
           "0.0.0.0", "8.8.8.{i}", "fe80::{i:x}", "fc00::{i:x}", "fd12::{i:x}", "ff02::{i:x}",
           "::", "host{i}.local", "127.0.0.{i}", "::1", "100.64.0.{i}", "255.255.255.255"]


def hostile_lines(n: int, start: int = 0) -> list[str]:
    """n candidate values aimed at addresses the worker must not send to (and loopback ones)."""
    out = []
    for k in range(start, start + n):
        address = HOSTILE[k % len(HOSTILE)].format(i=k % 250 + 1)
        proto = "tcp" if k % 29 == 0 else "udp"
        out.append(f"{k} 1 {proto} 2122260223 {address} {10000 + k} typ host")
    return out


def allowed_here(address: str) -> bool:
    """The loopback-only test worker may send to loopback addresses only."""
    return ipaddress.ip_address(address).is_loopback


@pytest.mark.timeout(60)
def test_hostile_candidates_in_sdp_and_trickled_never_become_ice_targets():
    async def scenario():
        async with worker_in_process() as (worker, address):
            a, b = bots = [Bot(address, ROOM, pid, secret=SECRET) for pid in ("a", "b")]
            send_b = b.send

            def hostile_offer(obj):
                if obj["type"] == "offer":  # 300 extra candidate lines in each m-section
                    extra = [f"a=candidate:{c}" for c in hostile_lines(300)]
                    lines = []
                    for line in obj["sdp"].split("\r\n"):
                        lines.append(line)
                        if line.startswith("a=candidate:"):
                            lines += extra
                    obj = {**obj, "sdp": "\r\n".join(lines)}
                    assert obj["sdp"].count("a=candidate:") >= 600
                send_b(obj)

            b.send = hostile_offer
            await asyncio.gather(*(x.join() for x in bots))
            a.send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
            await until(lambda: a.frames["b"] > 10 and b.frames["a"] > 10)  # b still works

            peer = worker.rooms[ROOM].peers["b"]
            for text in hostile_lines(60, start=300):
                send_b({"type": "candidate", "room": ROOM, "pid": "b",
                        "candidate": {"candidate": f"candidate:{text}", "sdpMid": "0"}})
            await until(lambda: peer.candidates.checked >= 600 + 60, what="trickled checked")

            remote = hooks.remote_candidates(peer.pc)
            targets = hooks.check_targets(peer.pc)
            assert 1 <= len(remote) <= MAX_PER_PEER
            assert all(allowed_here(c.host) for c in remote), [c.host for c in remote]
            assert targets and all(allowed_here(host) for host, _ in targets), targets
            assert len(targets) <= MAX_PER_PEER
            assert b.errors == []
            await asyncio.gather(*(x.leave() for x in bots))

    asyncio.run(scenario())


# -- the forwarding policy ------------------------------------------------------------------
@pytest.mark.timeout(90)
def test_policy_with_many_ids_is_accepted_and_a_refused_one_fails_closed_and_is_reported(worker):
    async def scenario():
        host, guest = bots = [Bot(worker, ROOM, pid) for pid in ("host", "guest")]
        await asyncio.gather(*(b.join() for b in bots))
        reader, ctl = await connect(worker)
        try:
            absent = [f"listener-{i:03d}" for i in range(150)]
            await send_policy(ctl, hosts=["host"], audio_blocked=absent + ["guest"],
                              video_blocked=absent)
            await until(lambda: host.frames["guest"] > 10 and guest.frames["host"] > 10)
            await quiet(lambda: host.audio["guest"])
            load = await ping(reader, ctl)  # no policy_refused came before the pong
            assert load["peers"] == 2
            assert host.audio["host"] == 0 and host.audio["guest"] < 5  # muted from the start

            # A policy the worker refuses (one list too long): the hosts are told, and the
            # guest is not forwarded at all while the policy is in doubt.
            await send_policy(ctl, hosts=["host"], audio_blocked=[f"x{i}" for i in range(m.MAX_LIST + 1)])
            refused = json.loads(await asyncio.wait_for(reader.readline(), 10))
            assert refused["type"] == "policy_refused" and refused["to"] == m.HOSTS
            assert refused["room"] == ROOM and "at most" in refused["message"]
            await quiet(lambda: host.frames["guest"] + host.audio["guest"])
            seen = host.frames["guest"], host.audio["guest"]
            hosts_media = guest.frames["host"]
            await until(lambda: guest.frames["host"] > hosts_media + 30)  # the host goes on
            assert (host.frames["guest"], host.audio["guest"]) == seen

            await send_policy(ctl, hosts=["host"])  # a valid policy ends the doubt
            await until(lambda: host.frames["guest"] > seen[0] + 10 and host.audio["guest"] > seen[1] + 10)
        finally:
            ctl.close()
            await asyncio.gather(*(b.leave() for b in bots), return_exceptions=True)

    asyncio.run(scenario())


@pytest.mark.timeout(90)
def test_mute_and_camera_ban_hold_in_a_room_with_70_listen_only_participants(worker):
    """The web's own policy (live_ops.policy) for a crowded room stops a guest at a real subscriber."""
    from mvc.live.state import HOST, Participant, RoomState
    from mvc.meeting.live_ops import policy

    async def scenario():
        state = RoomState(meeting_id=1)
        people = [Participant(pid="host", name="Nina", role=HOST), Participant(pid="guest", name="Karen"),
                  Participant(pid="watcher", name="Ole", mic=False, cam=False)]
        people += [Participant(pid=f"listen-{i:02d}-{'x' * 20}", name=f"L {i}", mic=False, cam=False)
                   for i in range(70)]
        state.participants = {p.pid: p for p in people}
        reader, ctl = await connect(worker)
        for p in people[3:]:  # the listen-only people are in the worker's room too
            ctl.write(m.encode(m.Join(room=ROOM, pid=p.pid)))

        def sync():
            ctl.write(m.encode(m.policy_message(ROOM, policy(state))))

        host, guest = Bot(worker, ROOM, "host"), Bot(worker, ROOM, "guest")
        watcher = Bot(worker, ROOM, "watcher", publish=False)
        bots = [host, guest, watcher]
        try:
            await asyncio.gather(*(b.join() for b in bots))
            sync()
            await until(lambda: watcher.frames["guest"] > 10 and watcher.audio["guest"] > 10)
            assert (await ping(reader, ctl))["peers"] == 73

            state.participants["guest"].mic = False  # the host mutes the guest ...
            state.settings.guests_camera = False  # ... and forbids guests' cameras
            assert len(policy(state)["audio_blocked"]) > 64
            sync()
            await quiet(lambda: watcher.frames["guest"] + watcher.audio["guest"])
            seen = watcher.frames["guest"], watcher.audio["guest"]
            host_frames = watcher.frames["host"]
            await until(lambda: watcher.frames["host"] > host_frames + 30)  # the host still flows
            assert (watcher.frames["guest"], watcher.audio["guest"]) == seen
            assert watcher.audio["host"] > 0
        finally:
            ctl.close()
            await asyncio.gather(*(b.leave() for b in bots), return_exceptions=True)

    asyncio.run(scenario())
