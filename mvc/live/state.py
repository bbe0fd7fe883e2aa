"""Live room state as plain data, and the pure rules that change it.

Nothing here does I/O: the store backends (SQLite, Redis) load a RoomState, hand it to
these functions inside an atomic update, and save it again.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields

from mvc.models.room import MeetingSettings

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
    socket: str | None = None  # the newest websocket's id: only its close marks the person gone
    mic: bool = True
    cam: bool = True
    hand: float | None = None
    floor: bool = False  # given the word: may speak even when guests are kept muted
    speak_prompt: bool = False  # given the word with the mic off: their page asks them to switch it on
    chat_host: bool = False  # may read and answer chat as the host does
    screen: bool = False
    group: str | None = None  # breakout room name, None = main room
    invitation_id: int | None = None
    no_media: bool = False  # the browser cannot do WebRTC: present without sound or picture

    device: str | None = None  # the browser's long-lived device id (join page cookie)
    removed_earlier: bool = False  # came back after being removed: knocks, the host decides
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

    @classmethod
    def from_dict(cls, data: dict) -> "Participant":
        """Inverse of asdict, ignoring keys this version does not know."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Removal:
    """Someone removed or turned away: what recognises them if they come back."""

    pid: str
    invitation_id: int | None = None
    device: str | None = None

    def matches(self, person: Participant) -> bool:
        """Same participant, same invitation or same browser."""
        return (person.pid == self.pid
                or (self.invitation_id is not None and person.invitation_id == self.invitation_id)
                or (self.device is not None and person.device == self.device))

    @classmethod
    def from_json(cls, data) -> "Removal":
        """From its dict form (or a bare pid, as older states stored it)."""
        if isinstance(data, str):
            return cls(pid=data)
        return cls(pid=data["pid"], invitation_id=data.get("invitation_id"), device=data.get("device"))


@dataclass
class RoomState:
    """Everything about one meeting that lives only while it runs."""

    meeting_id: int
    settings: MeetingSettings = field(default_factory=MeetingSettings)
    participants: dict[str, Participant] = field(default_factory=dict)
    locked: bool = False
    ended: bool = False
    breakout_closing_at: float | None = None
    removed: list[Removal] = field(default_factory=list)  # people turned away or removed: they knock if they return
    version: int = 0

    def __post_init__(self) -> None:
        # Backends create a fresh state from the meeting's settings as a plain dict.
        if not isinstance(self.settings, MeetingSettings):
            self.settings = MeetingSettings.from_dict(self.settings)

    def to_dict(self) -> dict:
        """JSON-ready form, for the Redis backend and snapshots."""
        return {
            "meeting_id": self.meeting_id,
            "settings": self.settings.model_dump(),
            "participants": {pid: asdict(p) for pid, p in self.participants.items()},
            "locked": self.locked,
            "ended": self.ended,
            "breakout_closing_at": self.breakout_closing_at,
            "removed": [asdict(r) for r in self.removed],
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "RoomState":
        """Inverse of to_dict (also reads states written before settings and removals were typed)."""
        people = {pid: Participant.from_dict(p) for pid, p in data.get("participants", {}).items()}
        return cls(
            meeting_id=data["meeting_id"],
            settings=MeetingSettings.from_dict(data.get("settings")),
            participants=people,
            locked=data.get("locked", False),
            ended=data.get("ended", False),
            breakout_closing_at=data.get("breakout_closing_at"),
            removed=[Removal.from_json(r) for r in data.get("removed", [])],
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

    def was_removed(self, person: Participant) -> bool:
        """Whether this person (by pid, invitation or browser) was removed from the meeting."""
        return any(r.matches(person) for r in self.removed)


def arrive(state: RoomState, person: Participant, returning: bool = True) -> Participant | None:
    """Place a (re)arriving person: present, waiting or knocking.

    Someone removed earlier knocks, marked, whatever link or cookie they come with. The removed
    page itself only knocks when opened again (returning=True); its socket reconnecting under
    the removed pid gets None and stays out.
    """
    known = state.participants.get(person.pid)
    if known is not None:
        known.seen_at = time.time()
        return known
    if person.role != HOST and state.was_removed(person):
        if not returning and any(r.pid == person.pid for r in state.removed):
            return None
        person.removed_earlier = True
    if person.role == HOST:
        person.status = PRESENT
    elif state.locked or person.removed_earlier:
        person.status = KNOCKING
    elif state.settings.waiting_room and not state.host_present:
        person.status = WAITING
    else:
        person.status = PRESENT
    if not may_speak(state, person):
        person.mic = False
    if not may_use_camera(state, person):
        person.cam = False
    state.participants[person.pid] = person
    return person


def send_away(state: RoomState, person: Participant) -> None:
    """Remove or turn away a person; they knock, marked, if they come back."""
    state.participants.pop(person.pid, None)
    removal = Removal(person.pid, person.invitation_id, person.device)
    if removal not in state.removed:
        state.removed.append(removal)


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


def take_seat(state: RoomState, person: Participant, cap: int, host_seats: int,
              returning: bool = True) -> Participant | None:
    """arrive() within the room's cap; raises RoomFull when no seat is free."""
    removed_page = any(r.pid == person.pid for r in state.removed)  # gets the removed view, not "full"
    if not removed_page and not seat_free(state, person, cap, host_seats):
        raise RoomFull
    return arrive(state, person, returning)


def set_connected(state: RoomState, pid: str, connected: bool, socket: str | None = None) -> Participant | None:
    """Mark a websocket (dis)connect; a host's arrival lets the waiting room in.

    A page that reconnects opens its new socket before the old one's close is handled: the
    close of a socket other than the newest (by `socket` id) changes nothing.
    """
    person = state.participants.get(pid)
    if person is None:
        return None
    if not connected and socket is not None and person.socket not in (None, socket):
        return person
    person.connected = connected
    person.socket = socket if connected else None
    person.seen_at = time.time()
    if connected and person.is_host and person.status == PRESENT:
        admit_waiting(state)
    return person


def disconnect_all(state: RoomState) -> None:
    """Mark every participant disconnected: their sockets went with the web process that held them."""
    for person in state.participants.values():
        person.connected = False
        person.socket = None


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
    return person.is_host or person.floor or state.settings.guests_may_unmute


def may_use_camera(state: RoomState, person: Participant) -> bool:
    """Whether a person may switch their own camera on."""
    return person.is_host or state.settings.guests_camera


def chat_allowed(state: RoomState, person: Participant) -> bool:
    """Whether a person may read and write chat now."""
    return state.settings.chat or person.is_host or person.chat_host


def give_floor(state: RoomState, person: Participant) -> None:
    """Give the word. Only someone who raised their hand asked to speak, so only their microphone
    is switched on; anyone else may now speak and is asked, in their page, to switch it on."""
    for p in state.present():
        p.floor = False
        p.speak_prompt = False
    person.floor = True
    if person.hand is not None:
        person.mic = True
    elif not person.mic:
        person.speak_prompt = True
    person.hand = None


def set_own_mic(person: Participant, on: bool) -> None:
    """A participant switches their own microphone (the only way a mic goes on, but for a raised hand's floor)."""
    person.mic = on
    person.speak_prompt = False
