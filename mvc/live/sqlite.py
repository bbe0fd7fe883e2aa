"""Live store in a local SQLite file, for the embedded mode (one web process).

Room state, chat and rate-limit hits are rows in their own small file (not the main
database, no migrations: the tables are made on open), so a restart of the web process
keeps the host's decisions. Events go to listeners in this process only.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from mvc.live import STATE_TTL, room_key
from mvc.live.bus import LocalBus
from mvc.live.state import RoomState

T = TypeVar("T")
PRUNE_EVERY = 60.0  # seconds between sweeps for expired rows
PRUNE_BATCH = 500  # rows per table per sweep, so a sweep never takes long

SCHEMA = """
CREATE TABLE IF NOT EXISTS room_state (room INTEGER PRIMARY KEY, state TEXT NOT NULL, touched REAL NOT NULL);
CREATE INDEX IF NOT EXISTS room_state_touched ON room_state (touched);
CREATE TABLE IF NOT EXISTS chat_line (id INTEGER PRIMARY KEY AUTOINCREMENT, room INTEGER NOT NULL, item TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chat_line_room ON chat_line (room, id);
CREATE TABLE IF NOT EXISTS hit (key TEXT NOT NULL, at REAL NOT NULL, expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hit_key ON hit (key, at);
CREATE INDEX IF NOT EXISTS hit_expires ON hit (expires);
CREATE TABLE IF NOT EXISTS doc (key TEXT PRIMARY KEY, value TEXT NOT NULL, touched REAL NOT NULL);
CREATE INDEX IF NOT EXISTS doc_touched ON doc (touched);
"""


class SqliteStore:
    """The LiveStore interface on one SQLite connection guarded by one lock.

    ``path=":memory:"`` keeps everything in memory (gone with the process).
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        # Autocommit mode: every write below opens its own short transaction.
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives a crashed process; one fsync per checkpoint
        self._db.executescript(SCHEMA)
        self._bus = LocalBus()
        self._pruned_at = 0.0

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; nested calls (a hit inside an update) join the outer transaction."""
        with self._lock:
            if self._db.in_transaction:
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- room state -------------------------------------------------------------------
    def get(self, room: int) -> RoomState | None:
        rows = self._read("SELECT state FROM room_state WHERE room = ?", (room,))
        return RoomState.from_dict(json.loads(rows[0][0])) if rows else None

    def update(self, room: int, fn: Callable[[RoomState], T], settings: dict | None = None) -> tuple[RoomState, T]:
        self._prune_now_and_then()
        with self._write() as db:
            row = db.execute("SELECT state FROM room_state WHERE room = ?", (room,)).fetchone()
            state = RoomState.from_dict(json.loads(row[0])) if row else RoomState(room, dict(settings or {}))
            result = fn(state)
            if row is None and settings is None:
                return state, result  # no meeting to change: nothing is created
            state.version += 1
            db.execute("INSERT OR REPLACE INTO room_state (room, state, touched) VALUES (?, ?, ?)",
                       (room, json.dumps(state.to_dict()), time.time()))
            return state, result

    def rooms(self) -> list[int]:
        """Ids of every room with live state."""
        return [r[0] for r in self._read("SELECT room FROM room_state ORDER BY room")]

    def delete(self, room: int) -> None:
        prefix = room_key(room, "")
        with self._write() as db:
            self._forget(db, [room])
            db.execute("DELETE FROM hit WHERE key >= ? AND key < ?", (prefix, _after(prefix)))
            db.execute("DELETE FROM doc WHERE key >= ? AND key < ?", (prefix, _after(prefix)))

    # -- documents --------------------------------------------------------------------
    def get_doc(self, key: str) -> dict | None:
        rows = self._read("SELECT value FROM doc WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def update_doc(self, key: str, fn: Callable[[dict], T]) -> tuple[dict, T]:
        self._prune_now_and_then()
        with self._write() as db:
            row = db.execute("SELECT value FROM doc WHERE key = ?", (key,)).fetchone()
            doc = json.loads(row[0]) if row else {}
            result = fn(doc)
            db.execute("INSERT OR REPLACE INTO doc (key, value, touched) VALUES (?, ?, ?)",
                       (key, json.dumps(doc), time.time()))
            return doc, result

    def delete_doc(self, key: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM doc WHERE key = ?", (key,))

    @staticmethod
    def _forget(db: sqlite3.Connection, rooms: list[int]) -> None:
        marks = ",".join("?" * len(rooms))
        db.execute(f"DELETE FROM room_state WHERE room IN ({marks})", rooms)
        db.execute(f"DELETE FROM chat_line WHERE room IN ({marks})", rooms)

    # -- chat -------------------------------------------------------------------------
    def append_log(self, room: int, item: dict, cap: int) -> None:
        with self._write() as db:
            db.execute("INSERT INTO chat_line (room, item) VALUES (?, ?)", (room, json.dumps(item)))
            db.execute("DELETE FROM chat_line WHERE room = ? AND id <= "
                       "(SELECT id FROM chat_line WHERE room = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                       (room, room, cap))

    def read_log(self, room: int) -> list[dict]:
        return [json.loads(r[0]) for r in self._read("SELECT item FROM chat_line WHERE room = ? ORDER BY id", (room,))]

    # -- events (this process only) ---------------------------------------------------
    def publish(self, room: int, event: dict) -> None:
        self._bus.publish(room, event)

    def subscribe(self, room: int, listener: Callable[[dict], None]) -> Callable[[], None]:
        return self._bus.subscribe(room, listener)

    def subscribers(self, room: int) -> int:
        return self._bus.subscribers(room)

    # -- rate limits ------------------------------------------------------------------
    def hit(self, key: str, window: int) -> int:
        self._prune_now_and_then()
        now = time.time()
        with self._write() as db:
            db.execute("DELETE FROM hit WHERE key = ? AND at <= ?", (key, now - window))
            db.execute("INSERT INTO hit (key, at, expires) VALUES (?, ?, ?)", (key, now, now + window))
            return db.execute("SELECT count(*) FROM hit WHERE key = ?", (key,)).fetchone()[0]

    def count(self, key: str, window: int) -> int:
        return self._read("SELECT count(*) FROM hit WHERE key = ? AND at > ?", (key, time.time() - window))[0][0]

    # -- housekeeping -----------------------------------------------------------------
    def _prune_now_and_then(self) -> None:
        """Every PRUNE_EVERY seconds, drop a bounded batch of expired hits and stale rooms."""
        now = time.time()
        if now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        self.prune(now)

    def prune(self, now: float | None = None) -> int:
        """Drop expired rate-limit hits, and rooms and documents untouched for STATE_TTL; returns the rows dropped."""
        now = time.time() if now is None else now
        with self._write() as db:
            hits = db.execute("DELETE FROM hit WHERE rowid IN (SELECT rowid FROM hit WHERE expires <= ? LIMIT ?)",
                              (now, PRUNE_BATCH)).rowcount
            stale = [r[0] for r in db.execute("SELECT room FROM room_state WHERE touched < ? LIMIT ?",
                                              (now - STATE_TTL, PRUNE_BATCH))]
            if stale:
                self._forget(db, stale)
            docs = db.execute("DELETE FROM doc WHERE rowid IN (SELECT rowid FROM doc WHERE touched < ? LIMIT ?)",
                              (now - STATE_TTL, PRUNE_BATCH)).rowcount
            orphans = db.execute(
                "DELETE FROM chat_line WHERE id IN (SELECT c.id FROM chat_line c LEFT JOIN room_state r "
                "ON r.room = c.room WHERE r.room IS NULL LIMIT ?)", (PRUNE_BATCH,)).rowcount
        return hits + len(stale) + orphans + docs

    def health(self) -> dict:
        try:
            self._read("SELECT 1")
            return {"backend": "sqlite", "ok": True}
        except sqlite3.Error as exc:
            return {"backend": "sqlite", "ok": False, "error": type(exc).__name__}

    def close(self) -> None:
        self._bus.clear()
        with self._lock:
            self._db.close()


def _after(prefix: str) -> str:
    """The smallest string greater than every string starting with prefix (for index range scans)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
