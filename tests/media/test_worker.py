"""A real worker process forwarding media between in-process aiortc bots."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from conftest import quiet, until
from media import aiortc_hooks as hooks
from media.bot import Bot, connect
from media.messages import MAX_LINE
from media.plan import MAX_PARTICIPANTS

ROOM = "room-1"


async def join_all(address, pids, **kw) -> list[Bot]:
    """Join bots and give the room a tiles policy (without one the worker forwards nothing)."""
    bots = [Bot(address, ROOM, pid, **kw) for pid in pids]
    await asyncio.gather(*(b.join() for b in bots))
    await policy(bots[0], layout="tiles")
    return bots


async def flowing(bots: list[Bot], frames: int = 10) -> None:
    """Poll until every bot gets `frames` video frames from every other publishing bot."""
    await until(lambda: all(r.frames[p.pid] >= frames for r in bots for p in bots
                            if r is not p and p.publish), what="media flowing")


async def leave_all(bots: list[Bot]) -> None:
    await asyncio.gather(*(b.leave() for b in bots), return_exceptions=True)


def snapshot(bots: list[Bot]) -> dict[tuple[str, str, str], int]:
    """(receiver, publisher, kind) → count so far."""
    out = {}
    for b in bots:
        for pub, n in b.frames.items():
            out[(b.pid, pub, "video")] = n
        for pub, n in b.audio.items():
            out[(b.pid, pub, "audio")] = n
    return out


def delta(after, before, receiver, publisher, kind) -> int:
    key = (receiver, publisher, kind)
    return after.get(key, 0) - before.get(key, 0)


async def paused_and_drained(bots: list[Bot]) -> dict[tuple[str, str, str], int]:
    """Pause every publisher's video and wait until no more frames arrive; the counts."""
    for b in bots:
        b.tracks[0].pause(True)
    counts = snapshot(bots)
    for _ in range(50):
        await asyncio.sleep(0.1)
        now = snapshot(bots)
        if now == counts:
            break
        counts = now
    return counts


async def measured(bots: list[Bot], seconds: float):
    """Counts received while every publishing bot sends `seconds` worth of video (30 fps):
    got(receiver, publisher, kind)."""
    before = snapshot(bots)
    senders = [b for b in bots if b.tracks]
    goal = {b.pid: b.tracks[0].sent + int(30 * seconds) for b in senders}
    await until(lambda: all(b.tracks[0].sent >= goal[b.pid] for b in senders),
                timeout=10 + 3 * seconds, what="publishers sending")
    after = snapshot(bots)
    return lambda receiver, publisher, kind: delta(after, before, receiver, publisher, kind)


async def policy(bot: Bot, **policy) -> None:
    bot.send({"type": "policy", "room": ROOM, "policy": policy})


@pytest.mark.timeout(60)
def test_eight_participants_in_tiles_get_nearly_every_frame(worker):
    async def scenario():
        bots = await join_all(worker, [f"p{i}" for i in range(8)])
        try:
            await flowing(bots)  # renegotiation and first keyframes
            # Count exactly the frames sent in a 4 s window: pause, let everything in
            # flight arrive, count, send for 4 s, pause, drain, count again.
            got0 = await paused_and_drained(bots)
            sent0 = {b.pid: b.tracks[0].sent for b in bots}
            for b in bots:
                b.tracks[0].pause(False)
            await until(lambda: all(b.tracks[0].sent >= sent0[b.pid] + 120 for b in bots),
                        timeout=30, what="120 frames sent by everyone")
            got = await paused_and_drained(bots)
            sent = {b.pid: b.tracks[0].sent - sent0[b.pid] for b in bots}
            worst = min(delta(got, got0, r.pid, p.pid, "video") / sent[p.pid]
                        for r in bots for p in bots if r is not p)
            print(f"8 in tiles: worst receiver/publisher pair got {worst:.1%} of frames")
            assert worst >= 0.90
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_audio_blocked_guest_is_not_forwarded_and_resumes_when_unblocked(worker):
    async def scenario():
        host, g1, g2 = bots = await join_all(worker, ["host", "g1", "g2"])
        try:
            await flowing(bots)
            await policy(host, layout="tiles", one_way_video=False, hosts=["host"],
                         audio_blocked=["g1"])
            await quiet(lambda: host.audio["g1"] + g2.audio["g1"])
            got = await measured(bots, 1.5)
            for r in ("host", "g2"):
                assert got(r, "g1", "audio") <= 1
                assert got(r, "g1", "video") > 30  # camera still forwarded
                assert got(r, "g2" if r == "host" else "host", "audio") > 50
            heard = host.audio["g1"], g2.audio["g1"]
            await policy(host, layout="tiles", one_way_video=False, hosts=["host"])
            await until(lambda: host.audio["g1"] > heard[0] and g2.audio["g1"] > heard[1])
            got = await measured(bots, 1.0)
            for r in ("host", "g2"):
                assert got(r, "g1", "audio") > 40
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_host_only_guests_stop_seeing_each_other_within_two_seconds(worker):
    async def scenario():
        host, g1, g2 = bots = await join_all(worker, ["host", "g1", "g2"])
        try:
            await flowing(bots)
            got = await measured(bots, 1.0)
            assert got("g2", "g1", "video") > 20
            await policy(host, layout="host_only", one_way_video=False, hosts=["host"])
            await quiet(lambda: g1.frames["g2"] + g2.frames["g1"] + g1.audio["g2"] + g2.audio["g1"])
            got = await measured(bots, 1.0)
            for a, b in (("g1", "g2"), ("g2", "g1")):
                assert got(a, b, "video") == 0
                assert got(a, b, "audio") == 0
                assert got(a, "host", "video") > 20
                assert got("host", a, "video") > 20
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_new_receiver_decodes_a_keyframe_within_one_second(worker):
    async def scenario():
        bots = await join_all(worker, ["a", "b"])
        try:
            # mid-GOP: the clip's own keyframes are 30 frames apart
            await until(lambda: all(10 <= b.tracks[0].position % 30 <= 20 for b in bots))
            viewer = Bot(worker, ROOM, "viewer", publish=False, decode=True)
            bots.append(viewer)
            await viewer.join()
            await until(lambda: {"a", "b"} <= set(viewer.decoded_at), what="both decoded")
            waits = {p: viewer.decoded_at[p] - viewer.joined_at for p in ("a", "b")
                     if p in viewer.decoded_at}
            print(f"first decoded frame after joining: {waits}")
            assert set(waits) == {"a", "b"}
            assert max(waits.values()) < 1.0
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_bad_input_gets_error_replies_and_the_room_keeps_going(worker):
    async def scenario():
        bots = await join_all(worker, ["a", "b"])
        reader, writer = await connect(worker)
        try:
            lines = [
                b"this is not json",
                b"[1,2,3]",
                json.dumps({"type": "launch_missiles"}).encode(),
                json.dumps({"type": "join", "room": ROOM, "pid": "x" * 65}).encode(),
                json.dumps({"type": "join", "room": ROOM, "pid": 7}).encode(),
                json.dumps({"type": "answer", "room": ROOM, "pid": "nobody", "sdp": "v=0"}).encode(),
                json.dumps({"type": "join", "room": ROOM, "pid": "evil"}).encode(),
                json.dumps({"type": "offer", "room": ROOM, "pid": "evil", "sdp": "v=0\r\ngarbage\r\nm=video x\r\n"}).encode(),
                json.dumps({"type": "offer", "room": ROOM, "pid": "evil", "sdp": "v" * 70000}).encode(),
                json.dumps({"type": "candidate", "room": ROOM, "pid": "evil",
                            "candidate": {"candidate": "candidate:nonsense", "sdpMid": "0"}}).encode(),
                json.dumps({"type": "policy", "room": ROOM, "policy": {"layout": "cinema"}}).encode(),
                json.dumps({"type": "ping"}).encode(),
            ]
            writer.write(b"\n".join(lines) + b"\n")
            replies = []
            while len(replies) < len(lines) - 1:  # the join of "evil" needs no reply
                replies.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
            errors = [r for r in replies if r["type"] == "error"]
            assert len(errors) == len(lines) - 3
            refused = [r for r in replies if r["type"] == "policy_refused"]
            assert refused == [{"type": "policy_refused", "to": "hosts", "room": ROOM,
                                "message": "policy.layout must be tiles, host_large or host_only"}]
            assert all(r["message"] for r in errors)
            assert any(r.get("pid") == "evil" and r["message"].startswith("offer failed")
                       for r in errors)
            assert any(r["type"] == "pong" for r in replies)
            assert {r["pid"] for r in errors if "pid" in r} >= {"evil", "nobody"}

            await policy(bots[0], layout="tiles")  # the refused policy held media back
            await flowing(bots)
            got = await measured(bots, 1.0)
            assert got("a", "b", "video") > 20
            assert got("b", "a", "audio") > 30
        finally:
            writer.close()
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(30)
def test_overlong_line_is_refused_and_connection_keeps_working(worker):
    async def scenario():
        reader, writer = await connect(worker)
        writer.write(b"x" * (MAX_LINE + 1024) + b"\n" + b'{"type":"ping"}\n')
        first = json.loads(await asyncio.wait_for(reader.readline(), 5))
        second = json.loads(await asyncio.wait_for(reader.readline(), 5))
        writer.close()
        assert first["type"] == "error" and "longer" in first["message"]
        assert second["type"] == "pong"

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_active_speaker_follows_the_loud_publisher_without_flapping(worker):
    async def scenario():
        a, b, c = bots = await join_all(worker, ["a", "b", "c"])
        try:
            def speakers(bot):
                return [m["pid"] for m in bot.messages if m["type"] == "speaker"]

            a.level, b.level, c.level = 15, 90, 127
            await until(lambda: all(speakers(bot) for bot in bots), what="a speaker event")
            b.level, a.level = 10, 80
            await until(lambda: all(len(speakers(bot)) >= 2 for bot in bots), what="a second one")
            for bot in bots:
                assert speakers(bot) == ["a", "b"]
            # Someone who joins now is told who speaks, though the speaker has not changed.
            late = Bot(worker, ROOM, "late", publish=False)
            bots.append(late)
            await late.join()
            await until(lambda: speakers(late) == ["b"], what="the newcomer told of the speaker")
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_lost_publisher_packets_are_recovered_by_nack_and_rtx(worker):
    async def scenario():
        pub, sub = bots = await join_all(worker, ["pub", "sub"])
        try:
            await flowing(bots)
            sender = next(s for s in pub.pc.getSenders() if s.kind == "video")
            video_pt = hooks.rtx_payload_type(sender) - 1  # aiortc: rtx = pt + 1
            dropped = 0

            def lossy(original):
                async def send(data: bytes) -> None:
                    nonlocal dropped
                    is_media = data[1] & 0x7F == video_pt and not 192 <= data[1] <= 223
                    if is_media and int.from_bytes(data[2:4], "big") % 10 == 0:
                        dropped += 1  # lose every tenth video packet, never its retransmission
                        return
                    await original(data)
                return send

            hooks.wrap_transport_send(sender, lossy)
            sent0, got0 = pub.tracks[0].sent, sub.frames["pub"]
            await until(lambda: pub.tracks[0].sent >= sent0 + 120 and dropped > 10, timeout=30)
            sent, got = pub.tracks[0].sent - sent0, sub.frames["pub"] - got0
            print(f"dropped {dropped} video packets upstream; subscriber got {got}/{sent} frames")
            assert dropped > 10
            assert 0.97 * sent <= got <= sent + 2  # repaired, and nothing forwarded twice
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_h264_is_forwarded_as_h264(worker):
    async def scenario():
        bots = await join_all(worker, ["a", "b"], mime="video/H264")
        try:
            await flowing(bots)
            sent0 = bots[0].tracks[0].sent
            got0 = bots[1].frames["a"]
            await until(lambda: bots[0].tracks[0].sent >= sent0 + 60)
            assert bots[1].frames["a"] - got0 >= 0.9 * (bots[0].tracks[0].sent - sent0)
            sdp = bots[1].pc.remoteDescription.sdp
            section = next(m for m in sdp.split("\r\nm=")
                           if m.startswith("video") and "a=msid:a " in m)
            first_pt = section.split("\r\n")[0].split()[3]
            assert f"a=rtpmap:{first_pt} H264/90000" in section
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_page_reconnecting_with_a_fresh_offer_replaces_its_old_connection(worker):
    async def scenario():
        a, b = bots = await join_all(worker, ["a", "b"])
        try:
            await flowing(bots)
            await b.rejoin(send_join=False)  # a reloaded page just offers again
            await flowing(bots)
            got = await measured(bots, 1.0)
            assert got("a", "b", "video") > 20
            assert got("b", "a", "video") > 20
            assert b.errors == []
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_the_participant_past_the_workers_bound_is_refused(worker):
    async def scenario():
        reader, writer = await connect(worker)
        for i in range(MAX_PARTICIPANTS + 1):
            writer.write(json.dumps({"type": "join", "room": "big", "pid": f"p{i}"}).encode() + b"\n")
        writer.write(b'{"type":"ping"}\n')
        replies = [json.loads(await asyncio.wait_for(reader.readline(), 30)) for _ in range(2)]
        writer.close()
        return replies

    error, pong = asyncio.run(scenario())
    assert error["type"] == "error" and error["pid"] == f"p{MAX_PARTICIPANTS}" and "full" in error["message"]
    assert pong["load"]["peers"] == MAX_PARTICIPANTS


@pytest.mark.timeout(60)
def test_one_way_video_guests_see_nobody_but_are_seen_and_heard(worker):
    async def scenario():
        host, g1, g2 = bots = await join_all(worker, ["host", "g1", "g2"])
        try:
            await flowing(bots)
            await policy(host, layout="tiles", one_way_video=True, hosts=["host"])
            await quiet(lambda: sum(g.frames[p] for g in (g1, g2) for p in ("host", "g1", "g2")))
            got = await measured(bots, 1.0)
            for guest, other in (("g1", "g2"), ("g2", "g1")):
                assert got(guest, "host", "video") == 0
                assert got(guest, other, "video") == 0
                assert got(guest, "host", "audio") > 30
                assert got(guest, other, "audio") > 30
                assert got("host", guest, "video") > 20
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(30)
def test_candidates_right_after_an_offer_without_join_reach_the_new_peer(worker):
    async def scenario():
        bot = Bot(worker, ROOM, "solo")
        # no join: the offer and a trickled candidate arrive back to back
        original_send = bot.send

        def send(obj):
            if obj["type"] == "join":
                return
            original_send(obj)
            if obj["type"] == "offer":
                original_send({"type": "candidate", "room": ROOM, "pid": "solo", "candidate": {
                    "candidate": "candidate:1 1 udp 2122194687 127.0.0.1 9 typ host",
                    "sdpMid": "0", "sdpMLineIndex": 0}})

        bot.send = send
        try:
            await bot.join()
            await quiet(lambda: len(bot.messages))  # an error would have come by now
            return bot.errors
        finally:
            await bot.close()

    assert asyncio.run(scenario()) == []


def test_junk_datagrams_at_the_media_ports_change_nothing(worker):
    """Empty, one-byte, oversized, fake-RTP and fake-STUN datagrams from a stranger at a
    worker's media ports are dropped; the meeting's media goes on."""
    import random
    import socket

    async def scenario():
        bots = await join_all(worker, ["a", "b"])
        try:
            await flowing(bots)
            ports = {tuple(t) for b in bots for t in hooks.check_targets(b.pc)}
            assert ports
            rng = random.Random(3)
            junk = [b"", b"\x80", b"\x80" * 11, bytes([0x90]) + rng.randbytes(200), b"\x00\x01" + rng.randbytes(40),
                    bytes([0x81, 200]) + rng.randbytes(30), bytes([0x80, 96]) + rng.randbytes(4000),
                    rng.randbytes(9000)] + [rng.randbytes(rng.randrange(1, 1400)) for _ in range(300)]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
                for port in ports:
                    for data in junk:
                        stranger.sendto(data, port)
            before = {b.pid: dict(b.frames) for b in bots}
            await until(lambda: all(r.frames[p.pid] >= before[r.pid][p.pid] + 30 for r in bots for p in bots
                                    if r is not p), what="media still flowing after the junk")
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_waiting_room_connection_gets_nothing_and_gives_nothing_until_let_in(worker):
    async def scenario():
        host, g1 = bots = await join_all(worker, ["host", "g1"])
        await policy(host, layout="tiles", hosts=["host"])
        # A hostile page in the waiting room sends its camera and shouts.
        waiting = Bot(worker, ROOM, "waiting", waiting=True)
        waiting.level = 0
        bots.append(waiting)
        try:
            await flowing([host, g1])
            await waiting.join()
            await until(lambda: waiting.pc.connectionState == "connected", what="connected while waiting")
            await until(lambda: waiting.tracks[0].sent > 45, what="the waiting camera sending")
            got = await measured(bots, 1.5)
            assert waiting.packets == 0  # nothing reaches the waiting room
            for r in ("host", "g1"):
                assert got(r, "waiting", "video") == got(r, "waiting", "audio") == 0
            assert "waiting" not in [m.get("pid") for m in host.messages if m["type"] == "speaker"]
            # A policy in doubt (no valid one) forwards hosts to guests, never to the waiting room.
            host.send({"type": "hold", "room": ROOM, "reason": "test"})
            await asyncio.sleep(1.0)
            assert waiting.packets == 0
            await policy(host, layout="tiles", hosts=["host"])
            let_in = time.monotonic()
            host.send({"type": "admit", "room": ROOM, "pid": "waiting"})
            await until(lambda: waiting.frames["host"] > 0 and waiting.frames["g1"] > 0,
                        what="the admitted guest gets video")
            print(f"let in → first frames: {time.monotonic() - let_in:.2f} s")
            await until(lambda: host.frames["waiting"] > 10 and g1.audio["waiting"] > 10,
                        what="the admitted guest is seen and heard")
        finally:
            await leave_all(bots)

    asyncio.run(scenario())


def test_admit_for_someone_not_connected_is_an_error_reply(worker):
    async def scenario():
        host, = bots = await join_all(worker, ["host"])
        try:
            host.send({"type": "admit", "room": ROOM, "pid": "nobody"})
            host.send({"type": "join", "room": ROOM, "pid": "x", "waiting": "yes"})
            await until(lambda: len(host.errors) >= 2, what="two errors")
            return [e["message"] for e in host.errors]
        finally:
            await leave_all(bots)

    errors = asyncio.run(scenario())
    assert "has not joined" in errors[0] and "waiting must be true or false" in errors[1]


@pytest.mark.timeout(60)
def test_a_subscriber_accepting_transport_cc_gets_every_packet_numbered_across_its_streams(worker):
    hooks.negotiate_transport_cc()  # as Chromium: the bots accept it (the worker offers it)

    async def scenario():
        a, b = bots = await join_all(worker, ["a", "b"])
        try:
            await flowing(bots, frames=30)
            await until(lambda: b.packets > 300, what="300 packets")
            numbers = list(b.transport_numbers)
            return numbers, b.packets
        finally:
            await leave_all(bots)

    numbers, packets = asyncio.run(scenario())
    # One sequence for a's audio and video together, in the order sent (loopback: no loss).
    assert len(numbers) > 300 and len(numbers) >= packets - 5
    steps = [(y - x) & 0xFFFF for x, y in zip(numbers, numbers[1:])]
    assert sum(1 for s in steps if s == 1) >= 0.95 * len(steps), steps[:50]
