"""In-process live store for the embedded mode (one web process)."""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from typing import Callable, TypeVar

from mvc.live.state import RoomState

T = TypeVar("T")


class MemoryStore:
    """Live state in a dict, guarded by one lock; events call listeners in the publishing thread."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rooms: dict[int, str] = {}
        self._listeners: dict[int, list] = defaultdict(list)
        self._hits: dict[str, list[float]] = defaultdict(list)
        self._logs: dict[int, list[str]] = defaultdict(list)

    def get(self, room: int) -> RoomState | None:
        with self._lock:
            raw = self._rooms.get(room)
        return RoomState.from_dict(json.loads(raw)) if raw else None

    def update(self, room: int, fn: Callable[[RoomState], T], settings: dict | None = None) -> tuple[RoomState, T]:
        with self._lock:
            raw = self._rooms.get(room)
            # A JSON round trip keeps the memory backend honest about what Redis can store.
            state = RoomState.from_dict(json.loads(raw)) if raw else RoomState(room, dict(settings or {}))
            result = fn(state)
            state.version += 1
            self._rooms[room] = json.dumps(state.to_dict())
            return state, result

    def delete(self, room: int) -> None:
        with self._lock:
            self._rooms.pop(room, None)
            self._logs.pop(room, None)

    def append_log(self, room: int, item: dict, cap: int) -> None:
        with self._lock:
            log = self._logs[room]
            log.append(json.dumps(item))
            del log[:-cap]

    def read_log(self, room: int) -> list[dict]:
        with self._lock:
            return [json.loads(x) for x in self._logs.get(room, [])]

    def publish(self, room: int, event: dict) -> None:
        with self._lock:
            listeners = list(self._listeners.get(room, ()))
        payload = json.loads(json.dumps(event))
        for listener in listeners:
            listener(payload)

    def subscribe(self, room: int, listener: Callable[[dict], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners[room].append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners.get(room, []):
                    self._listeners[room].remove(listener)
                if not self._listeners.get(room):
                    self._listeners.pop(room, None)

        return unsubscribe

    def hit(self, key: str, window: int) -> int:
        now = time.time()
        with self._lock:
            hits = [t for t in self._hits[key] if t > now - window]
            hits.append(now)
            self._hits[key] = hits
            return len(hits)

    def count(self, key: str, window: int) -> int:
        now = time.time()
        with self._lock:
            return sum(1 for t in self._hits.get(key, []) if t > now - window)

    def health(self) -> dict:
        return {"backend": "memory", "ok": True}

    def close(self) -> None:
        with self._lock:
            self._listeners.clear()
