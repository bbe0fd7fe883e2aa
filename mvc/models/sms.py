"""Text messages (sent or kept in the outbox) and the reminders due before booked meetings."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow

FINAL_STATES = ("delivered", "undelivered", "failed")


class SmsMessage(SQLModel, table=True):
    """One text to one number: what was sent, how, and how far it got."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id", index=True)
    reminder_id: int | None = Field(default=None, foreign_key="reminder.id", index=True)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    purpose: str = Field(default="invite", max_length=12)  # invite | update | cancel | reminder | forward
    to: str = Field(max_length=20)
    body: str = Field(max_length=480)
    sender: str = Field(default="", max_length=20)
    backend: str = Field(default="outbox", max_length=10)
    # queued | outbox | sent | delivered | undelivered | failed
    status: str = Field(default="queued", max_length=12, index=True)
    provider_sid: str | None = Field(default=None, max_length=64, unique=True, index=True)
    error_code: int | None = None
    error: str = Field(default="", max_length=200)
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class Reminder(SQLModel, table=True):
    """The one SMS reminder due for one invitation; claimed atomically so it goes out once."""

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    invitation_id: int = Field(foreign_key="invitation.id", unique=True)
    due_at: datetime = Field(index=True)
    claimed_at: datetime | None = None
    claimed_by: str | None = Field(default=None, max_length=40)
    sent_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=12)  # sent | skipped | failed
