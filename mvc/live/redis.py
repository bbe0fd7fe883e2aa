"""Redis live store: state as JSON keys with a TTL, pub/sub for fan-out across processes."""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Callable, TypeVar

import redis

from mvc.live import STATE_TTL, room_key
from mvc.live.bus import LocalBus
from mvc.live.state import RoomState

T = TypeVar("T")


class RedisStore:
    """The LiveStore interface on Redis, for several web processes and machines."""

    def __init__(self, url: str, prefix: str = "mvc") -> None:
        self._redis = redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
        self._prefix = prefix
        # Pub/sub ignores the database number: deployments sharing a server on different
        # databases would hear each other's meetings (same room ids) without it in the channel.
        # Database 0 keeps the old name, so a rolling upgrade's old and new processes still talk.
        database = self._redis.connection_pool.connection_kwargs.get("db", 0)
        self._events = f"{prefix}:db{database}:events" if database else f"{prefix}:events"
        self._lock = threading.Lock()  # guards starting the reader thread
        self._bus = LocalBus()
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _key(self, room: int) -> str:
        return f"{self._prefix}:room:{room}"

    def _channel(self, room: int) -> str:
        return f"{self._events}:{room}"

    def get(self, room: int) -> RoomState | None:
        raw = self._redis.get(self._key(room))
        return RoomState.from_dict(json.loads(raw)) if raw else None

    def update(self, room: int, fn: Callable[[RoomState], T], settings: dict | None = None) -> tuple[RoomState, T]:
        key = self._key(room)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    state = RoomState.from_dict(json.loads(raw)) if raw else RoomState(room, dict(settings or {}))
                    result = fn(state)
                    if raw is None and settings is None:
                        pipe.unwatch()
                        return state, result  # no meeting to change: nothing is created
                    state.version += 1
                    pipe.multi()
                    pipe.set(key, json.dumps(state.to_dict()), ex=STATE_TTL)
                    pipe.execute()
                    return state, result
                except redis.WatchError:
                    continue  # someone else changed the room first: run fn again on fresh state

    def rooms(self) -> list[int]:
        start = len(self._key(0)) - 1
        keys = self._redis.scan_iter(match=self._key(0)[:-1] + "*", count=500)
        return sorted(int(k[start:]) for k in keys if k[start:].isdigit())

    def delete(self, room: int) -> None:
        hits = self._redis.scan_iter(match=f"{self._prefix}:hits:{room_key(room, '')}*", count=500)
        docs = self._redis.scan_iter(match=self._doc(room_key(room, "")) + "*", count=500)
        self._redis.delete(self._key(room), f"{self._key(room)}:chat", *hits, *docs)

    def _doc(self, key: str) -> str:
        return f"{self._prefix}:doc:{key}"

    def get_doc(self, key: str) -> dict | None:
        raw = self._redis.get(self._doc(key))
        return json.loads(raw) if raw else None

    def update_doc(self, key: str, fn: Callable[[dict], T]) -> tuple[dict, T]:
        name = self._doc(key)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(name)
                    raw = pipe.get(name)
                    doc = json.loads(raw) if raw else {}
                    result = fn(doc)
                    pipe.multi()
                    pipe.set(name, json.dumps(doc), ex=STATE_TTL)
                    pipe.execute()
                    return doc, result
                except redis.WatchError:
                    continue  # someone else changed the document first: run fn again on fresh data

    def delete_doc(self, key: str) -> None:
        self._redis.delete(self._doc(key))

    def append_log(self, room: int, item: dict, cap: int) -> None:
        key = f"{self._key(room)}:chat"
        with self._redis.pipeline() as pipe:
            pipe.rpush(key, json.dumps(item))
            pipe.ltrim(key, -cap, -1)
            pipe.expire(key, STATE_TTL)
            pipe.execute()

    def read_log(self, room: int) -> list[dict]:
        return [json.loads(x) for x in self._redis.lrange(f"{self._key(room)}:chat", 0, -1)]

    def publish(self, room: int, event: dict) -> None:
        self._redis.publish(self._channel(room), json.dumps(event))

    def subscribe(self, room: int, listener: Callable[[dict], None]) -> Callable[[], None]:
        unsubscribe = self._bus.subscribe(room, listener)
        with self._lock:
            if self._thread is None:
                # One pattern subscription made before the reader starts: redis-py's PubSub is
                # not thread-safe, so the reader thread is the only one that touches it after.
                self._pubsub.psubscribe(f"{self._events}:*")
                self._thread = threading.Thread(target=self._listen, name="mvc-redis-bus", daemon=True)
                self._thread.start()
        return unsubscribe

    def subscribers(self, room: int) -> int:
        return self._bus.subscribers(room)

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.5)
            except (redis.ConnectionError, ValueError):
                time.sleep(0.5)
                continue
            if not message or message.get("type") != "pmessage":
                continue
            room = int(message["channel"].rsplit(":", 1)[1])
            self._bus.deliver(room, json.loads(message["data"]))

    def hit(self, key: str, window: int) -> int:
        now = time.time()
        zkey = f"{self._prefix}:hits:{key}"
        with self._redis.pipeline() as pipe:
            pipe.zremrangebyscore(zkey, 0, now - window)
            pipe.zadd(zkey, {f"{now}:{uuid.uuid4().hex[:8]}": now})
            pipe.zcard(zkey)
            pipe.expire(zkey, window)
            return int(pipe.execute()[2])

    def count(self, key: str, window: int) -> int:
        zkey = f"{self._prefix}:hits:{key}"
        return int(self._redis.zcount(zkey, time.time() - window, "+inf"))

    def health(self) -> dict:
        try:
            return {"backend": "redis", "ok": bool(self._redis.ping())}
        except redis.RedisError as exc:
            return {"backend": "redis", "ok": False, "error": type(exc).__name__}

    def close(self) -> None:
        self._stopping.set()
        self._bus.clear()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._pubsub.close()
        self._redis.close()
