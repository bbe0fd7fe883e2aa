"""API clients of external systems, their access tokens, and what the API keeps per meeting."""
from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from mvc.models.base import utcnow

API_ROLES = ("meeting-user", "meeting-planner", "meeting-admin", "meeting-provisioner")


class ApiClient(SQLModel, table=True):
    """A case system allowed to book through the API (OAuth2 client credentials)."""

    __tablename__ = "api_client"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    name: str = Field(max_length=120)
    client_id: str = Field(max_length=64, unique=True, index=True)
    # sha256 of a 256-bit random secret: no brute force can reach it, and the token endpoint stays cheap.
    secret_hash: str = Field(max_length=64)
    roles: str = Field(max_length=120)  # space-separated subset of API_ROLES (OAuth scope syntax)
    created_at: datetime = Field(default_factory=utcnow)
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def role_list(self) -> list[str]:
        """The client's roles."""
        return self.roles.split()

    # authlib's ClientMixin: the methods the authorization server calls.
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """Scope = roles; asking for nothing gets all the client's roles."""
        if not scope:
            return self.roles
        return " ".join(s for s in scope.split() if s in self.role_list())

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        from mvc.api.clients import secret_matches

        return self.active and secret_matches(self, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials" and self.active


class ApiToken(SQLModel, table=True):
    """An issued access token, kept only as a hash so a database leak gives no usable token."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    client_pk: int = Field(foreign_key="api_client.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    scope: str = Field(default="", max_length=120)
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class ApiMeeting(SQLModel, table=True):
    """What the VDX-shaped API keeps for one booked meeting beyond the booking itself."""

    __tablename__ = "api_meeting"
    __table_args__ = (
        UniqueConstraint("organisation_id", "external_id", name="uq_api_meeting_external_id"),
        UniqueConstraint("client_pk", "idempotency_key", name="uq_api_meeting_idempotency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", unique=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    uuid: str = Field(max_length=36, unique=True, index=True)
    client_pk: int | None = Field(default=None, foreign_key="api_client.id", index=True)  # None: booked on the pages
    external_id: str | None = Field(default=None, max_length=200)
    idempotency_key: str | None = Field(default=None, max_length=200)
    request_hash: str | None = Field(default=None, max_length=64)
    description: str = Field(default="", max_length=500)
    organized_by: str = Field(default="", max_length=254)
    created_by: str = Field(default="", max_length=254)
    updated_by: str = Field(default="", max_length=254)
    updated_at: datetime = Field(default_factory=utcnow)
    labels: str = Field(default="[]", max_length=4000)  # JSON list
    additional_information: str = Field(default="[]", max_length=8000)  # JSON list of {key, value}
    # VDX fields MVC stores and reports back without acting on them (JSON object).
    kept: str = Field(default="{}", max_length=4000)
