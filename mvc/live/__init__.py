"""Live room state behind one interface, with memory and Redis backends."""
from __future__ import annotations

from typing import Callable, Protocol, TypeVar

from mvc.live.state import RoomState

T = TypeVar("T")
Event = dict
Listener = Callable[[Event], None]


class LiveStore(Protocol):
    """What callers may do with live state; both backends implement exactly this."""

    def get(self, room: int) -> RoomState | None:
        """The room's state, or None when no meeting is live."""

    def update(self, room: int, fn: Callable[[RoomState], T], settings: dict | None = None) -> tuple[RoomState, T]:
        """Atomically apply fn to the room's state (created with settings if missing)."""

    def delete(self, room: int) -> None:
        """Forget the room (meeting ended)."""

    def publish(self, room: int, event: Event) -> None:
        """Send an event to every listener of the room, in every process."""

    def subscribe(self, room: int, listener: Listener) -> Callable[[], None]:
        """Call listener for each event of the room; returns the unsubscribe function."""

    def append_log(self, room: int, item: dict, cap: int) -> None:
        """Append to the room's chat log, keeping the newest cap items."""

    def read_log(self, room: int) -> list[dict]:
        """The room's chat log, oldest first."""

    def hit(self, key: str, window: int) -> int:
        """Count one event under key within a sliding window of seconds; returns the count."""

    def count(self, key: str, window: int) -> int:
        """How many events key counted within the last window seconds."""

    def health(self) -> dict:
        """Backend health for /healthz."""

    def close(self) -> None:
        """Release connections and threads."""


def make_store(redis_url: str = "") -> LiveStore:
    """The Redis store when a URL is configured, else the in-process one."""
    if redis_url:
        from mvc.live.redis import RedisStore

        return RedisStore(redis_url)
    from mvc.live.memory import MemoryStore

    return MemoryStore()
