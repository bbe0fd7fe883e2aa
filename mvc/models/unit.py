"""Organisation units: named groups of staff (a clinic's doctors, a home-care team) that can serve a queue together."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow


class Unit(SQLModel, table=True):
    """A unit of an organisation; its members are UnitMember rows."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class UnitMember(SQLModel, table=True):
    """A staff member of a unit."""

    unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    user_id: int = Field(foreign_key="user.id", primary_key=True, index=True)
