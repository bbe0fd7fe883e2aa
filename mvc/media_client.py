"""The web side of the media pool: starts it with the app and routes worker replies to pages."""
from __future__ import annotations

import threading
from typing import Any, Callable

from flask import Flask
from flask_babel import lazy_gettext as _l

from media import messages as m
from mvc import logs
from mvc.stats.record import record_worker_counts, record_worker_moved

log = logs.get("mvc.media")

# Shown to a room's hosts when the media server refused (or we could not build) the
# forwarding policy; rendered in each host's own language by their connection.
POLICY_REFUSED = _l("The media server could not apply your last change (mute, camera or "
                    "layout). Until it can, only hosts are heard and seen. Try the change again.")
MEDIA_SENDER = _l("the media server")


class Hub:
    """Process-local registry of open participant connections, for worker replies.

    A worker reply names its addressee in `to` (media.messages): one participant, every
    page of the room, or the room's hosts (looked up with `hosts_of`).
    """

    def __init__(self, hosts_of: Callable[[str], set[str]] | None = None,
                 on_counts: Callable[[str, Any], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._targets: dict[str, Callable[[dict], None]] = {}
        self._rooms: dict[str, str] = {}  # pid -> room name (the meeting id as text)
        self.hosts_of = hosts_of or (lambda room: set())
        self.on_counts = on_counts or (lambda room, counts: None)

    def register(self, room: int, pid: str, deliver: Callable[[dict], None]) -> None:
        with self._lock:
            self._targets[pid] = deliver
            self._rooms[pid] = str(room)

    def unregister(self, pid: str, deliver: Callable[[dict], None]) -> None:
        with self._lock:
            if self._targets.get(pid) is deliver:
                del self._targets[pid]
                self._rooms.pop(pid, None)

    def _room_targets(self, room: str, pids: set[str] | None = None) -> list[Callable[[dict], None]]:
        with self._lock:
            return [t for p, t in self._targets.items()
                    if self._rooms.get(p) == room and (pids is None or p in pids)]

    def deliver(self, msg: Any) -> None:
        """Hand a worker reply (media.messages.Reply) to the pages it is addressed to."""
        room = str(msg.room) if msg.room is not None else None
        if msg.type == "worker_counts":
            self.on_counts(room, msg.counts)
        elif msg.type == "policy_refused" and room is not None:
            log.warning("media_policy_refused", meeting=room, why=msg.message)
            self.notify_hosts(room)
        elif msg.to == m.ROOM and room is not None:
            for target in self._room_targets(room):
                target({"kind": "media", "msg": msg.as_dict()})
        elif msg.to not in (m.WEB, m.HOSTS):
            with self._lock:
                target = self._targets.get(msg.to)
                mine = room is None or self._rooms.get(msg.to) == room
            if target is not None and mine:
                target({"kind": "media", "msg": msg.as_dict()})

    def notify_hosts(self, room: str) -> None:
        """Tell the room's hosts, in plain words, that their media controls did not take."""
        try:
            hosts = self.hosts_of(room)
        except Exception:  # the live store is down: tell every page of the room instead
            log.exception("media_hosts_lookup_failed", meeting=room)
            hosts = None
        for target in self._room_targets(room, hosts):
            target({"kind": "notice", "text": POLICY_REFUSED, "from": MEDIA_SENDER})

    def reconnect_rooms(self, rooms: list) -> None:
        """A worker died: tell every page in those rooms to renegotiate with the new one."""
        wanted = {str(r) for r in rooms}
        with self._lock:
            targets = [t for p, t in self._targets.items() if self._rooms.get(p) in wanted]
        for t in targets:
            t({"kind": "media", "msg": {"type": "reconnect"}})


def hosts_lookup(app: Flask) -> Callable[[str], set[str]]:
    """hosts_of(room) for the Hub: the room's hosts from the live store."""
    def hosts_of(room: str) -> set[str]:
        state = app.extensions["mvc.live"].get(int(room))
        return {p.pid for p in state.participants.values() if p.is_host} if state else set()
    return hosts_of


def counts_recorder(app: Flask) -> Callable[[str, Any], None]:
    """on_counts(room, counts) for the Hub: a worker's per-participant counts onto their records."""
    def on_counts(room: str, counts: Any) -> None:
        with app.app_context():
            record_worker_counts(room, counts)
    return on_counts


def moves_recorder(app: Flask, hub: Hub) -> Callable[[list], None]:
    """on_reassign(rooms) for the pool: each moved meeting gets a line on its support
    timeline, then its pages are told to reconnect to the new worker."""
    def on_reassign(rooms: list) -> None:
        with app.app_context():
            for room in rooms:
                if isinstance(room, str) and room.isdigit():
                    record_worker_moved(int(room))
        hub.reconnect_rooms(rooms)
    return on_reassign


class NoMedia:
    """Stands in when no media workers are configured: signalling gets a clear error."""

    def send(self, msg: Any) -> None:
        pass

    def health(self) -> dict:
        return {"ok": True, "workers": {}}

    def stop(self) -> None:
        pass


def check_worker_settings(config: dict) -> None:
    """Refuse at start-up, naming the setting, what the media workers would refuse later."""
    from config.settings import BadSetting
    from media.ice import parse_announced, parse_ports

    for name, parse in (("MEDIA_PORTS", parse_ports), ("MEDIA_ANNOUNCED_IP", parse_announced)):
        try:
            parse(str(config[name]))
        except ValueError as exc:
            raise BadSetting(f"MVC_{name}={config[name]!r} is not valid: {exc}") from None


def worker_options(config: dict) -> dict[str, Any]:
    """The MediaPool options its workers start with, from the MVC_* settings (checked first)."""
    check_worker_settings(config)
    return {"ice_servers": config["ICE_SERVERS"], "loopback_only": config["ICE_LOOPBACK_ONLY"],
            "secret": config["MEDIA_SECRET"], "ice_allowed_networks": config["ICE_ALLOWED_NETWORKS"],
            "room_grace": float(config["MEDIA_ROOM_GRACE"]), "media_ports": config["MEDIA_PORTS"],
            "announced_ip": config["MEDIA_ANNOUNCED_IP"]}


def init_media(app: Flask) -> None:
    """Start (or connect to) the media worker pool configured for this app."""
    hub = Hub(hosts_lookup(app), counts_recorder(app))
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
        **worker_options(app.config),
        on_message=hub.deliver,
        on_reassign=moves_recorder(app, hub),
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
