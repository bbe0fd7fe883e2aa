"""The media worker process: one asyncio loop owning whole rooms, fed by web processes.

    MVC_MEDIA_SECRET=... python -m media.worker --port N [--ice-loopback-only]
        [--ice-servers JSON] [--ice-allowed-networks CIDRS] [--room-grace SECONDS]
        [--media-ports FIRST-LAST] [--announced-ip ADDRESS]

Web processes connect over TCP, authenticate with the shared secret (a challenge-response
handshake, see media.messages and the README) and then speak newline-delimited JSON
(media.messages). Replies for a participant go back on the connection that sent its
`join`, addressed by `to`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from typing import Any

from aiortc import RTCConfiguration

from config.settings import media_secret_from_env

from . import aiortc_hooks as hooks
from . import messages as m
from .forward import counters
from .ice import IceFilter, parse_announced, parse_networks, parse_ports
from .peer import PeerError, rtc_configuration
from .plan import RoomPolicy
from .room import Room, RoomFull

log = logging.getLogger("media.worker")
MAX_BACKLOG = 16 * 1024 * 1024  # bytes queued to one web process before we give up on it
CLOSED_MEMORY = 3600.0  # seconds a closed room is remembered (late policies are ignored)


class Connection:
    """One web process's TCP connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def send(self, msg: m.Reply) -> None:
        """Queue one message to the web process (dropped if it has gone or stopped reading)."""
        if self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            log.warning("web process is not reading; closing its connection")
            self.writer.close()
            return
        self.writer.write(m.encode(msg))


class Worker:
    """Routes messages to rooms; never lets one bad message or peer stop the others."""

    def __init__(self, config: RTCConfiguration, secret: str, ice: IceFilter | None = None,
                 grace: float = 30.0) -> None:
        if not secret:
            raise ValueError("the media worker needs a shared secret (MVC_MEDIA_SECRET)")
        self.config = config
        self.secret = secret
        self.ice = ice or IceFilter()
        self.grace = grace
        self.rooms: dict[str, Room] = {}
        self.closed_rooms: dict[str, float] = {}  # room id -> when it was closed
        self.connections: set[Connection] = set()
        self.tasks: set[asyncio.Future[Any]] = set()

    def load(self) -> dict[str, float]:
        """Rooms, peers, forwarded streams, packet counters and CPU seconds used, as reported in `pong`."""
        loads = [r.load() for r in self.rooms.values()]
        return {"rooms": len(self.rooms), "peers": sum(x["peers"] for x in loads),
                "forwarded": sum(x["forwarded"] for x in loads), **counters(),
                "cpu_seconds": round(time.process_time(), 2)}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Authenticate one web process, then read its lines until it disconnects."""
        if not await self._authenticate(reader, writer):
            writer.close()
            return
        conn = Connection(writer)
        self.connections.add(conn)
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
            self.connections.discard(conn)
            writer.close()
            for room in list(self.rooms.values()):
                room.leave_connection(conn.send)  # its pages can no longer signal

    async def _authenticate(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> bool:
        """The challenge-response handshake; False (and logged) unless the client knows the secret."""
        peer = writer.get_extra_info("peername")
        greeting = m.hello()
        try:
            writer.write(m.encode(greeting))
            line = await asyncio.wait_for(reader.readuntil(b"\n"), m.AUTH_TIMEOUT)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            line = b""
        if not m.check_auth(self.secret, greeting["nonce"], line):
            log.warning("closed a connection from %s that did not authenticate", peer)
            return False
        writer.write(m.READY)
        return True

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
            if exc.kind == "policy" and exc.room is not None:
                self._refuse_policy(exc.room, str(exc), conn)
            else:
                conn.send(m.error(str(exc), exc.pid))
            return
        pid = getattr(msg, "pid", None)
        try:
            coro = self._handle(msg, conn)
        except (PeerError, RoomFull, KeyError, ValueError) as exc:
            conn.send(m.error(_describe(exc), pid, getattr(msg, "room", None)))
            return
        if coro is not None:
            room = self.rooms.get(getattr(msg, "room", ""))
            run = self._run(coro, conn, pid, msg)
            if room is not None:
                room.spawn(run)
            else:
                self._spawn(run)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, coro: Any, conn: Connection, pid: str | None, msg: Any) -> None:
        try:
            await coro
        except Exception as exc:  # hostile SDP etc.: report, keep serving
            log.info("%s for %s failed: %r", msg.type, pid, exc)
            conn.send(m.error(f"{msg.type} failed: {_describe(exc)}", pid, getattr(msg, "room", None)))

    def _refuse_policy(self, room_id: str, why: str, conn: Connection) -> None:
        """A policy we cannot apply: fail closed for the room and tell its hosts.

        Every web process is told (the room's hosts may be connected to any of them).
        """
        log.warning("policy for room %s refused: %s", room_id, why)
        room = self.rooms.get(room_id)
        if room is not None:
            room.hold()
        for other in self.connections | {conn}:
            other.send(m.policy_refused(room_id, why))

    def _peer_room(self, msg: Any) -> Room:
        room = self.rooms.get(msg.room)
        if room is None or msg.pid not in room.peers:
            raise KeyError(f"{msg.pid} has not joined room {msg.room}")
        return room

    def _room(self, room_id: str, reopen: bool = True) -> Room | None:
        """The room, opened if needed; a closed one is opened again only if `reopen`."""
        room = self.rooms.get(room_id)
        if room is None:
            if room_id in self.closed_rooms and not reopen:
                return None  # a late message for a room that has closed
            self.closed_rooms.pop(room_id, None)
            room = self.rooms[room_id] = Room(room_id, self.config, self._speaker, self.ice,
                                              self.grace, self._expire)
        return room

    def _handle(self, msg: m.Message, conn: Connection) -> Any:
        if isinstance(msg, m.Ping):
            conn.send(m.pong(self.load()))
        elif isinstance(msg, m.Join):
            self._room(msg.room).join(msg.pid, conn.send, waiting=msg.waiting)
        elif isinstance(msg, m.Admit):
            self._peer_room(msg).admit(msg.pid)
        elif isinstance(msg, m.Offer):
            return self._room(msg.room).offer(msg.pid, msg.sdp, conn.send, waiting=msg.waiting)
        elif isinstance(msg, m.Answer):
            return self._peer_room(msg).peers[msg.pid].handle_answer(msg.sdp)
        elif isinstance(msg, m.Candidate):
            return self._peer_room(msg).peers[msg.pid].add_candidate(msg.candidate)
        elif isinstance(msg, m.PolicyMsg):
            room = self._room(msg.room, reopen=False)
            if room is not None:
                room.set_policy(RoomPolicy(
                    layout=msg.layout, one_way_video=msg.one_way_video, hosts=set(msg.hosts),
                    audio_blocked=set(msg.audio_blocked), video_blocked=set(msg.video_blocked),
                    groups=dict(msg.groups), screen=msg.screen))
        elif isinstance(msg, m.Hold):
            log.warning("room %s holds media: %s", msg.room, msg.reason)
            room = self.rooms.get(msg.room)
            if room is not None:
                room.hold()
        elif isinstance(msg, m.Keyframe):
            self._peer_room(msg).request_keyframe(msg.pid)
        elif isinstance(msg, m.Leave):
            room = self.rooms.get(msg.room)
            if room is not None:
                return room.leave(msg.pid)
        elif isinstance(msg, m.CloseRoom):
            return self.close_room(msg.room)
        return None

    def _expire(self, room: Room) -> None:
        """The room has been empty for the grace period: close it."""
        if self.rooms.get(room.id) is room and not room.peers:
            self._spawn(self.close_room(room.id))

    async def close_room(self, room_id: str) -> None:
        """Close a room, remember that it closed and tell every web process."""
        room = self.rooms.pop(room_id, None)
        now = time.monotonic()
        self.closed_rooms = {r: t for r, t in self.closed_rooms.items() if now - t < CLOSED_MEMORY}
        self.closed_rooms[room_id] = now
        if room is None:
            return
        await room.close()
        for conn in list(self.connections):
            conn.send(m.room_closed(room_id))

    def _speaker(self, room: Room, pid: str) -> None:
        for reply in room.replies():
            reply(m.speaker(room.id, pid))

    async def close(self) -> None:
        """Close every room."""
        rooms, self.rooms = list(self.rooms.values()), {}
        await asyncio.gather(*(r.close() for r in rooms), return_exceptions=True)
        for task in list(self.tasks):
            task.cancel()


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.strip("'\"")[:300]


async def _watch_parent(stop: asyncio.Event) -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    stop.set()


async def run(host: str, port: int, worker: Worker, exit_with_parent: bool = False) -> None:
    """Serve until SIGTERM/SIGINT; prints the bound address as the first stdout line."""
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
    parser.add_argument("--ice-allowed-networks", default="",
                        help="comma-separated CIDRs remote candidates may be in besides public addresses")
    parser.add_argument("--room-grace", type=float, default=30.0,
                        help="seconds an empty room is kept for reconnects before it closes")
    parser.add_argument("--media-ports", type=parse_ports, default=None,
                        help="UDP port range for media, e.g. 40000-40099 (default: any port)")
    parser.add_argument("--announced-ip", type=parse_announced, default=None,
                        help="address offered in host candidates (1:1 NAT, LAN demo)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    secret = media_secret_from_env()
    if not secret:
        parser.error("set MVC_MEDIA_SECRET to the secret the web processes use")
    hooks.harden_rtp_parsing()
    if args.ice_loopback_only:
        hooks.use_loopback_only()
    hooks.bind_media_ports(args.media_ports)
    hooks.announce_address(args.announced_ip, args.ice_loopback_only)
    ice = IceFilter(args.ice_loopback_only, parse_networks(args.ice_allowed_networks))
    worker = Worker(rtc_configuration(json.loads(args.ice_servers)), secret, ice, args.room_grace)
    asyncio.run(run(args.host, args.port, worker, args.exit_with_parent))


if __name__ == "__main__":
    main()
