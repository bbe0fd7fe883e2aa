"""Live room state behind one interface, with SQLite-file (or in-memory) and Redis backends."""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable, Protocol, TypeVar

from mvc.live.state import RoomState, disconnect_all

if TYPE_CHECKING:
    from flask import Flask

T = TypeVar("T")
STATE_TTL = 24 * 3600  # a live meeting that nobody touches for a day is forgotten
Event = dict
Listener = Callable[[Event], None]


class LiveStore(Protocol):
    """What callers may do with live state; both backends implement exactly this."""

    def get(self, room: int) -> RoomState | None:
        """The room's state, or None when no meeting is live."""

    def update(self, room: int, fn: Callable[[RoomState], T], settings: dict | None = None) -> tuple[RoomState, T]:
        """Atomically apply fn to the room's state and save it.

        A missing room is created only when settings are given (a meeting is opened by
        someone arriving); otherwise fn sees an empty state that is not saved, so a late
        message never brings an ended meeting back.
        """

    def rooms(self) -> list[int]:
        """Ids of every room with live state."""

    def get_doc(self, key: str) -> dict | None:
        """A live JSON document (e.g. a queue) by key, or None."""

    def update_doc(self, key: str, fn: Callable[[dict], T]) -> tuple[dict, T]:
        """Atomically apply fn to the document (an empty dict when missing) and save it."""

    def delete_doc(self, key: str) -> None:
        """Forget a document."""

    def delete(self, room: int) -> None:
        """Forget the room (meeting ended): its state, chat, room_key rate-limit hits and room_key documents."""

    def publish(self, room: int, event: Event) -> None:
        """Send an event to every listener of the room, in every process."""

    def subscribe(self, room: int, listener: Listener) -> Callable[[], None]:
        """Call listener for each event of the room; returns the unsubscribe function."""

    def subscribers(self, room: int) -> int:
        """How many listeners this process has for the room."""

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


def room_key(room: int, *parts: str) -> str:
    """A rate-limit key that belongs to one meeting, so it is deleted with the meeting."""
    return ":".join(("room", str(room), *parts))


def make_store(redis_url: str = "", path: str = ":memory:") -> LiveStore:
    """The Redis store when a URL is configured, else the SQLite store at path."""
    if redis_url:
        from mvc.live.redis import RedisStore

        return RedisStore(redis_url)
    from mvc.live.sqlite import SqliteStore

    return SqliteStore(path)


def init_app(app: "Flask") -> None:
    """Open the configured store; a process-local one first forgets the sockets of the process before."""
    store = make_store(app.config["REDIS_URL"], app.config["LIVE_PATH"])
    app.extensions["mvc.live"] = store
    if app.config["REDIS_URL"]:
        return  # other web processes hold sockets in the same rooms: nothing here is stale
    swept = threading.Event()
    lock = threading.Lock()

    @app.before_request
    def _forget_lost_sockets() -> None:
        # On the first request, not at start: `python -m mvc reminders` opens the same file
        # while the web process runs, and must not mark its live sockets as gone.
        if swept.is_set():
            return
        with lock:
            if not swept.is_set():
                for room in store.rooms():
                    store.update(room, disconnect_all)
                swept.set()
