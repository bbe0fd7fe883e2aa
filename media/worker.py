"""The media worker process: one asyncio loop owning whole rooms, fed by web processes.

    python -m media.worker --port N [--ice-loopback-only] [--ice-servers JSON]

Web processes connect over TCP and speak newline-delimited JSON (see media.messages).
Replies for a participant go back on the connection that sent its `join`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from typing import Any

from aiortc import RTCConfiguration

from . import messages as m
from .forward import COUNTERS
from .peer import PeerError, harden_rtp_parsing, rtc_configuration, use_loopback_only
from .plan import RoomPolicy
from .room import Room, RoomFull

log = logging.getLogger("media.worker")
MAX_BACKLOG = 16 * 1024 * 1024  # bytes queued to one web process before we give up on it


class Connection:
    """One web process's TCP connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def send(self, obj: dict[str, Any]) -> None:
        """Queue one message to the web process (dropped if it has gone or stopped reading)."""
        if self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            log.warning("web process is not reading; closing its connection")
            self.writer.close()
            return
        self.writer.write(m.encode(obj))


class Worker:
    """Routes messages to rooms; never lets one bad message or peer stop the others."""

    def __init__(self, config: RTCConfiguration) -> None:
        self.config = config
        self.rooms: dict[str, Room] = {}

    def load(self) -> dict[str, int]:
        """Rooms, peers and forwarded streams, as reported in `pong`."""
        loads = [r.load() for r in self.rooms.values()]
        return {"rooms": len(self.rooms), "peers": sum(x["peers"] for x in loads),
                "forwarded": sum(x["forwarded"] for x in loads), **COUNTERS}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read lines from one web process until it disconnects."""
        conn = Connection(writer)
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.LimitOverrunError as exc:
                    await self._discard_line(reader, exc.consumed)
                    conn.send(m.error(f"line longer than {m.MAX_LINE} bytes"))
                    continue
                except asyncio.IncompleteReadError:
                    break
                if line.strip():
                    self.dispatch(line, conn)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the web process went away, or the worker is shutting down
        finally:
            writer.close()

    @staticmethod
    async def _discard_line(reader: asyncio.StreamReader, consumed: int) -> None:
        await reader.readexactly(consumed)
        while True:
            try:
                await reader.readuntil(b"\n")
                return
            except asyncio.LimitOverrunError as exc:
                await reader.readexactly(exc.consumed)

    def dispatch(self, line: bytes, conn: Connection) -> None:
        """Handle one line; slow steps run as tasks, kept in order per participant."""
        try:
            msg = m.parse(line)
        except m.MessageError as exc:
            conn.send(m.error(str(exc), exc.pid))
            return
        pid = getattr(msg, "pid", None)
        try:
            coro = self._handle(msg, conn)
        except (PeerError, RoomFull, KeyError, ValueError) as exc:
            conn.send(m.error(_describe(exc), pid))
            return
        if coro is not None:
            asyncio.ensure_future(self._run(coro, conn, pid, msg.type))

    async def _run(self, coro: Any, conn: Connection, pid: str | None, kind: str) -> None:
        try:
            await coro
        except Exception as exc:  # hostile SDP etc.: report, keep serving
            log.info("%s for %s failed: %r", kind, pid, exc)
            conn.send(m.error(f"{kind} failed: {_describe(exc)}", pid))

    def _peer_room(self, msg: Any) -> Room:
        room = self.rooms.get(msg.room)
        if room is None or msg.pid not in room.peers:
            raise KeyError(f"{msg.pid} has not joined room {msg.room}")
        return room

    def _handle(self, msg: m.Message, conn: Connection) -> Any:
        if isinstance(msg, m.Ping):
            conn.send({"type": "pong", "load": self.load()})
        elif isinstance(msg, m.Join):
            room = self.rooms.get(msg.room)
            if room is None:
                room = self.rooms[msg.room] = Room(msg.room, self.config, self._speaker)
            room.join(msg.pid, conn.send)
        elif isinstance(msg, m.Offer):
            room = self.rooms.get(msg.room)
            if room is None:
                room = self.rooms[msg.room] = Room(msg.room, self.config, self._speaker)
            return room.offer(msg.pid, msg.sdp, conn.send)
        elif isinstance(msg, m.Answer):
            return self._peer_room(msg).peers[msg.pid].handle_answer(msg.sdp)
        elif isinstance(msg, m.Candidate):
            return self._peer_room(msg).peers[msg.pid].add_candidate(msg.candidate)
        elif isinstance(msg, m.PolicyMsg):
            room = self.rooms.get(msg.room)
            if room is None:
                room = self.rooms[msg.room] = Room(msg.room, self.config, self._speaker)
            room.set_policy(RoomPolicy(
                layout=msg.layout, one_way_video=msg.one_way_video, hosts=set(msg.hosts),
                audio_blocked=set(msg.audio_blocked), video_blocked=set(msg.video_blocked),
                groups=dict(msg.groups), screen=msg.screen))
        elif isinstance(msg, m.Keyframe):
            self._peer_room(msg).request_keyframe(msg.pid)
        elif isinstance(msg, m.Leave):
            room = self.rooms.get(msg.room)
            if room is not None:
                return room.leave(msg.pid)
        elif isinstance(msg, m.CloseRoom):
            room = self.rooms.pop(msg.room, None)
            if room is not None:
                return room.close()
        return None

    def _speaker(self, room: Room, pid: str) -> None:
        for reply in room.replies():
            reply({"type": "speaker", "room": room.id, "pid": pid})

    async def close(self) -> None:
        """Close every room."""
        rooms, self.rooms = list(self.rooms.values()), {}
        await asyncio.gather(*(r.close() for r in rooms), return_exceptions=True)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.strip("'\"")[:300]


async def _watch_parent(stop: asyncio.Event) -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    stop.set()


async def run(host: str, port: int, config: RTCConfiguration,
              exit_with_parent: bool = False) -> None:
    """Serve until SIGTERM/SIGINT; prints the bound address as the first stdout line."""
    worker = Worker(config)
    server = await asyncio.start_server(worker.serve, host, port, limit=m.MAX_LINE)
    bound = server.sockets[0].getsockname()
    print(f"listening {bound[0]}:{bound[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watcher = asyncio.ensure_future(_watch_parent(stop)) if exit_with_parent else None
    async with server:
        await stop.wait()
    if watcher is not None:
        watcher.cancel()
    await worker.close()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m media.worker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ice-loopback-only", action="store_true")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when the process that started this one dies (pool mode)")
    parser.add_argument("--ice-servers", default="[]", help="JSON list of {urls, username, credential}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    harden_rtp_parsing()
    if args.ice_loopback_only:
        use_loopback_only()
    config = rtc_configuration(json.loads(args.ice_servers))
    asyncio.run(run(args.host, args.port, config, args.exit_with_parent))


if __name__ == "__main__":
    main()
