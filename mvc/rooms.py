"""Finding rooms and meetings by address, and opening a fixed room's current meeting."""
from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mvc.models import Meeting, Organisation, Room, Theme
from mvc.models.base import utcnow

ALIAS_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,59}$")
EARLY_ADMIT = timedelta(minutes=15)  # booked meetings open this long before their start
NAME_MAX = 60


@dataclass
class Target:
    """What an address (alias) leads to."""

    alias: str
    organisation: Organisation
    room: Room | None
    meeting: Meeting | None  # set for booked/instant meetings; for rooms: the open occurrence, if any

    @property
    def host_pin(self) -> str | None:
        return self.meeting.host_pin if self.meeting and self.meeting.kind != "room" else self.room.host_pin

    @property
    def guest_pin(self) -> str | None:
        return self.meeting.guest_pin if self.meeting and self.meeting.kind != "room" else self.room.guest_pin

    @property
    def name(self) -> str:
        """What citizens see as the meeting's name: a booking's own title may carry health
        information (it is for staff lists only), so citizens see the organisation."""
        if self.meeting is not None and self.meeting.kind != "room":
            return self.organisation.name
        return self.room.name

    @property
    def settings(self) -> dict:
        source = self.meeting if self.meeting is not None else self.room
        return source.settings_dict()

    @property
    def theme_id(self) -> int | None:
        source = self.meeting if self.meeting is not None and self.meeting.kind != "room" else self.room
        return source.theme_id or self.organisation.default_theme_id


def resolve(db: Session, alias: str) -> Target | None:
    """The room or meeting at an address, or None."""
    alias = alias.lower()
    if not ALIAS_RE.match(alias):
        return None
    meeting = db.exec(select(Meeting).where(Meeting.alias == alias)).first()
    if meeting is not None:
        room = db.get(Room, meeting.room_id) if meeting.room_id else None
        return Target(alias, db.get(Organisation, meeting.organisation_id), room, meeting)
    room = db.exec(select(Room).where(Room.alias == alias)).first()
    if room is None:
        return None
    occurrence = db.exec(
        select(Meeting).where(Meeting.room_id == room.id, Meeting.kind == "room", Meeting.status == "open")
    ).first()
    return Target(alias, db.get(Organisation, room.organisation_id), room, occurrence)


def alias_taken(db: Session, alias: str, room_id: int | None = None) -> bool:
    """True when a room (other than room_id) or a meeting already uses the address: both share one namespace."""
    room = db.exec(select(Room.id).where(Room.alias == alias)).first()
    meeting = db.exec(select(Meeting.id).where(Meeting.alias == alias)).first()
    return meeting is not None or (room is not None and room != room_id)


def window_state(meeting: Meeting | None, now: datetime | None = None) -> str:
    """'open', 'early', 'over' or 'cancelled' for the admission window of a meeting."""
    if meeting is None:
        return "open"
    if meeting.status == "cancelled":
        return "cancelled"
    if meeting.kind == "room":
        return "open"
    if meeting.status == "ended":
        return "over"
    now = now or utcnow()
    if meeting.starts_at and now < meeting.starts_at - EARLY_ADMIT:
        return "early"
    if meeting.ends_at and now > meeting.ends_at:
        return "over"
    return "open"


def open_meeting(db: Session, target: Target) -> Meeting:
    """The meeting people join at this address, opening a fixed room's occurrence when needed."""
    if target.meeting is not None:
        return target.meeting
    room = target.room
    meeting = Meeting(
        organisation_id=room.organisation_id, room_id=room.id, theme_id=room.theme_id, kind="room",
        title=room.name, **room.settings_dict(),
    )
    db.add(meeting)
    try:
        db.commit()
    except IntegrityError:
        # Someone else opened the room a moment ago: join their occurrence.
        db.rollback()
        meeting = db.exec(
            select(Meeting).where(Meeting.room_id == room.id, Meeting.kind == "room", Meeting.status == "open")
        ).one()
    target.meeting = meeting
    return meeting


def end_meeting(db: Session, meeting: Meeting) -> None:
    """Mark a meeting ended (a fixed room then opens a fresh occurrence next time)."""
    from mvc.api import webhooks

    meeting.status = "ended"
    meeting.ended_at = utcnow()
    db.add(meeting)
    webhooks.meeting_ended(db, meeting)  # webhooks: in the same transaction
    db.commit()


def theme_for(db: Session, theme_id: int | None) -> Theme:
    """The theme by id, else the neutral default theme."""
    theme = db.get(Theme, theme_id) if theme_id else None
    if theme is None:
        theme = db.exec(select(Theme).where(Theme.organisation_id == None)).first()  # noqa: E711
    return theme or Theme(name="Neutral")


def clean_name(raw: str) -> tuple[str | None, str | None]:
    """(name, None) for a usable display name, else (None, error key)."""
    if raw is None:
        return None, "name_missing"
    if len(raw) > 500:
        return None, "name_long"
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} for ch in raw):
        return None, "name_chars"
    name = " ".join(raw.split())
    if not name:
        return None, "name_missing"
    if len(name) > NAME_MAX:
        return None, "name_long"
    return name, None


def new_pin(digits: int = 6) -> str:
    """A random numeric PIN."""
    return "".join(secrets.choice("0123456789") for _ in range(digits))
