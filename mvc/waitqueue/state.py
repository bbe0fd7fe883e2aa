"""A queue's live state as plain data, and the pure rules that change it.

Nothing here does I/O: mvc.waitqueue.service loads a QueueState from the live store inside
an atomic update, hands it to these functions and saves it again. The intake answer lives
only here (and, during the call, in a live document that is deleted with the meeting).
"""
from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field

WAITING = "waiting"
CALLED = "called"
PACE_WINDOW = 3600  # the wait estimate follows the last hour's pace


@dataclass
class Entry:
    """One citizen (or care worker with a citizen) in the queue."""

    eid: str
    name: str
    assisted: bool = False
    intake: str = ""
    status: str = WAITING
    joined_at: float = field(default_factory=time.time)
    seen_at: float = field(default_factory=time.time)
    staff_id: int | None = None  # who took them
    meeting_id: int | None = None  # the private call, once it exists
    reason: str = ""  # why they were picked out of order
    visit_id: int | None = None  # the statistics record of this place (mvc.models.QueueVisit)


@dataclass
class QueueState:
    """Everything about one queue that lives only while it runs."""

    entries: list[Entry] = field(default_factory=list)
    paused: bool = False
    message: str = ""
    served: list[list[float]] = field(default_factory=list)  # [taken at, seconds waited] within PACE_WINDOW

    def to_dict(self) -> dict:
        """JSON-ready form for the live store."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "QueueState":
        """Inverse of to_dict (an empty dict is an empty queue)."""
        return cls(entries=[Entry(**e) for e in data.get("entries", [])], paused=data.get("paused", False),
                   message=data.get("message", ""), served=[list(s) for s in data.get("served", [])])

    def waiting(self) -> list[Entry]:
        """Citizens still waiting, in queue order."""
        return [e for e in self.entries if e.status == WAITING]

    def find(self, eid: str) -> Entry | None:
        """The entry with this id, if it is still in the queue."""
        return next((e for e in self.entries if e.eid == eid), None)

    def position(self, eid: str) -> int | None:
        """1-based place among those waiting, or None."""
        return next((i for i, e in enumerate(self.waiting(), 1) if e.eid == eid), None)

    def minutes_each(self, now: float | None = None) -> float | None:
        """Minutes per citizen at the last hour's pace, or None when nobody was taken in the last hour."""
        now = time.time() if now is None else now
        recent = [s for s in self.served if s[0] > now - PACE_WINDOW]
        if not recent:
            return None
        span = max(now - min(s[0] for s in recent), 60.0 * len(recent))
        return span / 60.0 / len(recent)


def join(state: QueueState, name: str, assisted: bool, intake: str, visit_id: int | None = None) -> Entry:
    """Put a new citizen at the end of the queue."""
    entry = Entry(eid=secrets.token_urlsafe(12), name=name, assisted=assisted, intake=intake, visit_id=visit_id)
    state.entries.append(entry)
    return entry


def touch(state: QueueState, eid: str, now: float | None = None) -> Entry | None:
    """The citizen's page is still there: keep their place."""
    entry = state.find(eid)
    if entry is not None:
        entry.seen_at = time.time() if now is None else now
    return entry


def expire(state: QueueState, grace: float, now: float | None = None) -> list[Entry]:
    """Drop citizens whose page has not been seen for the grace period; returns them."""
    now = time.time() if now is None else now
    gone = [e for e in state.entries if e.seen_at < now - grace]
    state.entries = [e for e in state.entries if e not in gone]
    state.served = [s for s in state.served if s[0] > now - PACE_WINDOW]
    return gone


def take(state: QueueState, staff_id: int, eid: str | None = None, reason: str = "") -> Entry | None:
    """Give the first waiting citizen (or the chosen one) to a staff member; None if there is none."""
    waiting = state.waiting()
    entry = next((e for e in waiting if e.eid == eid), None) if eid else (waiting[0] if waiting else None)
    if entry is None:
        return None
    entry.status, entry.staff_id, entry.reason = CALLED, staff_id, reason if eid else ""
    now = time.time()
    state.served.append([now, now - entry.joined_at])
    return entry


def assign(state: QueueState, eid: str, meeting_id: int) -> Entry | None:
    """Record the private call the taken citizen goes into."""
    entry = state.find(eid)
    if entry is not None:
        entry.meeting_id = meeting_id
    return entry


def leave(state: QueueState, eid: str) -> Entry | None:
    """Remove a citizen (left the queue, or went into their call)."""
    entry = state.find(eid)
    if entry is not None:
        state.entries.remove(entry)
    return entry
