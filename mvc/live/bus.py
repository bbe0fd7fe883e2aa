"""Listeners per room inside one process: the embedded store's whole bus, and where Redis's
pub/sub reader hands each event on."""
from __future__ import annotations

import json
import threading
from collections import defaultdict
from typing import Callable


class LocalBus:
    """Publish/subscribe between threads of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, list[Callable[[dict], None]]] = defaultdict(list)

    def publish(self, room: int, event: dict) -> None:
        """Call every listener of the room in the publishing thread."""
        self.deliver(room, json.loads(json.dumps(event)))  # listeners get what Redis would carry

    def deliver(self, room: int, payload: dict) -> None:
        """Hand an event that is already plain JSON data to the room's listeners."""
        with self._lock:
            listeners = list(self._listeners.get(room, ()))
        for listener in listeners:
            listener(payload)

    def subscribe(self, room: int, listener: Callable[[dict], None]) -> Callable[[], None]:
        """Add a listener; returns the function that removes it again."""
        with self._lock:
            self._listeners[room].append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners.get(room, []):
                    self._listeners[room].remove(listener)
                if room in self._listeners and not self._listeners[room]:
                    del self._listeners[room]

        return unsubscribe

    def subscribers(self, room: int) -> int:
        """How many listeners the room has."""
        with self._lock:
            return len(self._listeners.get(room, ()))

    def clear(self) -> None:
        """Drop every listener."""
        with self._lock:
            self._listeners.clear()
