"""Open video consultation hours: queues and the staff and units who serve them."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow
from mvc.models.room import MeetingSettings


class Queue(MeetingSettings, table=True):
    """A virtual waiting room at /q/<alias>; its meeting settings are used for every call it starts."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    alias: str = Field(max_length=60, unique=True, index=True)
    name: str = Field(max_length=120)
    welcome: str = Field(default="", max_length=500)
    guest_pin: str | None = Field(default=None, max_length=12)
    intake_question: str = Field(default="", max_length=200)  # empty = no intake question
    # Opening hours per weekday as JSON: {"0": ["08:00", "11:00"], ...} (0 = Monday; missing = closed).
    hours: str = Field(default="{}", max_length=400)
    closed_days: str = Field(default="", max_length=2000)  # ISO dates, one per line
    created_at: datetime = Field(default_factory=utcnow)


class QueueStaff(SQLModel, table=True):
    """A staff member who serves a queue."""

    queue_id: int = Field(foreign_key="queue.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)


class QueueUnit(SQLModel, table=True):
    """A unit whose members serve a queue."""

    queue_id: int = Field(foreign_key="queue.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True, index=True)
