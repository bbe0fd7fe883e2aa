"""Fixed rooms, meetings (occurrences, booked and instant) and invitations."""
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow

# The layouts, in the order pages offer them, with the label every page shows.
LAYOUT_LABELS = {
    "tiles": _l("Equal tiles"),
    "host_large": _l("Host large"),
    "host_only": _l("Participants see only the host"),
}
LAYOUTS = tuple(LAYOUT_LABELS)


class MeetingSettings(SQLModel):
    """Functions chosen before the meeting: a room's defaults, copied into each meeting, and
    the meeting's live settings (the host changes them during the meeting). Defaults live here only."""

    layout: str = Field(default="tiles", max_length=20)
    chat: bool = True
    hand_raise: bool = True
    waiting_room: bool = True
    guests_may_unmute: bool = True
    guests_camera: bool = True
    one_way_video: bool = False
    guests_may_share: bool = False
    allow_forward: bool = False

    def settings_dict(self) -> dict:
        """The settings as a plain dict (to seed live state)."""
        return {name: getattr(self, name) for name in MeetingSettings.model_fields}

    @classmethod
    def from_dict(cls, data: dict | None) -> "MeetingSettings":
        """Settings from a stored dict: unknown keys ignored, missing ones defaulted."""
        return cls(**{k: v for k, v in (data or {}).items() if k in MeetingSettings.model_fields})


class Room(MeetingSettings, table=True):
    """A fixed room (fast møderum): a permanent address with a host PIN."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    theme_id: int | None = Field(default=None, foreign_key="theme.id")
    alias: str = Field(max_length=60, unique=True, index=True)
    name: str = Field(max_length=120)
    host_pin: str = Field(max_length=12)
    guest_pin: str | None = Field(default=None, max_length=12)
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    training: bool = False  # team training (holdtræning): its meetings are their own kind in the statistics


OPEN_OCCURRENCE = "status = 'open' AND kind = 'room'"


class Meeting(MeetingSettings, table=True):
    """One meeting: an occurrence of a fixed room, or a booked / instant meeting."""

    # At most one open occurrence per fixed room, so people joining at the same moment
    # always meet in the same meeting.
    __table_args__ = (
        Index("uq_meeting_open_room", "room_id", unique=True,
              sqlite_where=text(OPEN_OCCURRENCE), postgresql_where=text(OPEN_OCCURRENCE)),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    room_id: int | None = Field(default=None, foreign_key="room.id", index=True)
    theme_id: int | None = Field(default=None, foreign_key="theme.id")
    kind: str = Field(default="room", max_length=10)  # room | booked | instant (SMS) | device | queue
    alias: str | None = Field(default=None, max_length=60, unique=True, index=True)
    title: str = Field(default="", max_length=200)
    host_pin: str | None = Field(default=None, max_length=12)
    guest_pin: str | None = Field(default=None, max_length=12)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: str = Field(default="open", max_length=12, index=True)  # open | ended | cancelled
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    reminders: bool = True  # SMS reminders before a booked meeting
    sequence: int = 0  # calendar SEQUENCE, bumped on each change of a booking


class Invitation(SQLModel, table=True):
    """One invitee of a meeting; their link carries a signed token naming this row."""

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    name: str = Field(default="", max_length=80)
    phone: str | None = Field(default=None, max_length=20)
    email: str | None = Field(default=None, max_length=254)
    role: str = Field(default="guest", max_length=10)
    forwarded_from_id: int | None = Field(default=None, foreign_key="invitation.id")
    reminder_opt_out: bool = False
    may_forward: bool = True  # the meeting's allow_forward decides; the API can say no for one invitee
    revoked: bool = False
    locale: str = Field(default="da", max_length=5)  # language of this invitee's texts
    created_at: datetime = Field(default_factory=utcnow)
