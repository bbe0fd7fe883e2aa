"""Staff accounts."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow

ROLES = ("host", "org-admin", "support", "platform-admin")


class User(SQLModel, table=True):
    """A staff member; roles are a comma-separated subset of ROLES."""

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int | None = Field(default=None, foreign_key="organisation.id", index=True)
    email: str = Field(max_length=254, unique=True, index=True)
    name: str = Field(max_length=120)
    password_hash: str | None = Field(default=None, max_length=200)
    oidc_subject: str | None = Field(default=None, max_length=200, index=True)
    roles: str = Field(default="host", max_length=80)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)

    def has_role(self, role: str) -> bool:
        """True when the user holds the role."""
        return role in self.roles.split(",")
