"""Synthetic participants that join a meeting exactly as a browser does.

    python -m media.bots --base-url http://127.0.0.1:8000 --room demo --guests 4 --seconds 20 [--host-pin PIN]
        [--ice-loopback-only]

Each bot loads the join page, posts the form (with its CSRF token), opens the meeting
websocket and, when the server says media may start, negotiates a real aiortc peer
connection through that websocket, sending a pre-encoded VP8 clip and Opus. After the
given time it prints one JSON line with what every bot received per publisher
(video frames/s and audio packets/s).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from typing import Any

import aiohttp

from media.aiortc_hooks import use_loopback_only
from media.bot import Bot

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebBot:
    """One participant: HTTP join, the meeting websocket, and an aiortc Bot for media."""

    def __init__(self, base_url: str, room: str, name: str, pin: str = "") -> None:
        self.base_url, self.room, self.name, self.pin = base_url.rstrip("/"), room, name, pin
        self.bot: Bot | None = None
        self.pid = ""
        self.started_at: float | None = None
        self.errors: list[str] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def run(self, http: aiohttp.ClientSession) -> None:
        """Join and keep the websocket served until cancelled."""
        page = await (await http.get(f"{self.base_url}/m/{self.room}")).text()
        token = CSRF.search(page)
        if token is None:
            raise RuntimeError(f"no join form at /m/{self.room}")
        resp = await http.post(f"{self.base_url}/m/{self.room}", allow_redirects=False,
                               data={"csrf_token": token.group(1), "name": self.name, "pin": self.pin})
        if resp.status != 302:
            raise RuntimeError(f"join refused for {self.name}: HTTP {resp.status}")
        ws_url = self.base_url.replace("http", "ws", 1) + f"/ws/m/{self.room}"
        async with http.ws_connect(ws_url, origin=self.base_url, max_msg_size=0) as ws:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT or not message.data.startswith("{"):
                    continue  # HTML fragments are for pages
                await self._handle(ws, json.loads(message.data))

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, msg: dict[str, Any]) -> None:
        if msg.get("type") == "media" and msg.get("action") == "start" and self.bot is None:
            self.pid = msg["pid"]

            def send(obj: dict[str, Any]) -> None:
                if obj.get("type") == "join":
                    return  # the server sends the worker its own join
                out = {k: v for k, v in obj.items() if k not in ("room", "pid")}
                self._tasks.append(asyncio.ensure_future(ws.send_str(json.dumps(out))))

            self.bot = Bot(None, self.room, self.pid, send=send)
            self.started_at = time.monotonic()
            self._tasks.append(asyncio.ensure_future(self.bot.join()))
        elif msg.get("type") == "reconnect" and self.bot is not None:
            self._tasks.append(asyncio.ensure_future(self.bot.rejoin(send_join=False)))
        elif self.bot is not None and msg.get("type") in ("answer", "offer", "error", "speaker"):
            if msg.get("type") == "error":
                self.errors.append(str(msg.get("message")))
            self.bot.deliver(msg)

    def report(self, seconds: float) -> dict[str, Any]:
        """What this bot received, per publisher."""
        bot = self.bot
        return {
            "name": self.name, "pid": self.pid, "in_meeting": bot is not None,
            "video_fps": {p: round(n / seconds, 1) for p, n in (bot.frames if bot else {}).items()},
            "audio_pps": {p: round(n / seconds, 1) for p, n in (bot.audio if bot else {}).items()},
            "errors": self.errors[:5],
        }

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.bot is not None:
            await self.bot.close()


async def run_bots(base_url: str, room: str, guests: int, seconds: float, host_pin: str = "") -> dict[str, Any]:
    """Join the bots, let media flow for `seconds`, and return the report."""
    bots = ([WebBot(base_url, room, "Bot Host", host_pin)] if host_pin else []) + [
        WebBot(base_url, room, f"Bot Guest {i + 1}") for i in range(guests)]
    sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in bots]
    tasks = [asyncio.ensure_future(b.run(s)) for b, s in zip(bots, sessions)]
    try:
        deadline = time.monotonic() + 30  # joining, waiting for the host, negotiating
        while time.monotonic() < deadline and not all(b.bot and b.bot._answered.is_set() for b in bots):
            if all(t.done() for t in tasks):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # let the worker's renegotiations settle
        for b in bots:
            if b.bot is not None:
                b.bot.frames.clear()
                b.bot.audio.clear()
        await asyncio.sleep(seconds)
        failed = [repr(t.exception()) for t in tasks if t.done() and t.exception()]
        return {"seconds": seconds, "participants": [b.report(seconds) for b in bots], "failures": failed}
    finally:
        for t in tasks:
            t.cancel()
        for b in bots:
            await b.close()
        for s in sessions:
            await s.close()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m media.bots", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--room", required=True, help="the meeting address (alias)")
    parser.add_argument("--guests", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--host-pin", default="", help="also join one bot as host with this PIN")
    parser.add_argument("--ice-loopback-only", action="store_true",
                        help="offer only 127.0.0.1 (for a server in MVC_ICE_LOOPBACK_ONLY mode)")
    args = parser.parse_args(argv)
    if args.ice_loopback_only:
        use_loopback_only()
    result = asyncio.run(run_bots(args.base_url, args.room, args.guests, args.seconds, args.host_pin))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
