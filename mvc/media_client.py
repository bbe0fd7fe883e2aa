"""The web side of the media pool: starts it with the app and routes worker replies to pages."""
from __future__ import annotations

import threading
from typing import Callable

from flask import Flask

from mvc import logs

log = logs.get("mvc.media")


class Hub:
    """Process-local registry of open participant connections, for worker replies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._targets: dict[str, Callable[[dict], None]] = {}
        self._rooms: dict[str, str] = {}  # pid -> room name (the meeting id as text)

    def register(self, room: int, pid: str, deliver: Callable[[dict], None]) -> None:
        with self._lock:
            self._targets[pid] = deliver
            self._rooms[pid] = str(room)

    def unregister(self, pid: str, deliver: Callable[[dict], None]) -> None:
        with self._lock:
            if self._targets.get(pid) is deliver:
                del self._targets[pid]
                self._rooms.pop(pid, None)

    def deliver(self, msg: dict) -> None:
        """Hand a worker message to the connection of the participant it names."""
        # A speaker event names the speaker, but every page in the room shows who speaks.
        pid = msg.get("pid") if msg.get("type") != "speaker" else None
        with self._lock:
            target = self._targets.get(pid) if pid else None
            if target is None and msg.get("room") is not None:
                room_targets = [t for p, t in self._targets.items() if self._rooms.get(p) == str(msg["room"])]
            else:
                room_targets = []
        if target is not None:
            target({"kind": "media", "msg": msg})
        for t in room_targets:
            t({"kind": "media", "msg": msg})

    def reconnect_rooms(self, rooms: list) -> None:
        """A worker died: tell every page in those rooms to renegotiate with the new one."""
        wanted = {str(r) for r in rooms}
        with self._lock:
            targets = [t for p, t in self._targets.items() if self._rooms.get(p) in wanted]
        for t in targets:
            t({"kind": "media", "msg": {"type": "reconnect"}})


class NoMedia:
    """Stands in when no media workers are configured: signalling gets a clear error."""

    def send(self, msg: dict) -> None:
        pass

    def health(self) -> dict:
        return {"ok": True, "workers": 0}

    def stop(self) -> None:
        pass


def init_media(app: Flask) -> None:
    """Start (or connect to) the media worker pool configured for this app."""
    hub = Hub()
    app.extensions["mvc.hub"] = hub
    addresses = [a.strip() for a in str(app.config["MEDIA_ADDRESSES"]).split(",") if a.strip()]
    workers = int(app.config["MEDIA_WORKERS"])
    if not addresses and workers <= 0:
        app.extensions["mvc.media"] = NoMedia()
        return
    try:
        from media.pool import MediaPool
    except ImportError:  # the media package is optional for pages-only deployments
        log.warning("media_pool_missing")
        app.extensions["mvc.media"] = NoMedia()
        return
    lease = None
    if addresses and app.config["REDIS_URL"]:
        lease = redis_lease(app.config["REDIS_URL"])
    pool = MediaPool(
        workers=0 if addresses else workers,
        addresses=addresses or None,
        lease=lease,
        ice_servers=app.config["ICE_SERVERS"],
        loopback_only=app.config["ICE_LOOPBACK_ONLY"],
        on_message=hub.deliver,
        on_reassign=hub.reconnect_rooms,
    )
    pool.start()
    app.extensions["mvc.media"] = pool


LEASE_TTL = 12 * 3600


def redis_lease(url: str, prefix: str = "mvc"):
    """A room -> media worker lease in Redis, shared by every web process."""
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)

    def lease(room: str, proposed: str, alive: list[str]) -> str | None:
        key = f"{prefix}:media:{room}"
        client.set(key, proposed, nx=True, ex=LEASE_TTL)
        with client.pipeline() as pipe:
            pipe.watch(key)
            current = pipe.get(key)
            if current not in alive:  # the leased worker died: the first process to notice moves it
                pipe.multi()
                pipe.set(key, proposed, ex=LEASE_TTL)
                try:
                    pipe.execute()
                    current = proposed
                except redis.WatchError:
                    current = client.get(key)
            else:
                pipe.unwatch()
                client.expire(key, LEASE_TTL)
        return current

    return lease
