"""The worker reports, per participant, what it received from them, forwarded to them and dropped."""

from __future__ import annotations

import asyncio

import pytest

from conftest import until, worker_in_process
from media import room as media_room
from media.bot import Bot
from media.messages import COUNT_NAMES

ROOM = "counts-room"


def reports(bot: Bot) -> list[dict]:
    """The worker_counts messages the bot's connection got so far."""
    return [msg for msg in bot.messages if msg["type"] == "worker_counts"]


def totals(bot: Bot, pid: str) -> dict[str, int]:
    """The sum of every report's counts for pid."""
    return {name: sum(r["counts"].get(pid, {}).get(name, 0) for r in reports(bot)) for name in COUNT_NAMES}


@pytest.mark.timeout(60)
def test_each_web_connection_gets_rising_counts_for_its_own_participants(monkeypatch):
    monkeypatch.setattr(media_room, "COUNTS_INTERVAL", 0.3)

    async def scenario():
        async with worker_in_process() as (_worker, address):
            talker = Bot(address, ROOM, "talker")
            listener = Bot(address, ROOM, "listener", publish=False)
            await asyncio.gather(talker.join(), listener.join())
            talker.send({"type": "policy", "room": ROOM, "policy": {"layout": "tiles"}})
            try:
                await until(lambda: listener.frames["talker"] >= 10, what="media flowing")
                first_in = totals(talker, "talker")["packets_in"]
                first_out = totals(listener, "listener")["packets_out"]
                await until(lambda: totals(talker, "talker")["packets_in"] > first_in + 50
                            and totals(listener, "listener")["packets_out"] > first_out + 50,
                            what="counts rising")
                for bot in (talker, listener):
                    assert reports(bot) and all(r["to"] == "web" and r["room"] == ROOM
                                                and set(r["counts"]) == {bot.pid} for r in reports(bot))
                talked, listened = totals(talker, "talker"), totals(listener, "listener")
                assert talked["bytes_in"] > talked["packets_in"] > 0
                assert listened["packets_in"] == 0  # it publishes nothing
                # Everything the listener got came from the talker, and nothing was dropped on loopback.
                assert listened["packets_out"] <= talked["packets_in"] + 50
                assert talked["packets_dropped"] + listened["packets_dropped"] <= 5
            finally:
                await asyncio.gather(talker.leave(), listener.leave(), return_exceptions=True)

    asyncio.run(scenario())
