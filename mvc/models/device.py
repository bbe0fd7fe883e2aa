"""Registered devices (a tablet at a citizen's home that only answers calls) and their calls."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow

FINAL_CALL_STATES = ("answered", "declined", "no_answer", "busy", "offline", "cancelled")


class Device(SQLModel, table=True):
    """One device of an organisation; its provisioning code and credential are stored hashed only."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=80)
    note: str = Field(default="", max_length=200)  # never health data (the form says so)
    auto_answer: bool = False
    code_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    code_expires_at: datetime | None = None
    credential_hash: str | None = Field(default=None, max_length=64, unique=True, index=True)
    bound_at: datetime | None = None
    online: bool = False  # a device socket is open (with last_seen_at recent)
    last_seen_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)


class DeviceCall(SQLModel, table=True):
    """One call of a device into a meeting: rung now, or scheduled for a booking's start (claimed once)."""

    id: int | None = Field(default=None, primary_key=True)
    device_id: int = Field(foreign_key="device.id", index=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id")
    # scheduled | ringing | answered | declined | no_answer | busy | offline | cancelled
    status: str = Field(default="ringing", max_length=12, index=True)
    due_at: datetime | None = Field(default=None, index=True)  # for a booking: when to ring
    claimed_at: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=40)
    rang_at: datetime | None = None
    answered_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
