"""Live room state as plain data, and the pure rules that change it.

Nothing here does I/O: the store backends (memory, Redis) load a RoomState, hand it to
these functions inside an atomic update, and save it again.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

HOST = "host"
GUEST = "guest"
PRESENT = "present"
WAITING = "waiting"
KNOCKING = "knocking"
SEAT_GRACE = 60  # seconds a disconnected person keeps their seat (a reload, a phone changing network)


class RoomFull(Exception):
    """No seat is free in the meeting for this person."""


@dataclass
class Participant:
    """One person in a live meeting (present, waiting or knocking)."""

    pid: str
    name: str
    role: str = GUEST
    status: str = PRESENT
    cohost: bool = False
    connected: bool = False
    mic: bool = True
    cam: bool = True
    hand: float | None = None
    floor: bool = False  # given the word: may speak even when guests are kept muted
    chat_host: bool = False  # may read and answer chat as the host does
    screen: bool = False
    group: str | None = None  # breakout room name, None = main room
    invitation_id: int | None = None
    joined_at: float = field(default_factory=time.time)
    seen_at: float = field(default_factory=time.time)

    @property
    def is_host(self) -> bool:
        """Host or co-host: holds host rights."""
        return self.role == HOST or self.cohost

    @property
    def first_name(self) -> str:
        """What other guests see of this person's name."""
        return self.name.split()[0] if self.name.split() else self.name


@dataclass
class RoomState:
    """Everything about one meeting that lives only while it runs."""

    meeting_id: int
    settings: dict = field(default_factory=dict)
    participants: dict[str, Participant] = field(default_factory=dict)
    locked: bool = False
    ended: bool = False
    breakout_closing_at: float | None = None
    removed: list[str] = field(default_factory=list)  # pids turned away or removed: no way back in
    version: int = 0

    def to_dict(self) -> dict:
        """JSON-ready form, for the Redis backend and snapshots."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RoomState":
        """Inverse of to_dict."""
        people = {pid: Participant(**p) for pid, p in data.get("participants", {}).items()}
        return cls(
            meeting_id=data["meeting_id"],
            settings=dict(data.get("settings", {})),
            participants=people,
            locked=data.get("locked", False),
            ended=data.get("ended", False),
            breakout_closing_at=data.get("breakout_closing_at"),
            removed=list(data.get("removed", [])),
            version=data.get("version", 0),
        )

    @property
    def host_present(self) -> bool:
        """True while a host or co-host is connected and in the meeting."""
        return any(p.is_host and p.connected and p.status == PRESENT for p in self.participants.values())

    def present(self) -> list[Participant]:
        """Participants in the meeting, hosts first, then by arrival."""
        people = [p for p in self.participants.values() if p.status == PRESENT]
        return sorted(people, key=lambda p: (not p.is_host, p.joined_at))

    def hands(self) -> list[Participant]:
        """Raised hands in the order they were raised."""
        return sorted((p for p in self.present() if p.hand is not None), key=lambda p: p.hand)

    def groups(self) -> dict[str, list[Participant]]:
        """Breakout groups by name (empty when no breakout is running)."""
        out: dict[str, list[Participant]] = {}
        for p in self.present():
            if p.group:
                out.setdefault(p.group, []).append(p)
        return dict(sorted(out.items()))

    def with_status(self, status: str) -> list[Participant]:
        """Participants in one status, by arrival."""
        return sorted((p for p in self.participants.values() if p.status == status), key=lambda p: p.joined_at)


def arrive(state: RoomState, person: Participant) -> Participant | None:
    """Place a (re)arriving person: present, waiting or knocking; None if they were removed."""
    if person.pid in state.removed:
        return None
    known = state.participants.get(person.pid)
    if known is not None:
        known.seen_at = time.time()
        return known
    if person.role == HOST:
        person.status = PRESENT
    elif state.locked:
        person.status = KNOCKING
    elif state.settings.get("waiting_room", True) and not state.host_present:
        person.status = WAITING
    else:
        person.status = PRESENT
    if not may_speak(state, person):
        person.mic = False
    if not may_use_camera(state, person):
        person.cam = False
    state.participants[person.pid] = person
    return person


def holds_seat(person: Participant, now: float | None = None) -> bool:
    """Connected, or gone for less than SEAT_GRACE: the person counts against the room's cap."""
    return person.connected or (now or time.time()) - person.seen_at < SEAT_GRACE


def seat_free(state: RoomState, person: Participant, cap: int, host_seats: int) -> bool:
    """Whether the room has a seat for this person; someone already seated always has theirs.

    Guests leave host_seats of the cap free until that many hosts have arrived, so a room
    that citizens fill before the meeting starts still lets its hosts in.
    """
    now = time.time()
    known = state.participants.get(person.pid)
    if known is not None and holds_seat(known, now):
        return True
    seated = [p for p in state.participants.values() if p.pid != person.pid and holds_seat(p, now)]
    if person.role == HOST:
        return len(seated) < cap
    hosts = sum(1 for p in seated if p.role == HOST)
    return len(seated) < cap - max(0, min(host_seats, cap) - hosts)


def take_seat(state: RoomState, person: Participant, cap: int, host_seats: int) -> Participant | None:
    """arrive() within the room's cap; raises RoomFull when no seat is free."""
    if person.pid not in state.removed and not seat_free(state, person, cap, host_seats):
        raise RoomFull
    return arrive(state, person)


def set_connected(state: RoomState, pid: str, connected: bool) -> Participant | None:
    """Mark a websocket (dis)connect; a host's arrival lets the waiting room in."""
    person = state.participants.get(pid)
    if person is None:
        return None
    person.connected = connected
    person.seen_at = time.time()
    if connected and person.is_host and person.status == PRESENT:
        admit_waiting(state)
    return person


def admit_waiting(state: RoomState) -> list[str]:
    """Move everyone in the waiting room into the meeting."""
    moved = [p.pid for p in state.with_status(WAITING)]
    for pid in moved:
        state.participants[pid].status = PRESENT
    return moved


def leave(state: RoomState, pid: str) -> Participant | None:
    """Remove a person who left on purpose (or was removed)."""
    return state.participants.pop(pid, None)


def may_speak(state: RoomState, person: Participant) -> bool:
    """Whether a person may switch their own microphone on."""
    return person.is_host or person.floor or state.settings.get("guests_may_unmute", True)


def may_use_camera(state: RoomState, person: Participant) -> bool:
    """Whether a person may switch their own camera on."""
    return person.is_host or state.settings.get("guests_camera", True)
