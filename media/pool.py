"""The media worker pool as seen from Flask: plain threads, no asyncio in callers.

    pool = MediaPool(workers=2, secret=SECRET, ice_servers=[], loopback_only=True,
                     on_message=relay_to_page, on_reassign=tell_pages_to_reconnect)
    pool.start()
    pool.send(messages.Join(room="r1", pid="p1"))
    ...
    pool.stop()

Rooms are assigned to the least-loaded live worker on their first `join` (or `offer`,
`policy`).
A worker that dies is restarted (spawned mode) or reconnected (external mode); its rooms
go to live workers, and on_reassign(room_ids) tells the web to have those pages offer
again; the room's last policy goes along with the first join or offer on its new worker. Every connection to a worker
starts with the shared-secret handshake (media.messages). When a worker reports that
it closed a room (`room_closed`), the pool forgets the room (placement counts) unless
a join or offer for it was sent within the grace period (then it was in flight and the
worker re-opens the room: a room that was empty for the whole grace period had none).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import messages as m
from .messages import MAX_LINE

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 15.0


def handshake(sock: socket.socket, secret: str, timeout: float = 5.0) -> bytes:
    """Authenticate a fresh connection to a worker; returns bytes read past the handshake."""
    sock.settimeout(timeout)
    buf = b""

    def line() -> bytes:
        nonlocal buf
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the worker closed the connection during the handshake")
            buf += chunk
        first, buf = buf.split(b"\n", 1)
        return first + b"\n"

    try:
        sock.sendall(m.auth(secret, line()))
        if line() != m.READY:
            raise ConnectionError("the worker refused our handshake")
    except m.MessageError as exc:
        raise ConnectionError(str(exc)) from None
    sock.settimeout(None)
    return buf


class WorkerLink:
    """One worker: its process (if spawned), its TCP connection and its last load."""

    def __init__(self, name: str, address: str | None = None) -> None:
        self.name = name
        self.address = address
        self.proc: subprocess.Popen[bytes] | None = None
        self.sock: socket.socket | None = None
        self.alive = False
        self.load: dict[str, float] = {}
        self.last_pong = 0.0
        self.write_lock = threading.Lock()
        self.reader: threading.Thread | None = None

    def send_line(self, data: bytes) -> bool:
        """Write one line; False if the worker is unreachable."""
        sock = self.sock
        if not self.alive or sock is None:
            return False
        try:
            with self.write_lock:
                sock.sendall(data)
            return True
        except OSError:
            return False


class MediaPool:
    """Starts, watches and routes to media workers; see the module docstring."""

    def __init__(self, workers: int = 1, ice_servers: list[dict[str, Any]] | None = None,
                 loopback_only: bool = False, secret: str | None = None,
                 ice_allowed_networks: str = "", room_grace: float = 30.0,
                 media_ports: str = "", announced_ip: str = "",
                 on_message: Callable[[dict[str, Any]], None] | None = None,
                 on_reassign: Callable[[list[str]], None] | None = None,
                 addresses: Iterable[str] | None = None,
                 ping_interval: float = 1.0, python: str = sys.executable,
                 lease: Callable[[str, str, list[str]], str | None] | None = None) -> None:
        self.ice_servers = ice_servers or []
        self.loopback_only = loopback_only
        if secret is None and addresses is not None:
            raise ValueError("external media workers need the shared secret")
        self.secret = secret or secrets.token_urlsafe(32)  # spawned workers: one per pool
        self.ice_allowed_networks = ice_allowed_networks
        self.room_grace = room_grace
        self.worker_flags = [*(["--media-ports", media_ports] if media_ports else []),
                             *(["--announced-ip", announced_ip] if announced_ip else [])]
        self.on_message = on_message or (lambda msg: None)
        self.on_reassign = on_reassign or (lambda rooms: None)
        self.ping_interval = ping_interval
        self.python = python
        self.external = addresses is not None
        # With several web processes, lease(room, proposed address, live addresses) returns
        # the worker every process must use for the room (e.g. a Redis key), so a room
        # never spans workers.
        self.lease = lease
        names = list(addresses) if addresses is not None else [None] * workers
        self._links = [WorkerLink(f"w{i}", a) for i, a in enumerate(names)]
        self._rooms: dict[str, WorkerLink] = {}
        self._policies: dict[str, m.PolicyMsg] = {}
        self._policy_at: dict[str, WorkerLink] = {}  # room -> the worker that has its policy
        self._last_opened: dict[str, float] = {}  # room -> when we last sent it a join/offer
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- lifetime -----------------------------------------------------------------
    def start(self) -> None:
        """Start (or connect to) every worker and the watchdog thread."""
        for link in self._links:
            self._bring_up(link)
        self._watcher = threading.Thread(target=self._watch, name="media-pool", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        """Stop the watchdog, close connections and end every spawned worker."""
        self._stopping.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join(10)
        for link in self._links:
            self._take_down(link)

    # -- API for the web ----------------------------------------------------------
    def send(self, msg: m.Message | dict[str, Any]) -> bool:
        """Route one message to the worker owning its room; False if none can take it.

        A dict is checked and typed with media.messages first (MessageError if invalid).
        """
        if isinstance(msg, dict):
            msg = m.from_dict(msg)
        room = getattr(msg, "room", None)
        if room is None:
            return False
        with self._lock:
            link = self._rooms.get(room)
            if link is None or not link.alive:
                if msg.type not in ("join", "offer", "policy", "hold"):
                    return False
                link = self._choose(room)
                if link is None:
                    return False
                self._rooms[room] = link
            data = m.encode(msg)
            if isinstance(msg, (m.Join, m.Offer)):
                self._last_opened[room] = time.monotonic()
                policy = self._policies.get(room)
                if policy is not None and self._policy_at.get(room) is not link:
                    # the room (re)opens on this worker: it gets the room's policy at once
                    data += m.encode(policy)
                    self._policy_at[room] = link
            if isinstance(msg, m.PolicyMsg):
                self._policies[room] = msg
                self._policy_at[room] = link
            elif isinstance(msg, m.CloseRoom):
                self._forget(room)
            # Sent under the lock, so policies reach the worker in the order they were made.
            return link.send_line(data)

    def _forget(self, room: str) -> None:
        self._rooms.pop(room, None)
        self._policies.pop(room, None)
        self._policy_at.pop(room, None)
        self._last_opened.pop(room, None)

    def rooms(self) -> list[str]:
        """The rooms the pool has placed on a worker."""
        with self._lock:
            return sorted(self._rooms)

    def room_worker(self, room: str) -> str | None:
        """The address of the worker that owns `room`, if any."""
        with self._lock:
            link = self._rooms.get(room)
            return link.address if link is not None else None

    def health(self) -> dict[str, Any]:
        """{"ok": any worker alive, "workers": {name: {address, pid, alive, load, rooms}}}."""
        with self._lock:
            rooms = {link.name: sorted(r for r, l in self._rooms.items() if l is link)
                     for link in self._links}
        workers = {link.name: {"address": link.address, "alive": link.alive,
                               "pid": link.proc.pid if link.proc else None,
                               "load": dict(link.load), "rooms": rooms[link.name]}
                   for link in self._links}
        return {"ok": any(w["alive"] for w in workers.values()), "workers": workers}

    # -- internals ----------------------------------------------------------------
    def _choose(self, room: str) -> WorkerLink | None:
        """The worker for a room: least loaded, unless a shared lease names another live one."""
        proposed = self._least_loaded()
        if proposed is None or self.lease is None or proposed.address is None:
            return proposed
        alive = {link.address: link for link in self._links if link.alive and link.address}
        try:
            leased = self.lease(room, proposed.address, sorted(alive))
        except Exception:  # the lease store is down: keep the room going on this process's choice
            log.exception("media lease failed for room %s", room)
            return proposed
        return alive.get(leased or "", proposed)

    def _least_loaded(self) -> WorkerLink | None:
        live = [link for link in self._links if link.alive]
        if not live:
            return None
        counts = {id(link): 0 for link in live}
        for link in self._rooms.values():
            if id(link) in counts:
                counts[id(link)] += 1
        return min(live, key=lambda l: (l.load.get("peers", 0) + 4 * counts[id(l)],
                                        counts[id(l)]))

    def _spawn(self, link: WorkerLink) -> None:
        cmd = [self.python, "-m", "media.worker", "--port", "0", "--exit-with-parent",
               "--ice-servers", json.dumps(self.ice_servers),
               "--ice-allowed-networks", self.ice_allowed_networks,
               "--room-grace", str(self.room_grace), *self.worker_flags]
        if self.loopback_only:
            cmd.append("--ice-loopback-only")
        env = {**os.environ, "MVC_MEDIA_SECRET": self.secret}  # never on the command line
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env=env)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening "):
            proc.kill()
            proc.wait()
            proc.stdout.close()
            raise RuntimeError(f"media worker did not start: {line!r}")
        link.proc = proc
        link.address = line.split()[1]

    def _bring_up(self, link: WorkerLink) -> bool:
        try:
            if not self.external:
                self._spawn(link)
            assert link.address is not None
            host, port = link.address.rsplit(":", 1)
            sock = socket.create_connection((host, int(port)), timeout=5)
            try:
                rest = handshake(sock, self.secret)
            except OSError:
                sock.close()
                raise
            link.sock = sock
        except (OSError, RuntimeError) as exc:
            log.warning("media worker %s unavailable: %s", link.name, exc)
            return False
        link.alive = True
        link.last_pong = time.monotonic()
        link.reader = threading.Thread(target=self._read, args=(link, link.sock, rest),
                                       name=f"media-{link.name}", daemon=True)
        link.reader.start()
        return True

    def _take_down(self, link: WorkerLink) -> None:
        link.alive = False
        if link.sock is not None:
            try:
                link.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            link.sock.close()
            link.sock = None
        if link.proc is not None:
            link.proc.terminate()
            try:
                link.proc.wait(5)
            except subprocess.TimeoutExpired:
                link.proc.kill()
                link.proc.wait()
            if link.proc.stdout is not None:
                link.proc.stdout.close()
            link.proc = None
        if link.reader is not None and link.reader is not threading.current_thread():
            link.reader.join(5)
            link.reader = None

    def _read(self, link: WorkerLink, sock: socket.socket, buf: bytes = b"") -> None:
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                if len(buf) > MAX_LINE:
                    break
                for line in lines:
                    self._dispatch(link, line)
        except OSError:
            pass
        if link.sock is sock and link.alive:
            link.alive = False  # the watchdog restarts it and moves its rooms
            self._wake.set()

    def _dispatch(self, link: WorkerLink, line: bytes) -> None:
        try:
            msg = m.parse_reply(line)
        except m.MessageError as exc:
            log.warning("media worker %s sent something unknown: %s", link.name, exc)
            return
        if msg.type == "pong":
            link.load = msg.load or {}
            link.last_pong = time.monotonic()
            return
        if msg.type == "room_closed" and msg.room is not None:
            self._room_closed(link, msg.room)
        if msg.to == m.WEB and msg.type == "error":
            log.warning("media worker %s: %s", link.name, msg.message)
        try:
            self.on_message(msg)
        except Exception:  # the web's callback must not kill the reader
            log.exception("media on_message callback failed")

    def _room_closed(self, link: WorkerLink, room: str) -> None:
        """The worker closed the room: forget it, unless the web has just used it again."""
        with self._lock:
            recent = time.monotonic() - self._last_opened.get(room, 0.0) < self.room_grace
            if self._rooms.get(room) is link and not recent:
                self._forget(room)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.ping_interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            for link in self._links:
                dead_proc = link.proc is not None and link.proc.poll() is not None
                silent = now - link.last_pong > 3 * self.ping_interval + 2
                if link.alive and not dead_proc and not silent:
                    link.send_line(b'{"type":"ping"}\n')
                    continue
                self._recover(link)

    def _recover(self, link: WorkerLink) -> None:
        """Restart or reconnect a dead worker and move its rooms to live workers."""
        rooms = self._orphaned(link)
        self._take_down(link)
        if self._stopping.is_set():
            return
        if rooms and any(other.alive for other in self._links):
            self._move(rooms)  # don't make pages wait for the restart
            rooms = []
        self._bring_up(link)
        if rooms:
            self._move(rooms)

    def _move(self, rooms: list[str]) -> None:
        moved = []
        with self._lock:
            for room in rooms:
                target = self._choose(room)
                if target is None:
                    continue
                self._rooms[room] = target
                self._policy_at.pop(room, None)  # replayed with the first join or offer there
                moved.append(room)
        log.warning("media worker died; rooms moved: %s", moved)
        try:
            self.on_reassign(rooms)
        except Exception:
            log.exception("media on_reassign callback failed")

    def _orphaned(self, link: WorkerLink) -> list[str]:
        with self._lock:
            rooms = [r for r, l in self._rooms.items() if l is link]
            for room in rooms:
                del self._rooms[room]
            return rooms
