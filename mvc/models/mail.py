"""E-mails to invitees (kept in the outbox, sent by SMTP, or failed)."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow


class MailMessage(SQLModel, table=True):
    """One e-mail to one invitee: the words (never a meeting's title), how it went and why not."""

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    invitation_id: int | None = Field(default=None, foreign_key="invitation.id", index=True)
    purpose: str = Field(default="invite", max_length=12)  # invite | update | cancel
    to: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    body: str = Field(max_length=2000)
    backend: str = Field(default="outbox", max_length=10)
    status: str = Field(default="queued", max_length=12, index=True)  # queued | outbox | sent | failed
    error: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, index=True)
