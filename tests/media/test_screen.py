"""Screen sharing through a real worker: a publisher's second video track is its screen."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from aiortc import RTCRtpSender

from conftest import quiet, until
from media import aiortc_hooks as hooks
from media.bot import Bot, EncodedTrack, video_clip

ROOM = "room-1"


async def share(bot: Bot, on: bool = True) -> EncodedTrack | None:
    """Add (or stop) a screen track on a joined bot and renegotiate, like media.js does.

    Its msid stream id starts with "screen-", as the page marks it.
    """
    await settle(bot)
    if on:
        frames = [f for f, _ in video_clip(640, 360, 15)]
        track = EncodedTrack("video", frames, 15, 90000)
        # A transceiver of its own (addTrack could take over a receiving one).
        transceiver = bot.pc.addTransceiver(track, direction="sendonly")
        hooks.set_stream_ids(transceiver.sender, f"screen-{bot.pid}", f"screen-{bot.pid}-v")
        hooks.on_picture_loss(transceiver.sender, track.restart)
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(
            [c for c in caps if c.mimeType in ("video/VP8", "video/rtx")])
    else:
        track = None
        for t in bot.pc.getTransceivers():
            if hooks.stream_id(t.sender).startswith("screen-") and t.direction != "inactive":
                t.direction = "inactive"
    bot._answered.clear()
    await bot.pc.setLocalDescription(await bot.pc.createOffer())
    bot.send({"type": "offer", "room": ROOM, "pid": bot.pid, "sdp": bot.pc.localDescription.sdp})
    await asyncio.wait_for(bot._answered.wait(), 10)
    return track


async def settle(bot: Bot) -> None:
    """Wait until the bot has no offer/answer exchange under way."""
    for _ in range(100):
        if bot.pc.signalingState == "stable":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("signalling never became stable")


@contextlib.asynccontextmanager
async def joined(*bots: Bot):
    """The bots joined to the room; they leave afterwards (after a check for errors)."""
    await asyncio.gather(*(b.join() for b in bots))
    try:
        yield bots
        assert not any(b.errors for b in bots), [b.errors for b in bots]
    finally:
        await asyncio.gather(*(b.leave() for b in bots), return_exceptions=True)


async def policy(bot: Bot, **fields) -> None:
    bot.send({"type": "policy", "room": ROOM,
              "policy": {"layout": "tiles", "hosts": ["host"], **fields}})


async def frames(bots: list[Bot], publisher: str, seconds: float, clock: Bot) -> dict[str, int]:
    """Frames of `publisher` each bot receives while `clock` sends `seconds` of camera video."""
    before = {b.pid: b.frames.get(publisher, 0) for b in bots}
    goal = clock.tracks[0].sent + int(30 * seconds)
    await until(lambda: clock.tracks[0].sent >= goal, timeout=10 + 3 * seconds)
    return {b.pid: b.frames.get(publisher, 0) - before[b.pid] for b in bots}


@pytest.mark.timeout(60)
def test_policy_screen_forwards_the_sharers_second_video_as_its_own_stream(worker):
    async def scenario():
        async with joined(*(Bot(worker, ROOM, pid) for pid in ("host", "g0", "g1"))) as bots:
            host, guests = bots[0], bots[1:]
            await policy(host)
            await until(lambda: all(g.frames.get("host", 0) > 10 for g in guests))
            await share(host)
            # Not forwarded while the policy names nobody.
            assert (await frames(guests, "host~screen", 1.0, host)) == {"g0": 0, "g1": 0}

            await policy(host, screen="host")
            await until(lambda: all(g.frames.get("host~screen", 0) > 0 for g in guests))
            got = await frames(guests, "host~screen", 2.0, host)
            assert all(n >= 20 for n in got.values()), got  # 15 fps
            cams = await frames(guests, "host", 1.0, host)
            assert all(n >= 20 for n in cams.values()), cams  # the camera keeps going
            assert all("host~screen" in g.keyframe_at for g in guests)
            assert host.frames.get("host~screen", 0) == 0  # never back to the sharer

            await policy(host, screen=None)
            await quiet(lambda: sum(g.frames.get("host~screen", 0) for g in guests))
            assert (await frames(guests, "host~screen", 1.0, host)) == {"g0": 0, "g1": 0}
            assert all(n >= 20 for n in (await frames(guests, "host", 1.0, host)).values())

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_stopping_the_track_stops_forwarding_and_a_new_share_works(worker):
    async def scenario():
        async with joined(Bot(worker, ROOM, "host"), Bot(worker, ROOM, "g0")) as (host, guest):
            await policy(host, screen="host")
            await until(lambda: guest.frames.get("host", 0) > 10)  # renegotiations done
            await share(host)
            await until(lambda: guest.frames.get("host~screen", 0) > 10)
            await share(host, on=False)
            await quiet(lambda: guest.frames.get("host~screen", 0))
            assert (await frames([guest], "host~screen", 1.0, host)) == {"g0": 0}
            assert (await frames([guest], "host", 1.0, host))["g0"] >= 20

            stopped_at = guest.frames["host~screen"]
            await share(host)  # a fresh screen track (new m-line), same policy
            await until(lambda: guest.frames["host~screen"] > stopped_at)
            assert (await frames([guest], "host~screen", 1.0, host))["g0"] >= 10

    asyncio.run(scenario())


@pytest.mark.timeout(60)
def test_a_listener_without_camera_shares_a_screen_not_a_camera(worker):
    async def scenario():
        listener = Bot(worker, ROOM, "ear", publish=False)
        async with joined(Bot(worker, ROOM, "host"), listener) as (host, _):
            await policy(host, screen="ear", groups={})
            await until(lambda: listener.audio.get("host", 0) > 10)  # renegotiations done
            await share(listener)  # its only video m-line: named by the "screen-" stream id
            await until(lambda: host.frames.get("ear~screen", 0) > 10)
            assert host.frames.get("ear", 0) == 0

    asyncio.run(scenario())
