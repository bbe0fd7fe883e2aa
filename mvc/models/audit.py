"""The audit log: who changed what in an organisation's management."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow


class AuditEntry(SQLModel, table=True):
    """One change made by a staff member (never holds passwords, PINs or images)."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user.id")
    user_email: str = Field(default="", max_length=254)  # kept readable after the user is gone
    action: str = Field(max_length=40)
    subject: str = Field(default="", max_length=200)
    detail: str = Field(default="", max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, index=True)
